"""The release gate end to end: a regression set built from captured complaints (a thumbs-down
with "Wrong format" and an edit, a refusal, an over-long answer, a list the user wanted), run by
``feedback_loop_eval`` against two versions of a task; the second fixes two items and breaks one,
and the gate names it and exits 1."""

import io
import json
import os
import re
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from feedback_loop import record_trace
from feedback_loop.internal.datasets import add_traces
from feedback_loop.models import (
    Dataset,
    ErrorMode,
    Experiment,
    ExperimentResult,
    ExperimentStatus,
    Review,
    ReviewStatus,
    Trace,
)
from tests import eval_tasks
from tests.conftest import make_event

pytestmark = pytest.mark.django_db
pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parent.parent

SYSTEM = "You are the support assistant of Example Corp. Answer briefly."
LIVE = {**eval_tasks.ANSWERS_V1, "List three primary colours.": "red yellow blue"}
COMPLAINTS = {
    # question: (reason chip, the user's edit or None, the reviewer's expected output or "")
    "Give me Ada's record as JSON.": ("format", '{"name": "Ada", "age": 36}', ""),
    "How do I reset my password?": (
        "refusal",
        None,
        "Open Settings, then Account, then Reset password.",
    ),
    "What is DNS?": ("length", "DNS is the Domain Name System: it turns names into addresses.", ""),
    "List three primary colours.": ("format", "- red\n- yellow\n- blue", ""),
}


@pytest.fixture
def regression_set(project, post_events):
    """Traces recorded with their conversation, feedback captured through the endpoint and
    processed, each complaint confirmed by a reviewer, then added to a regression set."""
    for n, (question, (reason, edit, expected)) in enumerate(COMPLAINTS.items()):
        key = f"trace-{n}"
        record_trace(
            project,
            key,
            input=question,
            output=LIVE[question],
            messages=[
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": question},
            ],
            model="support-v1",
        )
        events = [make_event(project, trace_id=key, kind="thumbs", value=-1, reasons=[reason])]
        if edit:
            events.append(
                make_event(
                    project,
                    trace_id=key,
                    kind="edit",
                    value=None,
                    text=edit,
                    metadata={"text_format": "source"},
                )
            )
        response = post_events(project, events)
        assert response.status_code == 200, response.content
        trace = Trace.objects.get(project=project, key=key)
        review, _ = Review.objects.update_or_create(
            trace=trace,
            defaults={"status": ReviewStatus.REVIEWED, "expected_output": expected},
        )
        review.error_modes.set([ErrorMode.objects.get(project=None, slug=reason)])
    dataset = Dataset.objects.create(project=project, name="Support regressions")
    add_traces(dataset, Trace.objects.filter(project=project).values_list("pk", flat=True))
    assert dataset.items.count() == 4
    return dataset


def run_eval(*args) -> tuple[str, str, int]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("feedback_loop_eval", *args, stdout=out, stderr=err)
    except SystemExit as exit_:
        return out.getvalue(), err.getvalue(), int(exit_.code or 0)
    return out.getvalue(), err.getvalue(), 0


def item_of(dataset, question: str) -> str:
    return str(dataset.items.get(input=question).pk)


def test_the_gate_names_the_item_the_new_prompt_broke_and_exits_1(
    regression_set, tmp_path, admin_client
):
    out, err, code = run_eval(
        "Support regressions", "--task", "tests.eval_tasks:answer_v1",
        "--scorer", "error_mode", "--metadata", "prompt=v1",
    )  # fmt: skip
    assert code == 0
    first = Experiment.objects.get()
    assert first.status == ExperimentStatus.FINISHED and first.version.number == 1
    assert first.metadata == {"prompt": "v1"}
    # The old prompt fails the three complaints and gets the list right.
    assert first.summary["scorers"]["error_mode"] == {
        "mean": 0.25, "passed": 1, "scored": 4, "skipped": 0,
    }  # fmt: skip
    assert "4 items of Support regressions v1" in err and "items 100%" in err

    report = tmp_path / "gate.json"
    out, err, code = run_eval(
        "Support regressions", "--task", "tests.eval_tasks:answer_v2", "--scorer", "error_mode",
        "--baseline", "latest", "--fail-on-regression", "--json", str(report),
    )  # fmt: skip
    assert code == 1
    second = Experiment.objects.exclude(pk=first.pk).get()
    assert second.baseline == first
    lines = out.splitlines()
    assert lines[0].split() == [
        "scorer", "mean", "passed", "skipped", "baseline", f"({first.pk})",
        "improved", "regressed", "same",
    ]  # fmt: skip
    assert lines[2].split() == ["error_mode", "0.50", "2/4", "0", "0.25", "2", "1", "1"]
    colours = item_of(regression_set, "List three primary colours.")
    assert "Regressed items (1):" in out
    assert (
        f"item {colours} error_mode: 1.00 -> 0.00  format: plain text, where the user's "
        "version has list" in out
    )
    document = json.loads(report.read_text())
    assert document["comparison"]["regressed_items"] == [colours]
    fixed = {
        item_of(regression_set, "Give me Ada's record as JSON."),
        item_of(regression_set, "How do I reset my password?"),
    }
    assert set(document["comparison"]["scorers"][0]["improved"]) == fixed

    # The admin's comparison shows the same: the broken item first, its outputs and reasons.
    response = admin_client.get(f"/admin/feedback_loop/experiment/{second.pk}/compare/{first.pk}/")
    assert response.status_code == 200
    rows = [(row["item_id"], row["kind"]) for row in response.context["item_rows"]]
    assert rows[0] == (colours, "regressed")
    assert {item for item, kind in rows if kind == "improved"} == fixed
    text = response.content.decode()
    section = text[text.index(f"#{colours}") :]
    assert "format: plain text, where the user&#x27;s version has list" in section

    # Without the flag the same comparison is printed, and the run passes.
    out, _, code = run_eval(
        "Support regressions", "--task", "tests.eval_tasks:answer_v2", "--scorer", "error_mode",
        "--baseline", str(first.pk),
    )  # fmt: skip
    assert code == 0 and f"item {colours} error_mode" in out


def test_every_result_keeps_its_reason_and_a_failing_task_is_recorded_not_fatal(regression_set):
    _, err, code = run_eval(
        "Support regressions", "--task", "tests.eval_tasks:answer_broken",
        "--scorer", "error_mode", "--scorer", "refusal",
    )  # fmt: skip
    assert code == 0 and "1 errors" in err
    experiment = Experiment.objects.get()
    password = experiment.results.get(
        item_id=item_of(regression_set, "How do I reset my password?")
    )
    assert password.error == "ConnectionError: the model's endpoint is down"
    assert password.scores["refusal"] == {"value": 0.0, "reason": "the task failed"}
    dns = experiment.results.get(item_id=item_of(regression_set, "What is DNS?"))
    assert dns.scores["error_mode"]["value"] == 0.0
    assert dns.scores["error_mode"]["reason"].startswith("length: 620 characters, over 76")
    assert experiment.summary["errors"] == 1
    assert experiment.summary["by_error_mode"]["format"]["error_mode"] == 0.5


def test_an_interrupted_run_resumes_without_redoing_finished_items(regression_set):
    eval_tasks.CALLS.clear()
    with pytest.raises(KeyboardInterrupt):
        call_command(
            "feedback_loop_eval", "Support regressions",
            "--task", "tests.eval_tasks:answer_until_interrupted", "--concurrency", "1",
            stdout=io.StringIO(), stderr=io.StringIO(),
        )  # fmt: skip
    experiment = Experiment.objects.get()
    assert experiment.status == ExperimentStatus.FAILED
    kept = set(experiment.results.values_list("item_id", flat=True))
    assert len(kept) == len(eval_tasks.CALLS) - 1  # all but the interrupted item

    eval_tasks.CALLS.clear()
    _, _, code = run_eval(
        "Support regressions", "--task", "tests.eval_tasks:answer_v1_counted", "--resume"
    )
    assert code == 0
    assert len(eval_tasks.CALLS) == 4 - len(kept)  # only the items without a result
    experiment.refresh_from_db()
    assert experiment.status == ExperimentStatus.FINISHED
    assert ExperimentResult.objects.filter(experiment=experiment).count() == 4
    assert Experiment.objects.count() == 1


def test_clear_errors_for_what_cannot_run(regression_set):
    task = ("--task", "tests.eval_tasks:answer_v1")
    for args, message in [
        (("--task", "tests.eval_tasks:nope"), "cannot import the task 'tests.eval_tasks:nope'"),
        ((*task, "--scorer", "exactly"), "no scorer named 'exactly'; the built-in scorers"),
        ((*task, "--baseline", "nightly"), "no experiment 'nightly'"),
        ((*task, "--resume"), "No unfinished experiment on Support regressions"),
    ]:
        with pytest.raises(CommandError, match=re.escape(message)):
            run_eval("Support regressions", *args)
    with pytest.raises(CommandError, match=re.escape("No dataset 'Nope'")):
        run_eval("Nope", *task)
    assert not Experiment.objects.exists()


TEAM_TEST = """
from feedback_loop.evaluation.error_modes import error_mode
from feedback_loop.testing import dataset_cases
from tests.eval_tasks import ANSWERS_V2, question


@dataset_cases("Support regressions")
def test_the_new_prompt(case):
    score = error_mode(case, ANSWERS_V2[question(case)])
    assert score.value != 0.0, score.reason
"""


def test_the_pytest_plugin_runs_the_same_cases_with_the_teams_own_assertion(
    regression_set, pytester, monkeypatch
):
    export = pytester.path / "support.jsonl"
    call_command(
        "feedback_loop_export", "Support regressions", "--format", "jsonl", "-o", str(export),
        stdout=io.StringIO(), stderr=io.StringIO(),
    )  # fmt: skip
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "tests.settings")
    pytester.makepyfile(test_team=TEAM_TEST)
    result = pytester.runpytest_subprocess(
        "-v", "-p", "no:cacheprovider", "--fl-cases", str(export)
    )
    output = result.stdout.str()
    outcomes = dict(re.findall(r"test_the_new_prompt\[item-(\d+)\] (PASSED|FAILED)", output))
    assert outcomes == {
        item_of(regression_set, "Give me Ada's record as JSON."): "PASSED",
        item_of(regression_set, "How do I reset my password?"): "PASSED",
        item_of(regression_set, "What is DNS?"): "FAILED",
        item_of(regression_set, "List three primary colours."): "FAILED",
    }, output
    assert "format: plain text, where the user's version has list" in output
