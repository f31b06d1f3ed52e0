"""Online scoring: rules that score live answers with reference-free scorers, the scores on a
trace's page and in the queue, and the dashboard's "automated scores vs users"."""

import html
import re
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from feedback_loop import record_trace
from feedback_loop.evaluation import online
from feedback_loop.evaluation.scoring import Score
from feedback_loop.internal.statistics import cohen_kappa, kappa_of_table, wilson
from feedback_loop.models import ScoringRule, Trace, TraceScore
from feedback_loop.tasks import apply_scoring_rules
from tests.curation import ADMIN, add, page, run

# The real worker and broker of tests/test_worker.py (started once, in the PostgreSQL run).
from tests.test_worker import broker, redis_server, worker  # noqa: F401

pytestmark = pytest.mark.django_db

REFUSAL = "I'm sorry, but I can't help with that."
GOOD = "Canberra is the capital of Australia."

# -- scorers the rules name by a dotted path ---------------------------------------------------

CALLS: list[str] = []


def counting(item, output: str) -> Score:
    """Passes answers of more than three words; counts its calls."""
    CALLS.append(item.source_trace_id)
    return Score(1.0 if len(output.split()) > 3 else 0.0, f"{len(output.split())} words")


counting.version = "1"  # type: ignore[attr-defined]


def broken(item, output: str) -> Score:
    raise RuntimeError("the judge's endpoint said 503")


@pytest.fixture(autouse=True)
def _calls():
    CALLS.clear()
    counting.version = "1"  # type: ignore[attr-defined]


def rule(project, scorers=("refusal",), **fields) -> ScoringRule:
    made = ScoringRule(project=project, name=fields.pop("name", "live"), scorers=list(scorers))
    for name, value in fields.items():
        setattr(made, name, value)
    made.full_clean()
    made.save()
    return made


def stored(project) -> int:
    return TraceScore.objects.filter(trace__project=project).count()


# -- the rule ----------------------------------------------------------------------------------


def test_a_rule_scores_new_traces_once(project):
    record_trace(project, "r1", input="Help me?", output=REFUSAL)
    record_trace(project, "g1", input="Capital of Australia?", output=GOOD)
    record_trace(project, "j1", input="JSON please", output='{"a": 1}')
    rule(project, ["refusal", "json_valid"])

    assert apply_scoring_rules() == {"Test project / live": 6}
    assert stored(project) == 6
    scores = {(s.trace.key, s.scorer): s.value for s in TraceScore.objects.select_related("trace")}
    assert scores[("r1", "refusal")] == 0.0 and scores[("g1", "refusal")] == 1.0
    assert scores[("j1", "json_valid")] == 1.0 and scores[("g1", "json_valid")] == 0.0

    # Again, and again after feedback touched the traces: nothing new to score.
    assert apply_scoring_rules() == {"Test project / live": 0}
    add(project, "r1", value=-1, user_id="u1")
    run(project)
    assert apply_scoring_rules() == {"Test project / live": 0}
    assert stored(project) == 6

    # A new answer is scored on the next run, by both scorers.
    record_trace(project, "g2", input="2 + 2?", output="The answer is four.")
    assert apply_scoring_rules() == {"Test project / live": 2}
    assert stored(project) == 8


def test_a_rule_respects_its_filters_its_sample_and_being_inactive(project):
    for i in range(40):
        record_trace(project, f"t{i}", input="q", output=GOOD, model="m2" if i < 10 else "m1")
    only_m2 = rule(project, name="m2 only", filters={"model": "m2"})
    half = rule(project, name="half", sample_rate=0.5)
    rule(project, name="off", active=False)

    online.apply_scoring_rules()
    assert set(
        TraceScore.objects.filter(trace__model="m2").values_list("trace__key", flat=True)
    ) == {f"t{i}" for i in range(10)}
    in_sample = {
        t.pk for t in Trace.objects.filter(project=project) if online.sampled(half.pk, t.pk, 0.5)
    }
    assert 8 < len(in_sample) < 32
    # Two rules, one scorer (one version): a trace in both is scored once, shared by both.
    scored = set(TraceScore.objects.values_list("trace_id", flat=True))
    m2 = set(Trace.objects.filter(model="m2").values_list("pk", flat=True))
    assert scored == in_sample | m2
    assert ScoringRule.objects.get(pk=only_m2.pk).checked_at is not None
    assert ScoringRule.objects.get(name="off").checked_at is None

    # The sample is the same on every run: touched again, the traces left out stay out.
    Trace.objects.update(updated_at=timezone.now())
    online.apply_scoring_rules()
    assert set(TraceScore.objects.values_list("trace_id", flat=True)) == scored


def test_scores_are_cached_by_scorer_version(project):
    for key in ("a", "b"):
        record_trace(project, key, input="q", output=GOOD)
    made = rule(project, ["tests.test_online_scoring.counting"])
    assert online.apply_rule(made) == 2 and len(CALLS) == 2
    Trace.objects.update(updated_at=timezone.now())
    assert online.apply_rule(made) == 0 and len(CALLS) == 2  # cached: the scorer is not called

    counting.version = "2"  # type: ignore[attr-defined]  (say, a new judge prompt)
    assert online.apply_rule(made) == 2 and len(CALLS) == 4
    assert sorted(TraceScore.objects.values_list("scorer_version", flat=True)) == [
        "1",
        "1",
        "2",
        "2",
    ]


def test_a_scorer_error_is_recorded_as_a_skipped_score(project):
    record_trace(project, "a", input="q", output=GOOD)
    made = rule(project, ["tests.test_online_scoring.broken", "refusal"])
    assert online.apply_rule(made) == 2
    failed = TraceScore.objects.get(scorer="tests.test_online_scoring.broken")
    assert failed.value is None
    assert failed.reason == "the scorer failed: RuntimeError: the judge's endpoint said 503"
    assert TraceScore.objects.get(scorer="refusal").value == 1.0  # the others still run
    assert online.apply_rule(made) == 0  # recorded: not called again for this version


def test_a_run_does_bounded_work_and_the_next_goes_on(project):
    old = timezone.now() - timedelta(hours=1)
    for i in range(5):
        record_trace(project, f"t{i}", input="q", output=GOOD)
        Trace.objects.filter(key=f"t{i}").update(updated_at=old + timedelta(minutes=i))
    made = rule(project, ["refusal", "json_valid"])
    # 2 scorers a trace, 5 calls a run: two traces whole, then the watermark waits at the third.
    assert online.apply_rule(made, limit=5) == 4
    assert made.checked_at == Trace.objects.get(key="t2").updated_at
    assert online.apply_rule(made, limit=5) == 4
    assert online.apply_rule(made, limit=5) == 2
    assert stored(project) == 10
    assert made.checked_at > old + timedelta(minutes=30)


def test_a_rule_names_only_scorers_that_need_no_expected_output(project):
    with pytest.raises(ValidationError, match="needs an expected output"):
        rule(project, ["exact"])
    with pytest.raises(ValidationError, match="no scorer named"):
        rule(project, ["regexp:^a"])
    with pytest.raises(ValidationError, match="cannot import"):
        rule(project, ["tests.test_online_scoring.nothing_here"])
    with pytest.raises(ValidationError, match="Unknown filters"):
        rule(project, filters={"colour": "red"})
    with pytest.raises(ValidationError, match="sentiment"):
        rule(project, filters={"sentiment": "furious"})
    with pytest.raises(ValidationError):
        rule(project, sample_rate=1.5)
    with pytest.raises(ValidationError):
        rule(project, [])
    assert rule(project, ["refusal", "json_valid", "regex:^\\{", "length:2"]).pk


def test_kappa_of_a_table():
    # Perfect agreement; chance agreement; a constant rater (kappa undefined).
    assert kappa_of_table({(True, True): 3, (False, False): 3}) == 1
    chance = {(True, True): 1, (True, False): 1, (False, True): 1, (False, False): 1}
    assert kappa_of_table(chance) == pytest.approx(0)
    assert kappa_of_table({(True, True): 4}) is None
    # The textbook example (Wikipedia, "Cohen's kappa"): 50 proposals, two readers, 20 yes/yes,
    # 5 yes/no, 10 no/yes, 15 no/no: observed 0.7, chance 0.5, kappa 0.4.
    readers = [("yes", "yes")] * 20 + [("yes", "no")] * 5 + [("no", "yes")] * 10
    assert cohen_kappa(readers + [("no", "no")] * 15) == pytest.approx(0.4)


def test_wilson_intervals_hold_their_level_and_stay_inside_0_and_1():
    assert wilson(0, 0) is None
    low, high = wilson(0, 10)
    assert low == 0 and 0.27 < high < 0.28  # the textbook 0/10: [0, 0.278]
    low, high = wilson(81, 263)  # Newcombe (1998), table I: 0.2553 to 0.3662
    assert low == pytest.approx(0.2553, abs=1e-4) and high == pytest.approx(0.3662, abs=1e-4)


# -- what a curator sees -----------------------------------------------------------------------


def votes(project, verdicts: dict[str, tuple[str, int]]):
    """Traces (key -> (answer, thumbs value)) with one user's vote each, processed."""
    for key, (output, value) in verdicts.items():
        record_trace(project, key, input=f"question {key}", output=output)
        add(project, key, value=value, user_id=f"user-{key}")
    run(project)


SIX = {
    "refused1": (REFUSAL, -1),
    "refused2": (REFUSAL, -1),
    "refused3": (REFUSAL, -1),
    "good1": (GOOD, 1),
    "good2": (GOOD, 1),
    "refused-liked": (REFUSAL, 1),
}


def test_the_trace_page_shows_the_automated_scores(admin_client, project):
    votes(project, {"refused1": (REFUSAL, -1)})
    rule(project, ["refusal", "tests.test_online_scoring.broken"])
    online.apply_scoring_rules()
    trace = Trace.objects.get(key="refused1")
    text = html.unescape(page(admin_client.get(f"{ADMIN}/trace/{trace.pk}/change/")))
    assert "Automated scores" in text
    assert re.search(
        r"refusal</td>\s*<td[^>]*><span[^>]*>0 fails</span></td>\s*<td>the output is a refusal",
        text,
    )
    assert "skipped" in text and "RuntimeError: the judge's endpoint said 503" in text

    untouched = record_trace(project, "new", input="q", output=GOOD)
    assert "Automated scores" not in page(admin_client.get(f"{ADMIN}/trace/{untouched.pk}/change/"))


def test_the_queue_shows_and_filters_the_failing_scorers(admin_client, project):
    votes(project, SIX)
    rule(project, ["refusal", "json_valid"])
    online.apply_scoring_rules()

    everything = {"sentiment": "all", "review": "all"}
    response = admin_client.get(f"{ADMIN}/trace/", everything)
    text = page(response)
    assert "Failing scores" in text and "failing refusal" in text and "failing json_valid" in text
    rows = {t.key: t for t in response.context["cl"].result_list}
    column = response.context["cl"].model_admin.automated
    assert "✗ refusal" in column(rows["refused1"]) and "✗ json_valid" in column(rows["refused1"])
    assert "refusal" not in column(rows["good1"])

    failing = admin_client.get(f"{ADMIN}/trace/", {**everything, "failing": "refusal"})
    assert sorted(t.key for t in failing.context["cl"].result_list) == [
        "refused-liked",
        "refused1",
        "refused2",
        "refused3",
    ]
    # The queue's default view (negative, not reviewed) narrowed to the failing refusals.
    queue = admin_client.get(f"{ADMIN}/trace/", {"failing": "refusal"})
    assert sorted(t.key for t in queue.context["cl"].result_list) == [
        "refused1",
        "refused2",
        "refused3",
    ]


def test_the_dashboard_shows_the_agreement_of_scores_with_users(admin_client, project):
    votes(project, SIX)
    rule(project, ["refusal"])
    online.apply_scoring_rules()

    # By hand: 5 of 6 agree; the scorer passes 2 of 6, users like 3 of 6, so chance agreement
    # is 2/6 * 3/6 + 4/6 * 3/6 = 1/2, and kappa = (5/6 - 1/2) / (1 - 1/2) = 2/3.
    (refusal,) = online.agreement(Trace.objects.all())
    assert (refusal.scorer, refusal.agree, refusal.n) == ("refusal", 5, 6)
    assert refusal.kappa == pytest.approx(2 / 3)

    text = page(admin_client.get(f"{ADMIN}/trace/dashboard/", {"refresh": "1"}))
    assert "Automated scores vs users" in text
    section = text[text.index("Automated scores vs users") :]
    assert re.search(r"refusal</td>\s*<td[^>]*>83% <span class=\"help\">\(5/6\)</span>", section)
    assert re.search(r"0\.67</td>\s*<td[^>]*>6</td>", section)
    assert text.count('<svg class="fl-chart"') == 5  # the dashboard's charts as they were


def test_the_dashboard_says_when_there_is_not_enough_data(admin_client, project):
    votes(project, {"refused1": (REFUSAL, -1), "good1": (GOOD, 1)})
    text = html.unescape(page(admin_client.get(f"{ADMIN}/trace/dashboard/")))
    assert "No traces with both an automated score and a user's verdict" in text
    rule(project, ["refusal"])
    online.apply_scoring_rules()
    text = page(admin_client.get(f"{ADMIN}/trace/dashboard/", {"refresh": "1"}))
    assert "Not enough data (fewer than 5 traces)." in text
    section = text[text.index("Automated scores vs users") : text.index("Negative traces reviewed")]
    assert "100%" not in section and "2/2" not in section


def test_scoring_rules_in_the_admin(admin_client, project):
    url = f"{ADMIN}/scoringrule/add/"
    form = {
        "project": project.pk,
        "name": "refusals",
        "filters": '{"model": "gpt-4o"}',
        "sample_rate": "0.25",
        "active": "on",
    }
    response = admin_client.post(url, {**form, "scorers": '["exact"]'})
    assert "needs an expected output" in page(response)
    response = admin_client.post(
        url,
        {**form, "scorers": '["refusal"]'},
    )
    assert response.status_code == 302
    assert ScoringRule.objects.get().scorers == ["refusal"]
    assert "refusals" in page(admin_client.get(f"{ADMIN}/scoringrule/"))


# -- on real parts -----------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(240)
@pytest.mark.usefixtures("broker")
def test_a_real_worker_scores_new_traces_and_the_dashboard_shows_agreement(admin_client, project):
    """An online-scoring rule with the refusal scorer, run by a real worker, scores new traces
    and the dashboard shows its agreement with users' votes."""
    from tests.services import wait_for

    votes(project, SIX)
    rule(project, ["refusal"])
    apply_scoring_rules.delay()  # as beat sends it
    wait_for(lambda: stored(project) == 6, 60, "the worker to score the six traces", 0.1)
    assert ScoringRule.objects.get().checked_at is not None

    text = page(admin_client.get(f"{ADMIN}/trace/dashboard/", {"refresh": "1"}))
    section = text[text.index("Automated scores vs users") :]
    assert re.search(r"refusal</td>\s*<td[^>]*>83% <span class=\"help\">\(5/6\)</span>", section)
    assert "0.67" in section

    # A new answer is scored by the next run, and only it.
    votes(project, {"refused4": (REFUSAL, -1)})
    apply_scoring_rules.delay()
    wait_for(lambda: stored(project) == 7, 60, "the worker to score the new trace", 0.1)
    assert TraceScore.objects.get(trace__key="refused4").value == 0.0


def test_the_api_and_dataset_rules_filter_traces_by_a_failing_automated_score(
    project, client, secret
):
    from feedback_loop.internal.datasets import apply_rule
    from feedback_loop.models import Dataset
    from tests.conftest import API, bearer

    for key, output in (("refused", REFUSAL), ("answered", GOOD)):
        record_trace(project, key, input="Capital of Australia?", output=output)
    rule(project)
    online.apply_scoring_rules()
    response = client.get(f"{API}/traces", {"failing_score": "refusal"}, **bearer(secret))
    assert response.status_code == 200
    assert [t["trace_id"] for t in response.json()["results"]] == ["refused"]
    # A scorer nothing scored fails nothing.
    nothing = client.get(f"{API}/traces", {"failing_score": "json_valid"}, **bearer(secret))
    assert nothing.json()["results"] == []
    # A hard test set from the live refusals, by a dataset rule.
    refusals = Dataset.objects.create(
        project=project, name="Refusals", rule={"filters": {"failing_score": "refusal"}}
    )
    assert apply_rule(refusals) == 1
    assert list(refusals.items.values_list("input", "output")) == [
        ("Capital of Australia?", REFUSAL)
    ]
