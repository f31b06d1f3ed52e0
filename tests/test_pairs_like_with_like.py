"""Pairs compare like with like: the widget's rendered text of a Markdown answer is no edit of
its source, so it makes no pair, and the trace page says why."""

import uuid

import pytest
from django.utils import timezone

from feedback_loop import record_trace
from feedback_loop.internal.markup import looks_like_markdown
from feedback_loop.internal.pipeline import process_events
from feedback_loop.models import FeedbackEvent, PreferencePair, Trace

pytestmark = pytest.mark.django_db

MARKDOWN = "## Steps\n\n1. Open **Settings**\n2. Choose `Reset`\n\n- done"
RENDERED_EDIT = "Steps\n\nOpen Settings, then choose Reset and confirm.\n\ndone"


def edit(project, trace_id, text, **metadata):
    FeedbackEvent.objects.create(
        project=project, event_id=uuid.uuid4(), trace_key=trace_id, kind="edit", text=text,
        metadata=metadata, timestamp=timezone.now(), voter="cu:u1", user_id="u1",
    )  # fmt: skip


def test_a_rendered_edit_of_a_markdown_answer_makes_no_pair_and_the_page_says_why(
    project, admin_client
):
    trace = record_trace(project, "md", input="How do I reset?", output=MARKDOWN)
    edit(project, "md", RENDERED_EDIT, text_format="rendered")
    process_events(FeedbackEvent.objects.values_list("pk", flat=True))
    assert not PreferencePair.objects.exists()
    page = admin_client.get(f"/admin/feedback_loop/trace/{trace.pk}/change/").content.decode()
    assert "Not paired: the widget sent the rendered text of a Markdown answer" in page


@pytest.mark.parametrize(
    ("output", "text_format", "paired"),
    [
        (MARKDOWN, "source", True),  # the widget edited the source: like with like
        (MARKDOWN, None, True),  # FeedbackLoop.edit() from the host, or an older widget
        ("Open Settings and choose Reset.", "rendered", True),  # plain text: nothing lost
    ],
)
def test_edits_of_the_same_kind_of_text_make_a_pair(project, output, text_format, paired):
    record_trace(project, "t", input="How do I reset?", output=output)
    edit(
        project,
        "t",
        RENDERED_EDIT + " Really.",
        **({"text_format": text_format} if text_format else {}),
    )
    process_events(FeedbackEvent.objects.values_list("pk", flat=True))
    assert PreferencePair.objects.exists() is paired
    assert Trace.objects.get(key="t").edit_count == 1


@pytest.mark.parametrize(
    ("text", "markdown"),
    [
        ("# Title", True), ("Some **bold** words", True), ("1. first\n2. second", True),
        ("See [docs](https://x)", True), ("```\ncode\n```", True), ("> quoted", True),
        ("| a | b |", True), ("Plain sentence. Another one.", False),
        ("Version 1.2 of 2026", False), ("A - B", False),
    ],
)  # fmt: skip
def test_what_counts_as_markdown(text, markdown):
    assert looks_like_markdown(text) is markdown
