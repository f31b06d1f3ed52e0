"""Review mode: one trace at a time, claimed, with the keyboard."""

import threading
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.utils import timezone

from feedback_loop import record_trace
from feedback_loop.admin import claims
from feedback_loop.models import (
    Dataset,
    Review,
)
from tests.curation import ADMIN, add, page, run
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

# -- review mode -------------------------------------------------------------------------------


def staff_client(name):
    client = Client()
    client.force_login(UserFactory(username=name, is_staff=True, is_superuser=True))
    return client


def shown(response):
    return response.context["review"].trace.key if response.context["review"] else None


def test_review_mode_walks_the_queue_and_two_reviewers_never_share_a_trace(queue):
    ann, bob = staff_client("ann"), staff_client("bob")
    first = shown(ann.get(f"{ADMIN}/trace/review/"))
    second = shown(bob.get(f"{ADMIN}/trace/review/"))
    assert {first, second} == {"bad", "long"}
    # Reloading keeps one's own claim.
    assert shown(ann.get(f"{ADMIN}/trace/review/")) == first
    # Bob cannot take Ann's trace by its link either.
    review = Review.objects.get(trace__key=first)
    response = bob.get(f"{ADMIN}/trace/review/", {"review": review.pk})
    assert shown(response) == second
    assert "Another reviewer has that trace now" in page(response)


def test_confirming_in_review_mode_saves_and_moves_on(queue):
    ann = staff_client("ann")
    response = ann.get(f"{ADMIN}/trace/review/")
    text = page(response)
    assert "<kbd>1</kbd>" in text and "Keys: 1-9 toggle an error mode" in text
    review = response.context["review"]
    mode = review.trace.suggested_error_modes.first()
    done = ann.post(
        f"{ADMIN}/trace/review/",
        {
            "review": review.pk,
            "do": "confirm",
            "status": "reviewed",
            "error_modes": [mode.pk],
            "expected_output": "fixed",
            "notes": "",
        },
    )
    assert done.status_code == 302
    review.refresh_from_db()
    assert (review.status, review.expected_output, review.claimed_by) == ("reviewed", "fixed", None)
    nxt = ann.get(done["Location"])
    assert shown(nxt) not in (None, review.trace.key)
    assert nxt.context["previous_url"].endswith(f"review={review.pk}")
    assert nxt.context["remaining"] == 1


def test_dismiss_skip_and_an_empty_queue(queue):
    ann = staff_client("ann")
    first = ann.get(f"{ADMIN}/trace/review/").context["review"]
    ann.post(f"{ADMIN}/trace/review/", {"review": first.pk, "do": "skip"})
    second = ann.get(f"{ADMIN}/trace/review/").context["review"]
    assert second.pk != first.pk
    ann.post(
        f"{ADMIN}/trace/review/",
        {"review": second.pk, "do": "dismiss", "status": "reviewed", "expected_output": ""},
    )
    assert Review.objects.get(pk=second.pk).status == "dismissed"
    third = ann.get(f"{ADMIN}/trace/review/").context["review"]
    assert third.pk == first.pk  # the skipped one comes back when nothing else is left
    ann.post(
        f"{ADMIN}/trace/review/",
        {"review": third.pk, "do": "confirm", "status": "reviewed", "expected_output": ""},
    )
    assert "The queue is empty" in page(ann.get(f"{ADMIN}/trace/review/"))


def test_add_to_dataset_from_review_mode(queue):
    dataset = Dataset.objects.create(project=queue, name="Regressions")
    ann = staff_client("ann")
    review = ann.get(f"{ADMIN}/trace/review/").context["review"]
    response = ann.post(
        f"{ADMIN}/trace/review/", {"review": review.pk, "do": "dataset", "dataset": dataset.pk}
    )
    assert response["Location"].endswith(f"review={review.pk}")
    assert dataset.items.get().trace == review.trace
    message = [str(m) for m in get_messages(response.wsgi_request)]
    assert message == ["Added to “Regressions”."]


def test_an_expired_claim_frees_the_trace(queue):
    ann, bob = (UserFactory(username=n, is_staff=True, is_superuser=True) for n in ("ann", "bob"))
    got = claims.claim_next(ann)
    Review.objects.filter(pk=got.pk).update(claimed_until=timezone.now() - timedelta(seconds=1))
    assert claims.claim_next(bob, skip=[r.pk for r in Review.objects.exclude(pk=got.pk)]) == got


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_reviewers_claiming_at_the_same_moment_get_different_traces(project):
    for i in range(12):
        record_trace(project, f"t{i}", input="q", output="a")
        add(project, f"t{i}", value=-1)
    run(project)
    users = [UserFactory(username=f"r{i}", is_staff=True, is_superuser=True) for i in range(6)]
    got, barrier = {}, threading.Barrier(len(users))

    def claim(user):
        barrier.wait()
        review = claims.claim_next(user)
        got[user.username] = review.pk if review else None
        connection.close()

    threads = [threading.Thread(target=claim, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert None not in got.values() and len(set(got.values())) == len(users)


def test_review_mode_goes_back_to_a_skipped_trace_and_says_what_it_saved(queue):
    ann = staff_client("ann")
    first = ann.get(f"{ADMIN}/trace/review/").context["review"]
    ann.post(f"{ADMIN}/trace/review/", {"review": first.pk, "do": "skip"})
    second = ann.get(f"{ADMIN}/trace/review/")
    # "k" (Previous) goes back to the trace just skipped.
    assert second.context["previous_url"].endswith(f"review={first.pk}")
    back = ann.get(second.context["previous_url"])
    assert back.context["review"].pk == first.pk

    # Confirming says so, with the error modes.
    review = back.context["review"]
    mode = review.trace.suggested_error_modes.first()
    done = ann.post(
        f"{ADMIN}/trace/review/",
        {"review": review.pk, "do": "confirm", "status": "reviewed", "error_modes": [mode.pk]},
    )
    said = [str(m) for m in get_messages(done.wsgi_request)]
    assert said == [f"Confirmed trace {review.trace.key} as reviewed, with {mode.name}."]


def test_dismissing_unticks_the_error_modes(queue, admin_client):
    ann = staff_client("ann")
    review = ann.get(f"{ADMIN}/trace/review/").context["review"]
    modes = list(review.trace.suggested_error_modes.values_list("pk", flat=True))
    assert modes  # ticked for the reviewer
    done = ann.post(
        f"{ADMIN}/trace/review/",
        {"review": review.pk, "do": "dismiss", "status": "reviewed", "error_modes": modes},
    )
    review.refresh_from_db()
    assert review.status == "dismissed" and not review.error_modes.exists()
    said = [str(m) for m in get_messages(done.wsgi_request)]
    assert said == [f"Dismissed trace {review.trace.key}."]
