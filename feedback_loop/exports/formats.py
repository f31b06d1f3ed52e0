"""One row of each export format, from one dataset item (``Row``). Every format that has room
for it carries the item's stable ``id``; OpenAI's formats keep exactly the keys OpenAI
documents, and a manifest of ids in row order lines their rows up with the items."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from feedback_loop.conversations import text_of
from feedback_loop.internal.datasets import Row

CSV_COLUMNS = (
    "id", "input", "messages", "expected_output", "output", "chosen", "rejected",
    "source_trace_id", "metadata",
)  # fmt: skip
# A formula starter at the start of the cell or of any line in it (after a CR or an LF).
_FORMULA_RE = re.compile(r"(?:^|(?<=[\r\n]))(?=[=+\-@\t\r])")
# What RFC 4180 quotes. csv.writer quotes only the characters of its own line terminator, so
# with "\n" a bare "\r" went out unquoted and every reader started a new row at it.
_QUOTE_RE = re.compile(r'[",\r\n]')
# How the text form of a DPO row speaks: each turn on its own lines after its speaker, the
# prompt ending with the assistant's cue, the completions starting with a space.
_SPEAKERS = {"system": "System", "developer": "System", "user": "User", "assistant": "Assistant",
             "tool": "Tool"}  # fmt: skip
TEXT_PROMPT_END = "\n\nAssistant:"
TEXT_COMPLETION_START = " "


def conversation(row: Row) -> list[dict[str, Any]]:
    """The messages before the answer: the stored conversation, else the input as one user
    turn (a one-shot trace)."""
    if row.messages:
        return row.messages
    return [{"role": "user", "content": row.input}] if row.input else []


def last_user_turn(row: Row) -> str:
    for message in reversed(conversation(row)):
        if message["role"] == "user":
            return text_of(message)
    return row.input


def assistant(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def text_prompt(row: Row) -> str:
    """The conversation as plain text for TRL's standard (non-conversational) form: it ends
    with the assistant's cue, so the prompt's tokens are a clean prefix of prompt+completion."""
    turns = [f"{_SPEAKERS[m['role']]}: {text_of(m)}" for m in conversation(row)]
    return "\n\n".join(turns) + TEXT_PROMPT_END


def record(fmt: str, row: Row, preference: bool, options) -> dict[str, Any]:
    """The JSON object of one row in ``fmt`` (the row is known to be writable)."""
    if fmt == "jsonl":
        base = {"id": row.id, "input": row.input, "messages": conversation(row)}
        if preference:
            return {**base, "chosen": row.chosen, "rejected": row.rejected,
                    "metadata": row.metadata, "source_trace_id": row.source_trace_id}  # fmt: skip
        return {**base, "expected_output": row.expected_output, "output": row.output,
                "metadata": row.metadata, "source_trace_id": row.source_trace_id}  # fmt: skip
    if fmt == "dpo":
        if options.dpo_form == "text":
            return {"id": row.id, "prompt": text_prompt(row),
                    "chosen": TEXT_COMPLETION_START + row.chosen,
                    "rejected": TEXT_COMPLETION_START + row.rejected}  # fmt: skip
        return {"id": row.id, "prompt": conversation(row), "chosen": assistant(row.chosen),
                "rejected": assistant(row.rejected)}  # fmt: skip
    if fmt == "openai-preference":
        return {
            "input": {"messages": conversation(row)},
            "preferred_output": assistant(row.chosen),
            "non_preferred_output": assistant(row.rejected),
        }
    if fmt == "openai-chat":
        return {"messages": [*conversation(row), *assistant(row.expected_output)]}
    if fmt == "inspect":
        return {
            "id": row.id,
            "input": inspect_messages(row) if row.messages else row.input,
            "target": row.expected_output,
            "metadata": {
                **row.metadata,
                "output": row.output,
                "source_trace_id": row.source_trace_id,
            },
        }
    if fmt == "promptfoo":
        check: dict[str, Any] = {"type": options.promptfoo_assert, "value": row.expected_output}
        if options.promptfoo_assert == "levenshtein":
            check["threshold"] = max(1, len(row.expected_output) // 10)
        return {
            "description": row.id,
            "vars": {
                "id": row.id,
                "input": last_user_turn(row),
                "messages": json.dumps(conversation(row), ensure_ascii=False),
                "output": row.output,
            },
            "assert": [check],
            "metadata": {**row.metadata, "source_trace_id": row.source_trace_id},
        }
    raise ValueError(f"{fmt} is not a JSON Lines format.")


def inspect_messages(row: Row) -> list[dict[str, Any]]:
    """The conversation as inspect-ai's ChatMessage dicts: text parts joined, tool calls with
    their arguments parsed."""
    converted = []
    for message in row.messages:
        role = "system" if message["role"] == "developer" else message["role"]
        item: dict[str, Any] = {"role": role, "content": text_of(message)}
        if message.get("tool_calls"):
            item["tool_calls"] = [
                {"id": call["id"], "function": call["function"]["name"],
                 "arguments": _arguments(call["function"]["arguments"])}
                for call in message["tool_calls"]
            ]  # fmt: skip
        if message.get("tool_call_id"):
            item["tool_call_id"] = message["tool_call_id"]
        converted.append(item)
    return converted


def _arguments(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {"arguments": text}
    return value if isinstance(value, dict) else {"arguments": value}


def neutralise(cell: str) -> str:
    """A cell a spreadsheet shows as text: a formula starter at the start of the cell or of any
    line in it gets an apostrophe before it."""
    return _FORMULA_RE.sub("'", cell)


def csv_line(cells: Iterable[str]) -> str:
    """One CSV row ending in LF; a cell holding a quote, a comma or a line break is quoted."""
    return (
        ",".join('"' + c.replace('"', '""') + '"' if _QUOTE_RE.search(c) else c for c in cells)
        + "\n"
    )


def csv_cells(row: Row) -> list[str]:
    def as_json(value) -> str:
        return json.dumps(value, ensure_ascii=False) if value else ""

    cells = [row.id, row.input, as_json(row.messages), row.expected_output, row.output,
             row.chosen, row.rejected, row.source_trace_id, as_json(row.metadata)]  # fmt: skip
    return [neutralise(cell) for cell in cells]
