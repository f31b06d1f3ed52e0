"""Several reviewers per trace: review mode hands a trace to N different reviewers, hides the
earlier verdicts until each has answered, and settles the review by the majority."""

import pytest

from feedback_loop.internal import verdicts
from feedback_loop.models import ErrorMode, Review, ReviewStatus, Verdict
from tests.curation import ADMIN, page
from tests.test_admin_review_mode import shown, staff_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_reviewers(queue):
    queue.reviews_per_trace = 3
    queue.save()
    return queue


def answer(client, review, *, modes=(), do="confirm", expected="", notes=""):
    response = client.post(
        f"{ADMIN}/trace/review/",
        {
            "review": review.pk,
            "do": do,
            "status": "reviewed",
            "error_modes": [m.pk for m in modes],
            "expected_output": expected,
            "notes": notes,
        },
    )
    assert response.status_code == 302
    return response


def mode(slug):
    return ErrorMode.objects.get(slug=slug, project__isnull=True)


def test_each_reviewer_gets_the_trace_once_and_it_stays_pending_until_all_answered(
    three_reviewers,
):
    bad = Review.objects.get(trace__key="bad")
    ann, bob, cy, dee = (staff_client(n) for n in ("ann", "bob", "cy", "dee"))
    first = ann.get(f"{ADMIN}/trace/review/", {"review": bad.pk})
    assert "This trace needs 3 reviewers' verdicts; 0 answered." in page(first)
    answer(ann, bad, modes=[mode("hallucination")], expected="Shakespeare.", notes="made up")
    bad.refresh_from_db()
    assert bad.status == ReviewStatus.PENDING and bad.claimed_by is None
    # Ann is not handed it again; her queue moves on and then empties.
    assert shown(ann.get(f"{ADMIN}/trace/review/")) == "long"
    # Bob is handed it (the newest signal is on "long": ask for "bad" by its link), and is
    # told one reviewer answered, without seeing what she said.
    second = page(bob.get(f"{ADMIN}/trace/review/", {"review": bad.pk}))
    assert "1 answered" in second and "made up" not in second
    trace_page = page(bob.get(f"{ADMIN}/trace/{bad.trace_id}/change/"))
    assert "1 reviewer has answered; their verdict shows once you answer" in trace_page
    assert "made up" not in trace_page
    answer(bob, bad, do="dismiss")
    # Once he answered, Bob sees Ann's verdict.
    trace_page = page(bob.get(f"{ADMIN}/trace/{bad.trace_id}/change/"))
    assert "made up" in trace_page and "Hallucination" in trace_page
    bad.refresh_from_db()
    assert bad.status == ReviewStatus.PENDING
    done = answer(cy, bad, modes=[mode("hallucination"), mode("format")], notes="also format")
    bad.refresh_from_db()
    # Two of three named hallucination; format by one of three is not confirmed.
    assert bad.status == ReviewStatus.REVIEWED
    assert [m.slug for m in bad.error_modes.all()] == ["hallucination"]
    assert bad.expected_output == "Shakespeare."
    assert bad.notes == "ann: made up\ncy: also format"
    said = page(cy.get(done["Location"]))
    assert "All 3 reviewers answered; the review says: reviewed (Hallucination)." in said
    assert "ann reviewed (Hallucination); bob dismissed" in said
    # Settled: it leaves everyone's queue, and a fourth reviewer sees all three verdicts.
    # ("long" is Ann's claim since she was shown it.)
    assert shown(dee.get(f"{ADMIN}/trace/review/")) is None
    assert page(dee.get(f"{ADMIN}/trace/{bad.trace_id}/change/")).count("<tr>") >= 4
    assert Verdict.objects.filter(review=bad).count() == 3


def test_a_majority_of_dismissals_dismisses_and_a_tie_leans_to_reviewed(three_reviewers):
    bad = Review.objects.get(trace__key="bad")
    for name, do in (("ann", "dismiss"), ("bob", "confirm"), ("cy", "dismiss")):
        answer(staff_client(name), bad, do=do)
    bad.refresh_from_db()
    assert bad.status == ReviewStatus.DISMISSED and not bad.error_modes.exists()

    three_reviewers.reviews_per_trace = 2
    three_reviewers.save()
    long = Review.objects.get(trace__key="long")
    answer(staff_client("dee"), long, do="dismiss")
    answer(staff_client("eve"), long, modes=[mode("length")])
    long.refresh_from_db()
    # One of two named "length": half is enough to confirm it.
    assert long.status == ReviewStatus.REVIEWED
    assert [m.slug for m in long.error_modes.all()] == ["length"]


def test_answering_again_replaces_ones_own_verdict(three_reviewers):
    bad = Review.objects.get(trace__key="bad")
    ann = staff_client("ann")
    answer(ann, bad, do="dismiss")
    answer(ann, bad, modes=[mode("hallucination")])
    mine = Verdict.objects.get(review=bad)
    assert mine.status == ReviewStatus.REVIEWED
    assert [m.slug for m in mine.error_modes.all()] == ["hallucination"]


def test_one_reviewer_per_trace_settles_at_once_and_keeps_the_verdict(queue):
    bad = Review.objects.get(trace__key="bad")
    answer(staff_client("ann"), bad, modes=[mode("hallucination")], expected="Shakespeare.")
    bad.refresh_from_db()
    assert (bad.status, bad.expected_output) == (ReviewStatus.REVIEWED, "Shakespeare.")
    assert Verdict.objects.get(review=bad).reviewer.username == "ann"


def test_majority_counts_each_mode_against_the_reviewers_asked_for():
    class V:
        def __init__(self, status, *modes):
            self.status, self._modes = status, modes

        @property
        def error_modes(self):
            return self

        def all(self):
            return self._modes

    class M:
        def __init__(self, pk):
            self.pk = pk

    fmt, length = M(1), M(2)
    reviewed, dismissed = ReviewStatus.REVIEWED, ReviewStatus.DISMISSED
    status, modes = verdicts.majority([V(reviewed, fmt), V(reviewed, fmt, length), V(dismissed)], 3)
    assert (status, [m.pk for m in modes]) == (reviewed, [1])
    # Reviewed with different modes, none named by half: reviewed with no mode.
    status, modes = verdicts.majority(
        [V(reviewed, fmt), V(reviewed, length), V(dismissed), V(dismissed), V(reviewed)], 5
    )
    assert (status, modes) == (reviewed, [])
    assert verdicts.majority([V(dismissed), V(dismissed), V(reviewed)], 3) == (dismissed, [])
