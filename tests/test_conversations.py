"""Conversations before an answer: what record_trace and POST traces accept, how they are
stored (each message once per project) and read back."""

import json

import pytest

from feedback_loop import conversations, record_trace
from feedback_loop.conversations import ConversationError
from feedback_loop.models import Conversation, Message, Trace
from tests.conftest import API, bearer

pytestmark = pytest.mark.django_db

SYSTEM = {"role": "system", "content": "You answer in one line."}


def chat(*turns: str) -> list[dict]:
    """A conversation: the system prompt, then user and assistant turns in turn."""
    roles = ["user", "assistant"]
    return [SYSTEM] + [{"role": roles[i % 2], "content": text} for i, text in enumerate(turns)]


def test_record_trace_keeps_the_conversation_and_takes_the_input_from_it(project):
    messages = chat("Capital of Australia?", "Sydney.", "No, really?")
    trace = record_trace(project, "t1", input="", output="Canberra.", messages=messages)
    assert trace.input == "No, really?"  # the turn the answer replies to, for the queue's search
    assert conversations.of_trace(trace.pk) == messages


def test_the_api_takes_and_gives_the_conversation(client, project, secret):
    messages = chat("Give me JSON", "{name: Ada}", "Valid JSON, please")
    messages[-1] = {"role": "user", "content": [{"type": "text", "text": "Valid JSON, please"}]}
    body = {"traces": [{"trace_id": "j1", "messages": messages, "output": '{"name": "Ada"}'}]}
    posted = client.post(
        f"{API}/traces", json.dumps(body), content_type="application/json", **bearer(secret)
    )
    assert posted.status_code == 200, posted.content
    got = client.get(f"{API}/traces/j1", **bearer(secret)).json()
    assert got["messages"] == messages
    assert got["input"] == "Valid JSON, please"
    listed = client.get(f"{API}/traces", **bearer(secret)).json()["results"]
    assert listed[0]["messages"] == messages


@pytest.mark.parametrize(
    ("messages", "where", "words"),
    [
        ([], "", "at least one message"),
        ({"role": "user"}, "", "a list"),
        ([{"role": "robot", "content": "hi"}], "[0].role", "One of system"),
        ([{"role": "user"}], "[0].content", "needs content"),
        ([{"role": "user", "content": "hi", "temperature": 1}], "[0]", "has no temperature"),
        (chat("Q", "A"), "[2].role", "ends with the turn the answer replies to"),
        ([{"role": "tool", "content": "42"}], "[0].tool_call_id", "names the call"),
        ([{"role": "user", "content": [{"type": "video", "url": "x"}]}], "[0].content[0].type",
         "One of text"),
        ([{"role": "user", "content": [{"type": "text"}]}], "[0].content[0]", "holds exactly"),
        ([{"role": "user", "content": "a\x00b"}], "[0].content", "NUL"),
        ([{"role": "user", "content": 7}], "[0].content", "non-empty list of content parts"),
    ],
)  # fmt: skip
def test_a_bad_conversation_is_refused_saying_where(
    project, client, secret, messages, where, words
):
    with pytest.raises(ConversationError) as refused:
        record_trace(project, "bad", input="", output="x", messages=messages)
    assert refused.value.path == where and words in refused.value.message
    body = {"traces": [{"trace_id": "bad", "messages": messages, "output": "x"}]}
    answer = client.post(
        f"{API}/traces", json.dumps(body), content_type="application/json", **bearer(secret)
    )
    assert answer.status_code == 400
    assert words in json.dumps(answer.json()["error"]["fields"])
    assert not Trace.objects.filter(key="bad").exists()


def test_tool_calls_and_their_results_are_kept(project):
    call = {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
    messages = [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "-3 C"},
    ]
    trace = record_trace(project, "w", input="", output="It is -3 C.", messages=messages)
    assert conversations.of_trace(trace.pk) == [
        messages[0],
        {"role": "assistant", "tool_calls": [call]},
        messages[2],
    ]


def test_too_many_messages_is_a_setting(project, settings):
    settings.FEEDBACK_LOOP = {**settings.FEEDBACK_LOOP, "MAX_MESSAGES": 3}
    with pytest.raises(ConversationError, match="At most 3 messages"):
        record_trace(project, "t", input="", output="x", messages=chat("a", "b", "c"))


def test_the_turns_a_long_session_shares_are_stored_once(project):
    """A 50-turn session: each answer's trace holds the whole conversation before it, but each
    message is stored once; the traces only list them."""
    turns: list[str] = []
    for n in range(50):
        turns.append(f"Question {n}: " + "context " * 40)
        record_trace(project, f"s-{n}", input="", output=f"Answer {n}.", messages=chat(*turns))
        turns.append(f"Answer {n}.")
    assert (
        Message.objects.filter(project=project).count() == 1 + 50 + 49
    )  # system, questions, answers
    assert Conversation.objects.count() == 50  # one list of ids per answer
    lengths = sorted(len(ids) for ids in Conversation.objects.values_list("message_ids", flat=True))
    assert lengths == [2 * n + 2 for n in range(50)]
    last = Trace.objects.get(key="s-49")
    assert len(conversations.of_trace(last.pk)) == 100
    # Updating a trace's conversation replaces its list, not the shared messages.
    record_trace(project, "s-49", input="", output="Answer 49.", messages=chat("Only this"))
    assert conversations.of_trace(last.pk) == chat("Only this")
    assert conversations.of_trace(Trace.objects.get(key="s-48").pk)[:2] == chat(turns[0])


def test_messages_no_trace_uses_are_dropped_after_the_trace_goes(project):
    record_trace(project, "a", input="", output="x", messages=chat("mine alone"))
    record_trace(project, "b", input="", output="y", messages=chat("shared"))
    Trace.objects.filter(key="a").delete()
    assert conversations.drop_orphans(project.pk) == 1  # "mine alone"; the system prompt stays
    assert set(Message.objects.values_list("role", flat=True)) == {"system", "user"}


def test_retention_takes_the_messages_of_the_traces_it_deletes(project):
    from datetime import timedelta

    from django.utils import timezone

    from feedback_loop.internal.retention import apply_retention

    old = record_trace(project, "old", input="", output="x", messages=chat("long ago"))
    record_trace(project, "new", input="", output="y", messages=chat("today"))
    Trace.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))
    project.retention_days = 30
    project.save()
    assert apply_retention(project)["traces"] == 1
    texts = {m["content"] for m in Message.objects.values_list("data", flat=True)}
    assert texts == {SYSTEM["content"], "today"}
