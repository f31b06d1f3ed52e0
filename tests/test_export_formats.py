"""Exports the consumers take as they are: conversations in every format, stable ids, the
model's answer beside the expected one, the rows left out and why (in every channel), splits
without leakage, redaction. (tests/consumers runs the real tools on these files.)"""

import json
import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from feedback_loop import exports, record_trace
from feedback_loop.exports import ExportOptions, Report
from feedback_loop.internal.datasets import add_traces, freeze
from feedback_loop.internal.pipeline import process_events
from feedback_loop.models import Dataset, DatasetKind, FeedbackEvent, Trace
from tests.conftest import API, bearer

pytestmark = pytest.mark.django_db

SYSTEM = {"role": "system", "content": "You are the help desk of Acme. Answer briefly."}


def edit(project, trace_id, text, user="u1"):
    FeedbackEvent.objects.create(
        project=project, event_id=uuid.uuid4(), trace_key=trace_id, kind="edit", text=text,
        user_id=user, voter=f"cu:{user}", metadata={"text_format": "source"},
        timestamp=timezone.now(),
    )  # fmt: skip


@pytest.fixture
def world(project):
    """Twelve conversations of six users (a system prompt, an earlier exchange, the question);
    users corrected ten answers. Two unregistered traces got edits too (pairs with no prompt)."""
    for n in range(12):
        user = f"user-{n % 6}"
        messages = [
            SYSTEM,
            {"role": "user", "content": f"Hello, I am {user}, mail me at {user}@example.com"},
            {"role": "assistant", "content": "Hello! How can I help?"},
            {"role": "user", "content": f"Question {n}?"},
        ]
        record_trace(project, f"t{n}", input="", output=f"Wrong answer {n}.", messages=messages,
                     user_id=user, session_id=f"s-{user}")  # fmt: skip
        if n < 10:
            edit(project, f"t{n}", f"Right answer {n}.", user=user)
    for n in (1, 2):
        FeedbackEvent.objects.create(
            project=project, event_id=uuid.uuid4(), trace_key=f"unreg-{n}", kind="edit",
            text=f"Better {n}.", output=f"Shown {n}.", voter="cu:anon", timestamp=timezone.now(),
        )  # fmt: skip
    process_events(FeedbackEvent.objects.values_list("pk", flat=True))
    traces = Trace.objects.filter(project=project).values_list("pk", flat=True)
    regression = Dataset.objects.create(project=project, name="Regressions")
    preference = Dataset.objects.create(project=project, name="Pairs", kind=DatasetKind.PREFERENCE)
    add_traces(regression, Trace.objects.filter(key__startswith="t").values_list("pk", flat=True))
    add_traces(preference, traces)
    return regression, preference


def lines(dataset, fmt, version=None, **options):
    report = Report(fmt)
    text = "".join(
        exports.stream(dataset, fmt, version, options=ExportOptions(**options), report=report)
    )
    return [json.loads(line) for line in text.splitlines()], report


def test_openai_chat_rows_hold_the_whole_conversation_and_say_what_was_left_out(world):
    regression, _ = world
    rows, report = lines(regression, "openai-chat")
    assert len(rows) == 10
    for row in rows:
        assert set(row) == {"messages"}
        assert row["messages"][0] == SYSTEM
        assert [m["role"] for m in row["messages"]] == [
            "system", "user", "assistant", "user", "assistant"
        ]  # fmt: skip
    assert report.left_out == {"missing_expected": 2}
    assert "Left out 2 items without an expected output." in report.warnings()


def test_openai_preference_keeps_the_system_message_and_leaves_promptless_pairs_out(world):
    _, preference = world
    rows, report = lines(preference, "openai-preference")
    assert len(rows) == 10 and report.read == 12
    assert all(row["input"]["messages"][0] == SYSTEM for row in rows)
    assert all(set(row) == {"input", "preferred_output", "non_preferred_output"} for row in rows)
    assert report.left_out == {"missing_prompt": 2}


def test_an_openai_set_under_ten_examples_is_reported(world):
    regression, _ = world
    _rows, report = lines(regression, "openai-chat", split="test", test_share=0.3)
    assert report.written < 10
    assert any("at least 10 examples" in w for w in report.warnings())


def test_the_manifest_lines_up_the_openai_rows_with_the_items(world):
    regression, _ = world
    rows, _report = lines(regression, "openai-chat")
    ids = [json.loads(x)["id"] for x in exports.manifest(regression, "openai-chat")]
    assert len(ids) == len(rows) == len(set(ids))
    by_id = {str(item.pk): item for item in regression.items.all()}
    for item_id, row in zip(ids, rows, strict=True):
        assert row["messages"][-1]["content"] == by_id[item_id].expected_output


def test_dpo_conversational_and_text_forms(world):
    _, preference = world
    rows, _ = lines(preference, "dpo")
    row = rows[0]
    assert set(row) == {"id", "prompt", "chosen", "rejected"}
    assert row["prompt"][0] == SYSTEM and row["prompt"][-1]["role"] == "user"
    assert row["chosen"][0]["role"] == "assistant"
    text_rows, _ = lines(preference, "dpo", dpo_form="text")
    text = text_rows[0]
    assert text["prompt"].startswith("System: You are the help desk")
    assert text["prompt"].endswith("\n\nAssistant:")
    assert text["chosen"].startswith(" Right answer") and text["rejected"].startswith(" Wrong")
    assert text["id"] == row["id"]


def test_eval_formats_carry_ids_targets_and_the_models_answer(world):
    regression, _ = world
    inspect_rows, _ = lines(regression, "inspect")
    assert all(r["id"] and r["target"] for r in inspect_rows)
    assert inspect_rows[0]["input"][0] == {"role": "system", "content": SYSTEM["content"]}
    assert inspect_rows[0]["metadata"]["output"].startswith("Wrong answer")
    promptfoo_rows, _ = lines(regression, "promptfoo", promptfoo_assert="levenshtein")
    first = promptfoo_rows[0]
    assert first["assert"][0]["type"] == "levenshtein" and first["assert"][0]["value"]
    assert first["vars"]["input"].startswith("Question")
    assert json.loads(first["vars"]["messages"])[0] == SYSTEM
    jsonl_rows, _ = lines(regression, "jsonl")
    assert {"id", "output", "expected_output", "messages"} <= set(jsonl_rows[0])
    assert len(jsonl_rows) == 10  # the two without an expected output are left out...
    kept, report = lines(regression, "jsonl", keep_incomplete=True)
    assert len(kept) == 12 and report.kept == {"missing_expected": 2}  # ...unless kept


def test_ids_stay_the_same_in_a_frozen_version(world):
    regression, _ = world
    version = freeze(regression)
    live = [r["id"] for r in lines(regression, "inspect")[0]]
    frozen = [r["id"] for r in lines(regression, "inspect", version)[0]]
    assert live == frozen


@pytest.mark.parametrize(("split_by", "share"), [("user", 0.5), ("session", 0.75)])
def test_a_split_keeps_every_user_on_one_side(world, split_by, share):
    regression, _ = world
    # (Digests, not chance, put the six users and their sessions on a side: these shares give
    # both sides some.)
    options = {"split_by": split_by, "test_share": share, "keep_incomplete": True}
    train, _ = lines(regression, "jsonl", split="train", **options)
    test, _ = lines(regression, "jsonl", split="test", **options)
    assert len(train) + len(test) == 12 and train and test

    def users(rows):
        return {r["messages"][1]["content"].split(", ")[1] for r in rows}

    assert not users(train) & users(test)
    assert [r["id"] for r in lines(regression, "jsonl", split="test", **options)[0]] == [
        r["id"] for r in test
    ]  # deterministic


def test_a_split_by_time_tests_on_the_newest(world):
    regression, _ = world
    now = timezone.now()
    for n, trace in enumerate(Trace.objects.filter(key__startswith="t").order_by("pk")):
        Trace.objects.filter(pk=trace.pk).update(created_at=now - timedelta(days=12 - n))
    options = {"split_by": "time", "test_share": 0.25, "keep_incomplete": True}
    test, _ = lines(regression, "jsonl", split="test", **options)
    assert sorted(r["source_trace_id"] for r in test) == ["t10", "t11", "t9"]


def test_the_length_budget_reports_and_on_request_drops(world):
    regression, _ = world
    rows, report = lines(regression, "openai-chat", max_length=100)
    assert len(rows) == 10 and report.kept == {"over_length": 10}
    rows, report = lines(regression, "openai-chat", max_length=100, drop_long=True)
    assert rows == [] and report.left_out == {"over_length": 10, "missing_expected": 2}


def test_the_redactor_reaches_every_text(world):
    regression, _ = world
    redactor = "feedback_loop.exports.redaction.redact_pii"
    with override_settings(FEEDBACK_LOOP={"EXPORT_REDACTOR": redactor}):
        text = "".join(exports.stream(regression, "jsonl"))
        csv_text = "".join(exports.stream(regression, "csv"))
    assert "@example.com" not in text and "@example.com" not in csv_text
    assert "mail me at [email]" in text


def test_the_api_says_what_it_left_out_in_a_header(world, client, secret):
    regression, _ = world
    response = client.get(
        f"{API}/datasets/{regression.pk}/export", {"format": "openai-chat"}, **bearer(secret)
    )
    report = json.loads(response["X-Export-Report"])
    assert report["rows_written"] == 10 and report["left_out"] == {"missing_expected": 2}
    manifest = client.get(
        f"{API}/datasets/{regression.pk}/export",
        {"format": "openai-chat", "manifest": "true"},
        **bearer(secret),
    )
    assert len(b"".join(manifest.streaming_content).splitlines()) == 10
    split = client.get(
        f"{API}/datasets/{regression.pk}/export",
        {"format": "inspect", "split": "test", "test_share": "0.5", "split_by": "user"},
        **bearer(secret),
    )
    assert split["Content-Disposition"].endswith('.test.inspect.jsonl"')


def test_the_command_writes_both_sides_and_a_manifest_and_reports(world, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    err = StringIO()
    call_command(
        "feedback_loop_export", "Regressions", "--format", "openai-chat", "--split", "test=0.3",
        "--manifest", stderr=err,
    )  # fmt: skip
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "regressions.test.openai-chat.jsonl", "regressions.test.openai-chat.manifest.jsonl",
        "regressions.train.openai-chat.jsonl", "regressions.train.openai-chat.manifest.jsonl",
    ]  # fmt: skip
    said = err.getvalue()
    assert "items without an expected output" in said and "at least 10 examples" in said


def test_the_admin_export_page_shows_the_report(world, admin_client):
    _, preference = world
    page = admin_client.get(
        f"/admin/feedback_loop/dataset/{preference.pk}/export/", {"format": "openai-preference"}
    ).content.decode()
    assert "10 rows from 12 items." in page
    assert "pairs without a prompt" in page and "manifest=1" in page
