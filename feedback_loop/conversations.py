"""Conversations before an answer, in OpenAI's chat format: checking what a host sends, storing
each message once per project, reading a trace's messages back.

A conversation is a list of messages ending with the turn the answer replies to (a user or a
tool message); the answer itself is the trace's ``output``::

    [{"role": "system", "content": "You are terse."},
     {"role": "user", "content": "Capital of Australia?"},
     {"role": "assistant", "content": "Canberra."},
     {"role": "user", "content": "And of Austria?"}]

``content`` is a string or a list of parts (``{"type": "text", "text": ...}``, ``image_url``,
``input_audio``, ``file``; ``refusal`` from the assistant); an assistant message may carry
``tool_calls`` (its content may then be null), and a tool message answers one by its
``tool_call_id``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

from feedback_loop.conf import app_settings

ROLES = ("system", "developer", "user", "assistant", "tool")
_KEYS = {
    "system": {"role", "content", "name"},
    "developer": {"role", "content", "name"},
    "user": {"role", "content", "name"},
    "assistant": {"role", "content", "name", "tool_calls", "refusal"},
    "tool": {"role", "content", "tool_call_id"},
}
_PART_TYPES = {
    "text": {"text"},
    "image_url": {"image_url"},
    "input_audio": {"input_audio"},
    "file": {"file"},
    "refusal": {"refusal"},
}


class ConversationError(ValueError):
    """What is wrong with a conversation, and where: ``path`` such as ``[2].content[0].text``."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


def clean(messages: Any) -> list[dict[str, Any]]:
    """The conversation as it will be stored, or ConversationError saying what is wrong."""
    if not isinstance(messages, list):
        raise ConversationError("", "messages must be a list of message objects.")
    if not messages:
        raise ConversationError("", "Give at least one message, or leave messages out.")
    limit = app_settings.MAX_MESSAGES
    if len(messages) > limit:
        raise ConversationError("", f"At most {limit} messages (MAX_MESSAGES).")
    cleaned = [_message(f"[{i}]", message) for i, message in enumerate(messages)]
    if cleaned[-1]["role"] not in ("user", "tool"):
        raise ConversationError(
            f"[{len(cleaned) - 1}].role",
            "The conversation ends with the turn the answer replies to (a user or tool "
            "message); the answer itself is the trace's output.",
        )
    return cleaned


def _message(path: str, message: Any) -> dict[str, Any]:
    if not isinstance(message, dict):
        raise ConversationError(path, "Each message is an object with a role.")
    role = message.get("role")
    if role not in ROLES:
        raise ConversationError(f"{path}.role", f"One of {', '.join(ROLES)}, not {role!r}.")
    unknown = set(message) - _KEYS[role]
    if unknown:
        raise ConversationError(
            path,
            f"A {role} message has no {', '.join(sorted(map(str, unknown)))}; "
            f"its keys: {', '.join(sorted(_KEYS[role]))}.",
        )
    cleaned: dict[str, Any] = {"role": role}
    content = message.get("content")
    if content is None and not (role == "assistant" and message.get("tool_calls")):
        raise ConversationError(f"{path}.content", "A message needs content.")
    if content is not None:
        cleaned["content"] = _content(f"{path}.content", content, role)
    for key in ("name", "tool_call_id", "refusal"):
        if key in message:
            cleaned[key] = _text(f"{path}.{key}", message[key], 256 if key != "refusal" else None)
    if role == "tool" and "tool_call_id" not in cleaned:
        raise ConversationError(f"{path}.tool_call_id", "A tool message names the call it answers.")
    if "tool_calls" in message:
        cleaned["tool_calls"] = _tool_calls(f"{path}.tool_calls", message["tool_calls"])
    return cleaned


def _content(path: str, content: Any, role: str) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return _text(path, content)
    if not isinstance(content, list) or not content:
        raise ConversationError(path, "A string, or a non-empty list of content parts.")
    parts = []
    for i, part in enumerate(content):
        where = f"{path}[{i}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in _PART_TYPES or (kind == "refusal" and role != "assistant"):
            raise ConversationError(
                f"{where}.type", f"One of {', '.join(_PART_TYPES)} (refusal: assistant only)."
            )
        unknown = set(part) - _PART_TYPES[kind] - {"type"}
        if unknown or not _PART_TYPES[kind] <= set(part):
            raise ConversationError(
                where, f"A {kind} part holds exactly: type, {', '.join(_PART_TYPES[kind])}."
            )
        value = part[next(iter(_PART_TYPES[kind]))]
        if kind in ("text", "refusal"):
            value = _text(f"{where}.{kind}", value)
        elif not isinstance(value, dict):
            raise ConversationError(f"{where}.{kind}", "An object, as OpenAI's format has it.")
        parts.append({"type": kind, next(iter(_PART_TYPES[kind])): value})
    return parts


def _tool_calls(path: str, calls: Any) -> list[dict[str, Any]]:
    if not isinstance(calls, list) or not calls:
        raise ConversationError(path, "A non-empty list of tool calls.")
    cleaned = []
    for i, call in enumerate(calls):
        where = f"{path}[{i}]"
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or call.get("type", "function") != "function":
            raise ConversationError(
                where,
                'A tool call is {"id", "type": "function", "function": {"name", "arguments"}}.',
            )
        cleaned.append(
            {
                "id": _text(f"{where}.id", call.get("id"), 256),
                "type": "function",
                "function": {
                    "name": _text(f"{where}.function.name", function.get("name"), 256),
                    "arguments": _text(f"{where}.function.arguments", function.get("arguments")),
                },
            }
        )
    return cleaned


def _text(path: str, value: Any, limit: int | None = None) -> str:
    limit = limit or app_settings.MAX_MESSAGE_CHARS
    if not isinstance(value, str):
        raise ConversationError(path, "A string.")
    if "\x00" in value:
        raise ConversationError(path, "A NUL character is not allowed.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ConversationError(path, "An unpaired surrogate is not text.") from None
    if len(value) > limit:
        raise ConversationError(path, f"At most {limit} characters.")
    return value


def text_of(message: dict[str, Any]) -> str:
    """What a message says, as plain text (its text parts, joined by blank lines)."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n\n".join(part["text"] for part in content if part.get("type") == "text")
    return ""


def last_user_text(messages: Sequence[dict[str, Any]]) -> str:
    """The text of the last user turn: a trace's ``input`` when only messages are given."""
    for message in reversed(messages):
        if message["role"] == "user":
            return text_of(message)
    return ""


def digest(message: dict[str, Any]) -> str:
    return hashlib.sha256(
        json.dumps(message, sort_keys=True, ensure_ascii=False).encode("utf-8")
    ).hexdigest()


# -- storage -----------------------------------------------------------------------------------


def store(project_pk: int, conversations: dict[int, list[dict[str, Any]]]) -> None:
    """Replace the conversations of these traces (by pk); each message is stored once per
    project, so the turns traces share are written once, and a trace keeps only their ids."""
    from feedback_loop.models import Conversation, Message

    if not conversations:
        return
    by_digest = {digest(m): m for messages in conversations.values() for m in messages}
    Message.objects.bulk_create(
        [
            Message(project_id=project_pk, digest=d, role=m["role"], data=m)
            for d, m in by_digest.items()
        ],
        ignore_conflicts=True,
        batch_size=500,
    )
    pks = dict(
        Message.objects.filter(project_id=project_pk, digest__in=list(by_digest)).values_list(
            "digest", "pk"
        )
    )
    Conversation.objects.filter(trace_id__in=list(conversations)).delete()
    Conversation.objects.bulk_create(
        [
            Conversation(trace_id=trace_pk, message_ids=[pks[digest(m)] for m in messages])
            for trace_pk, messages in conversations.items()
        ],
        batch_size=1000,
    )


def of_traces(trace_pks: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    """The conversation of each trace that has one, by trace pk: two queries for any number."""
    from feedback_loop.models import Conversation, Message

    lists = dict(
        Conversation.objects.filter(trace_id__in=list(trace_pks)).values_list(
            "trace_id", "message_ids"
        )
    )
    wanted = {pk for ids in lists.values() for pk in ids}
    data = dict(Message.objects.filter(pk__in=wanted).values_list("pk", "data"))
    return {trace_pk: [data[pk] for pk in ids] for trace_pk, ids in lists.items()}


def of_trace(trace_pk: int) -> list[dict[str, Any]]:
    return of_traces([trace_pk]).get(trace_pk, [])


def drop_orphans(project_pk: int) -> int:
    """Delete the project's messages no conversation uses any more (after traces went)."""
    from django.db import connections, router

    from feedback_loop.models import Conversation, Message

    connection = connections[router.db_for_write(Message)]
    q = connection.ops.quote_name
    messages, lists = q(Message._meta.db_table), q(Conversation._meta.db_table)
    if connection.vendor == "postgresql":
        # jsonb containment of the id, answered by the GIN index on message_ids.
        used = f"SELECT 1 FROM {lists} c WHERE c.message_ids @> to_jsonb(m.id)"
    else:
        used = f"SELECT 1 FROM {lists} c, json_each(c.message_ids) j WHERE j.value = m.id"
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {messages} AS m WHERE m.project_id = %s AND NOT EXISTS ({used})"
            if connection.vendor == "postgresql"
            else f"DELETE FROM {messages} WHERE project_id = %s AND NOT EXISTS "
            f"({used.replace('m.id', f'{messages}.id')})",
            [project_pk],
        )
        return cursor.rowcount
