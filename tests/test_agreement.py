"""Agreement (internal/agreement.py): users vs reviewers, overall, per reviewer and per error
mode; triage vs reviewers; the queue's disagreements filter; the dashboard; GET stats/agreement.

The known set, ten judged traces of one project (user verdict / reviewer verdict):

    t1 t2 t3 t4   negative / reviewed with an error mode   (bad, bad)
    t5 t6 t7      positive / dismissed                     (fine, fine)
    t8 t9         negative / dismissed                     (bad, fine)   disagree
    t10           positive / reviewed with an error mode   (fine, bad)   disagree

agreement 7/10. Users say bad 6 times, reviewers 5: chance agreement
pe = (6*5 + 4*5) / 10**2 = 0.5, so kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4.
"""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from feedback_loop.internal import agreement
from feedback_loop.models import (
    ErrorMode,
    FeedbackEvent,
    Project,
    ReviewStatus,
    Trace,
    TraceScore,
    Verdict,
)
from tests.conftest import Api
from tests.curation import ADMIN, listed, page
from tests.factories import ReviewFactory, TraceFactory, UserFactory

pytestmark = pytest.mark.django_db

NEG, POS, MIXED = "negative", "positive", "mixed"
REVIEWED, DISMISSED, PENDING = ReviewStatus.REVIEWED, ReviewStatus.DISMISSED, ReviewStatus.PENDING


def mode(slug):
    return ErrorMode.objects.get(project=None, slug=slug)


def judged(project, key, sentiment, status, modes=(), *, reviewer=None, suggested=(), days=0):
    at = timezone.now() - timedelta(days=days, minutes=5)
    trace = TraceFactory(project=project, key=key, sentiment=sentiment, last_signal_at=at)
    trace.suggested_error_modes.set([mode(s) for s in suggested])
    if status is not None:
        review = ReviewFactory(trace=trace, status=status, reviewer=reviewer)
        review.error_modes.set([mode(s) for s in modes])
    return trace


def vote(trace, value, reasons=(), *, voter="u1", minutes=10):
    FeedbackEvent.objects.create(
        project=trace.project,
        event_id=uuid.uuid4(),
        trace_key=trace.key,
        kind="thumbs",
        value=value,
        reasons=list(reasons),
        user_id=voter,
        timestamp=timezone.now() - timedelta(minutes=minutes),
    )


@pytest.fixture
def known(project):
    alice = UserFactory(username="alice", is_staff=True)
    bob = UserFactory(username="bob", is_staff=True)
    # Traces without a review first: trace and review ids differ (a query that mixes them up
    # finds other traces' modes).
    for n in range(3):
        TraceFactory(project=project, key=f"unreviewed-{n}")
    H, F = "hallucination", "format"
    t = {
        # Alice: 3 (bad, bad), 2 (fine, fine), 1 (bad, fine).
        "t1": judged(project, "t1", NEG, REVIEWED, [H], reviewer=alice, suggested=[H]),
        "t2": judged(project, "t2", NEG, REVIEWED, [H], reviewer=alice, suggested=[H, F]),
        "t3": judged(project, "t3", NEG, REVIEWED, [H, F], reviewer=alice, suggested=[F]),
        "t5": judged(project, "t5", POS, DISMISSED, reviewer=alice),
        "t6": judged(project, "t6", POS, DISMISSED, reviewer=alice),
        "t8": judged(project, "t8", NEG, DISMISSED, reviewer=alice, suggested=[H]),
        # Bob: one of each cell.
        "t4": judged(project, "t4", NEG, REVIEWED, [F, "length"], reviewer=bob),
        "t7": judged(project, "t7", POS, DISMISSED, reviewer=bob),
        "t9": judged(project, "t9", NEG, DISMISSED, reviewer=bob),
        "t10": judged(project, "t10", POS, REVIEWED, [H], reviewer=bob, suggested=["length"]),
        # Left out of users vs reviewers: a mixed verdict (triaged, though), a review with no
        # error mode, a pending review, and a trace whose last signal is before the window.
        "t11": judged(project, "t11", MIXED, REVIEWED, ["refusal"], suggested=["refusal"]),
        "t12": judged(project, "t12", NEG, REVIEWED, reviewer=bob),
        "t13": judged(project, "t13", NEG, PENDING, suggested=[H]),
        "t14": judged(project, "t14", NEG, REVIEWED, [H], reviewer=bob, days=40),
    }
    # The users' reasons: those of current negative votes only.
    vote(t["t1"], -1, [H])
    vote(t["t2"], -1, ["refusal"], voter="u2", minutes=20)  # replaced by u2's next vote
    vote(t["t2"], -1, [F], voter="u2")
    vote(t["t3"], -1, [H])
    vote(t["t4"], -1)  # no reason: t4 is left out of the per-mode tables
    vote(t["t5"], 1, [F])  # a reason on a thumbs up is no error mode
    vote(t["t8"], -1, [H])
    vote(t["t9"], -1)
    return t


def test_users_vs_reviewers_overall(known):
    figures = agreement.figures(_window())

    overall = figures.users
    assert (overall.n, overall.agree) == (10, 7)
    assert overall.table == {("bad", "bad"): 4, ("fine", "fine"): 3, ("bad", "fine"): 2,
                             ("fine", "bad"): 1}  # fmt: skip
    assert overall.kappa == pytest.approx(0.4)
    assert figures.unclear == 1  # t12: reviewed with no error mode


def test_users_vs_reviewers_per_reviewer(known):
    rows = {row.label: row for row in agreement.figures(_window()).by_reviewer}

    assert set(rows) == {"alice", "bob"}
    # Alice: users bad 4 fine 2, she bad 3 fine 3: pe = (4*3 + 2*3) / 36 = 0.5,
    # po = 5/6, kappa = (5/6 - 1/2) / (1/2) = 2/3.
    assert (rows["alice"].n, rows["alice"].agree) == (6, 5)
    assert rows["alice"].kappa == pytest.approx(2 / 3)
    assert rows["alice"].enough
    # Bob: one trace per cell: po = 0.5 = pe, kappa 0; four traces are not enough.
    assert (rows["bob"].n, rows["bob"].agree) == (4, 2)
    assert rows["bob"].kappa == pytest.approx(0.0)
    assert not rows["bob"].enough


def test_users_reasons_vs_reviewers_modes(known):
    """Eight traces: t1 t2 t3 t8 (negative, with reasons) and t5 t6 t7 t10 (positive: no mode);
    t4 and t9 are negative without a reason.

    hallucination, (user, reviewer): t1 yes/yes, t2 no/yes, t3 yes/yes, t8 yes/no, t10 no/yes,
    t5-t7 no/no: agree 5/8; users yes 3 no 5, reviewers yes 4 no 4: pe = (3*4 + 5*4)/64 = 0.5,
    kappa = (5/8 - 1/2) / (1/2) = 0.25.
    format: t2 yes/no, t3 no/yes, six no/no: agree 6/8; pe = (1*1 + 7*7)/64 = 50/64,
    kappa = (48/64 - 50/64) / (14/64) = -1/7."""
    rows = {row.label: row for row in agreement.figures(_window()).by_error_mode}

    assert set(rows) == {"hallucination", "format"}  # not refusal (replaced), not length (t4)
    assert (rows["hallucination"].n, rows["hallucination"].agree) == (8, 5)
    assert rows["hallucination"].kappa == pytest.approx(0.25)
    assert (rows["format"].n, rows["format"].agree) == (8, 6)
    assert rows["format"].kappa == pytest.approx(-1 / 7)


def test_triage_vs_reviewers(known):
    """The triaged (negative or mixed) traces with a reviewer verdict: t1-t4, t8, t9, t11.

    suggested -> confirmed: t1 {H} -> {H}; t2 {H, F} -> {H}; t3 {F} -> {H, F}; t4 {} -> {F, L};
    t8 {H} -> {}; t9 {} -> {}; t11 {R} -> {R}. (t10 is positive, t13 pending: left out.)
    hallucination: suggested 3, confirmed 3, both 2: precision 2/3, recall 2/3.
    format: 2, 2, 1: 1/2, 1/2. length: 0, 1, 0: precision none, recall 0. refusal: 1, 1, 1.
    micro: suggested 6, confirmed 7, both 4: precision 4/6, recall 4/7."""
    figures = agreement.figures(_window())
    rows = {row.label: row for row in figures.triage_by_error_mode}

    assert {k: (r.suggested, r.confirmed, r.both) for k, r in rows.items()} == {
        "hallucination": (3, 3, 2),
        "format": (2, 2, 1),
        "length": (0, 1, 0),
        "refusal": (1, 1, 1),
    }
    assert rows["hallucination"].precision == pytest.approx(2 / 3)
    assert rows["format"].recall == pytest.approx(1 / 2)
    assert rows["length"].precision is None and rows["length"].recall == 0
    assert (figures.triage.suggested, figures.triage.confirmed, figures.triage.both) == (6, 7, 4)
    assert figures.triage.precision == pytest.approx(4 / 6)
    assert figures.triage.recall == pytest.approx(4 / 7)


@pytest.fixture
def several(project):
    """Traces answered by several reviewers (Verdicts), in review mode's sense:

        r1  ann bad(H)  bob bad(H)                 agree; H: yes yes
        r2  ann bad(H)  bob fine                   disagree; H: yes no
        r3  ann fine    bob fine    cy fine        3 pairs agree; H: no no no
        r4  ann bad(F)  bob bad(H)                 agree; H: no yes, F: yes no
        r5  ann bad(H)  bob reviewed, no mode      bob's says nothing: one verdict left
        r6  ann fine                               one verdict

    Overall pairs 6, agreeing 5. Fleiss: P_i 1, 0, 1, 1 (mean 3/4); labels bad 5, fine 4 of 9:
    Pe = 41/81; kappa = (3/4 - 41/81) / (40/81) = 79/160. H: pairs 6, agreeing 1 + 0 + 3 + 0."""
    people = {name: UserFactory(username=name, is_staff=True) for name in ("ann", "bob", "cy")}
    H, F = mode("hallucination"), mode("format")
    plan = {
        "r1": [("ann", REVIEWED, [H]), ("bob", REVIEWED, [H])],
        "r2": [("ann", REVIEWED, [H]), ("bob", DISMISSED, [])],
        "r3": [("ann", DISMISSED, []), ("bob", DISMISSED, []), ("cy", DISMISSED, [])],
        "r4": [("ann", REVIEWED, [F]), ("bob", REVIEWED, [H])],
        "r5": [("ann", REVIEWED, [H]), ("bob", REVIEWED, [])],
        "r6": [("ann", DISMISSED, [])],
    }
    for key, answers in plan.items():
        trace = judged(project, key, NEG, PENDING)
        for name, status, modes in answers:
            verdict = Verdict.objects.create(
                review=trace.review, reviewer=people[name], status=status
            )
            verdict.error_modes.set(modes)
    # Before the window: not counted.
    old = judged(project, "old", NEG, PENDING, days=40)
    for name in ("ann", "bob"):
        Verdict.objects.create(review=old.review, reviewer=people[name], status=DISMISSED)
    return project


def test_reviewers_vs_reviewers(several):
    figures = agreement.figures(_window())

    overall = figures.reviewers
    assert (overall.traces, overall.pairs, overall.agree) == (4, 6, 5)
    assert overall.kappa == pytest.approx(79 / 160)
    modes = {row.label: row for row in figures.reviewers_by_error_mode}
    assert (modes["hallucination"].pairs, modes["hallucination"].agree) == (6, 4)
    assert (modes["format"].pairs, modes["format"].agree) == (6, 5)
    body = figures.as_dict()["reviewers_vs_reviewers"]
    assert body["all"] == {
        "n": 4, "pairs": 6, "agree": 5, "share": round(5 / 6, 4),
        "kappa": pytest.approx(79 / 160, abs=1e-4), "enough": False,
    }  # fmt: skip
    assert [row["name"] for row in body["by_error_mode"]] == ["Format", "Hallucination"]


def test_review_mode_answers_feed_reviewers_vs_reviewers(project, queue):
    """The same figures from answers given in review mode (two reviewers per trace)."""
    from tests.test_admin_review_mode import staff_client
    from tests.test_review_verdicts import answer

    project.reviews_per_trace = 2
    project.save()
    bad = Trace.objects.get(key="bad").review
    answer(staff_client("ann"), bad, modes=[mode("hallucination")])
    answer(staff_client("bob"), bad, modes=[mode("hallucination")])
    long = Trace.objects.get(key="long").review
    answer(staff_client("ann"), long, modes=[mode("length")])
    answer(staff_client("bob"), long, do="dismiss")

    overall = agreement.figures(_window()).reviewers
    assert (overall.traces, overall.pairs, overall.agree) == (2, 2, 1)


@pytest.fixture
def scored(project):
    """Online scores by scorers mapped to modes, on traces with a reviewer verdict:

        refusal scorer: s1 fails, refusal confirmed     both
                        s2 fails, dismissed             suggested only
                        s3 passes (its newest; an older version failed), refusal confirmed
                        s4 passes, dismissed
                        s5 fails, pending review        no verdict: left out
                        s6 skipped (no value)           left out
        made-up judge:  s1 fails (hallucination not confirmed), s2 passes

    refusal: suggested 2, confirmed 2, both 1 (precision 1/2, recall 1/2)."""
    R = ["refusal"]
    traces = {
        "s1": judged(project, "s1", NEG, REVIEWED, R),
        "s2": judged(project, "s2", NEG, DISMISSED),
        "s3": judged(project, "s3", NEG, REVIEWED, R),
        "s4": judged(project, "s4", POS, DISMISSED),
        "s5": judged(project, "s5", NEG, PENDING),
        "s6": judged(project, "s6", NEG, REVIEWED, R),
    }
    for key, value in (("s1", 0), ("s2", 0), ("s3", 1), ("s4", 1), ("s5", 0), ("s6", None)):
        TraceScore.objects.create(trace=traces[key], scorer="refusal", value=value)
    older = TraceScore.objects.create(
        trace=traces["s3"], scorer="refusal", scorer_version="0", value=0
    )
    TraceScore.objects.filter(pk=older.pk).update(created_at=timezone.now() - timedelta(days=1))
    TraceScore.objects.create(trace=traces["s1"], scorer="judge:made up?", value=0.2)
    TraceScore.objects.create(trace=traces["s2"], scorer="judge:made up?", value=0.9)
    TraceScore.objects.create(trace=traces["s1"], scorer="unmapped", value=0)
    return traces


def test_scorers_vs_reviewers(scored, settings):
    settings.FEEDBACK_LOOP = {
        **getattr(settings, "FEEDBACK_LOOP", {}),
        "SCORER_ERROR_MODES": {"refusal": "refusal", "judge:made up?": "hallucination"},
    }
    rows = {row.scorer: row for row in agreement.figures(_window()).scorers}

    assert set(rows) == {"refusal", "judge:made up?"}
    refusal = rows["refusal"].detection
    assert (refusal.suggested, refusal.confirmed, refusal.both) == (2, 2, 1)
    assert refusal.precision == 0.5 and refusal.recall == 0.5
    judge = rows["judge:made up?"]
    assert judge.error_mode == "hallucination"
    assert (judge.detection.suggested, judge.detection.confirmed) == (1, 0)
    assert judge.detection.precision == 0 and judge.detection.recall is None
    body = agreement.figures(_window()).as_dict()["scorers_vs_reviewers"]
    assert {row["scorer"]: row["name"] for row in body} == {
        "judge:made up?": "Hallucination",
        "refusal": "Refusal",
    }


def test_the_dashboard_shows_reviewers_and_scorers_agreement(admin_client, several, scored):
    text = page(
        admin_client.get(f"{ADMIN}/trace/dashboard/", {"project": several.pk, "refresh": "1"})
    )

    reviewers = text[text.index('id="fl-reviewers-agreement"') :]
    reviewers = reviewers[: reviewers.index("</table>")]
    # Four traces with two or more verdicts: under MIN_N, so no share is claimed.
    assert "Bad or fine" in reviewers and "Not enough data (n &lt; 5)" in reviewers
    assert "Hallucination" in reviewers and "Format" in reviewers
    scorers = text[text.index('id="fl-scorers-agreement"') :]
    scorers = scorers[: scorers.index("</table>")]
    assert "refusal" in scorers and "Refusal" in scorers
    assert "(n = 2)" in scorers  # refusal: 2 failing, 2 confirmed


def test_the_dashboard_says_computing_until_the_task_ran_and_refreshes_stale_figures(
    admin_client, known, monkeypatch
):
    from django.core.cache import cache

    from feedback_loop.tasks import refresh_agreement

    queued = []
    monkeypatch.setattr(refresh_agreement, "apply_async", lambda *a, **kw: queued.append(a))
    text = page(admin_client.get(f"{ADMIN}/trace/dashboard/", {"days": "7"}))
    assert "Computing the agreement" in text
    page(admin_client.get(f"{ADMIN}/trace/dashboard/", {"days": "7"}))
    assert queued == [(("all", 7),)]  # once, not on every view
    # The periodic task computes what was asked for, and all projects over 30 days.
    assert set(agreement.AGREEMENT.wanted()) == {("all", 30), ("all", 7)}
    assert refresh_agreement.run() == 2
    text = page(admin_client.get(f"{ADMIN}/trace/dashboard/", {"days": "7"}))
    assert "Computing the agreement" not in text and "(7/10)" in text
    # Older than FRESH_SECONDS: shown, and computed again in the background.
    key = agreement.AGREEMENT.key("all", 7)
    stale = cache.get(key) | {"computed_ts": 0}
    cache.set(key, stale)
    cache.delete(f"{key}:pending")
    text = page(admin_client.get(f"{ADMIN}/trace/dashboard/", {"days": "7"}))
    assert "(7/10)" in text and queued == [(("all", 7),), (("all", 7),)]


def test_no_data():
    figures = agreement.figures(Trace.objects.all())

    assert figures.users.n == 0 and figures.users.kappa is None
    assert figures.as_dict()["users_vs_reviewers"]["all"]["share"] is None
    assert figures.triage.precision is None


# -- the queue's filter ------------------------------------------------------------------------


def test_the_disagreements_filter_lists_exactly_the_disagreeing_traces(admin_client, known):
    url = f"{ADMIN}/trace/"
    disagree = admin_client.get(url, {"agreement": "disagree", "sentiment": "all", "review": "all"})
    assert sorted(listed(disagree)) == ["t10", "t8", "t9"]

    agree = admin_client.get(url, {"agreement": "agree", "sentiment": "all", "review": "all"})
    assert sorted(listed(agree)) == ["t1", "t14", "t2", "t3", "t4", "t5", "t6", "t7"]
    # Chosen from the queue, the filter also shows every sentiment and review status.
    assert "?agreement=disagree&amp;review=all&amp;sentiment=all" in page(admin_client.get(url))


# -- the dashboard -----------------------------------------------------------------------------


def test_the_dashboard_shows_the_agreement(admin_client, known, project):
    text = page(
        admin_client.get(f"{ADMIN}/trace/dashboard/", {"project": project.pk, "refresh": "1"})
    )

    section = text[text.index('id="fl-agreement"') :]
    section = section[: section.index("</section>")]
    assert "70%" in section and "(7/10)" in section and "0.40" in section
    assert "83%" in section and "(5/6)" in section and "0.67" in section  # alice
    assert "Not enough data (n &lt; 5)" in section  # bob
    assert "Hallucination" in section and "0.25" in section and "-0.14" in section
    assert "1 trace marked reviewed without an error mode is left out." in section
    link = "?agreement=disagree&amp;sentiment=all&amp;review=all&amp;project__id__exact="
    assert f"{link}{project.pk}" in section
    # Triage: micro precision 4/6 (67%, n = 6), recall 4/7 (57%, n = 7); refusal's n is 1.
    assert '67% <span class="help">(n = 6)' in section
    assert '57% <span class="help">(n = 7)' in section
    assert "not enough data" in section


def test_the_dashboard_without_reviews(admin_client, project):
    text = page(
        admin_client.get(f"{ADMIN}/trace/dashboard/", {"project": project.pk, "refresh": "1"})
    )
    assert "No traces with both a thumbs verdict and a finished review" in text


# -- the API -----------------------------------------------------------------------------------


def test_the_api_answers_the_figures(api, known):
    response = api.get("/stats/agreement")

    assert response.status_code == 200
    body = response.json()
    users = body["users_vs_reviewers"]
    assert users["all"]["n"] == 10 and users["all"]["agree"] == 7
    assert users["all"]["share"] == 0.7 and users["all"]["kappa"] == 0.4
    low, high = users["all"]["interval"]
    assert 0.39 < low < 0.7 < high < 0.92  # Wilson's interval of 7/10
    assert users["reviewed_without_error_mode"] == 1
    by_reviewer = {row["reviewer"]: row for row in users["by_reviewer"]}
    assert by_reviewer["alice"]["kappa"] == round(2 / 3, 4)
    assert by_reviewer["bob"]["enough"] is False
    modes = {row["error_mode"]: row for row in users["by_error_mode"]}
    assert modes["hallucination"]["kappa"] == 0.25
    assert modes["hallucination"]["name"] == "Hallucination"
    triage = body["triage_vs_reviewers"]
    assert triage["all"] == {
        "suggested": 6,
        "confirmed": 7,
        "both": 4,
        "precision": round(4 / 6, 4),
        "recall": round(4 / 7, 4),
        "precision_enough": True,
        "recall_enough": True,
    }
    # A longer window takes in t14 (negative, reviewed with an error mode: they agree).
    longer = api.get("/stats/agreement", {"days": 60}).json()["users_vs_reviewers"]["all"]
    assert (longer["n"], longer["agree"]) == (11, 8)
    assert api.get("/stats/agreement", {"days": 0}).status_code == 400


def test_the_api_scopes_the_figures(client, api, known, project):
    other, secret = Project.create("Other")
    judged(other, "o1", NEG, DISMISSED)

    assert api.get("/stats/agreement").json()["users_vs_reviewers"]["all"]["n"] == 10
    theirs = Api(client, secret).get("/stats/agreement").json()["users_vs_reviewers"]["all"]
    assert (theirs["n"], theirs["agree"]) == (1, 0)

    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    url = "/feedback/api/v1/stats/agreement"
    assert client.get(url).json()["users_vs_reviewers"]["all"]["n"] == 11
    one = client.get(url, {"project": other.public_key}).json()
    assert one["users_vs_reviewers"]["all"]["n"] == 1


def _window():
    return Trace.objects.filter(last_signal_at__gte=timezone.now() - timedelta(days=30))
