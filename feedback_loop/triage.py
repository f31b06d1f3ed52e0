"""Error-mode triage: which error modes a negative trace probably shows.

The pipeline calls ``FEEDBACK_LOOP["TRIAGE_CLASSIFIER"]`` (default :func:`suggest_error_modes`)
with a trace and its newest ``TRIAGE_EVENTS`` events (1,000), oldest first, for every trace whose
sentiment is negative or mixed, each time new events come. It returns error-mode slugs; slugs
the project does not know are ignored. What it returns is stored as *suggested* modes; a
reviewer confirms them on the trace's review.

A classifier of your own (an LLM judge, say) has the same signature::

    def my_classifier(trace, events) -> Iterable[str]: ...

    FEEDBACK_LOOP = {"TRIAGE_CLASSIFIER": "myapp.triage.my_classifier"}
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence

from feedback_loop.internal.rollup import current_votes, squash
from feedback_loop.models import EventKind

HALLUCINATION, FORMAT, REFUSAL, LENGTH = "hallucination", "format", "refusal", "length"

# Phrases that open a refusal, looked for near the start of the answer.
REFUSAL_RE = re.compile(
    r"\b(?:I(?:'m| am) (?:sorry|afraid|unable|not able)|I can(?:not|'t|\u2019t) (?:help|assist|"
    r"provide|do|answer|comply|share|fulfil)|I (?:won't|will not|must decline)|as an AI\b|"
    r"I(?:'m| am) not (?:allowed|permitted))",
    re.IGNORECASE,
)
REFUSAL_WINDOW = 300

# An edit keeping at most this share of the answer's length says the answer was too long.
LENGTH_KEPT_SHARE = 0.5
LENGTH_MIN_CHARS = 80

# Structure a format-only edit may change: code fences with their info string ("```py"), one
# list, quote or heading marker at the start of a line, and JSON and Markdown punctuation.
_FENCE = "```"
_LIST_MARKERS = frozenset("-*+>")
_PUNCTUATION = str.maketrans(dict.fromkeys('{}[]",:|`*_#', " "))


def suggest_error_modes(trace, events: Sequence) -> list[str]:
    """The built-in classifier: the reasons users gave, then cheap evidence in the text."""
    slugs: dict[str, None] = {}
    # Reasons of current negative votes, and of comments (a reason chip without a vote).
    for vote in current_votes(events, EventKind.THUMBS).values():
        if vote.value and vote.value < 0:
            slugs.update(dict.fromkeys(vote.reasons or []))
    for event in events:
        if event.kind not in (EventKind.THUMBS, EventKind.RATING) and event.reasons:
            slugs.update(dict.fromkeys(event.reasons))

    output = trace.output or next((e.output for e in events if e.output), "")
    if looks_like_refusal(output):
        slugs[REFUSAL] = None
    edits = [e.text for e in events if e.kind == EventKind.EDIT] if output else []
    if edits:
        # The answer's side of each comparison once per trace, not once per edit.
        answer = _Answer(output)
        if any(answer.shortened_by(text) for text in edits):
            slugs[LENGTH] = None
        if any(answer.restructured_by(text) for text in edits):
            slugs[FORMAT] = None
    return list(slugs)


def looks_like_refusal(output: str) -> bool:
    return bool(output) and REFUSAL_RE.search(output[:REFUSAL_WINDOW]) is not None


def edit_shortens(output: str, edited: str) -> bool:
    """The user kept at most half of a not-so-short answer."""
    return _Answer(output).shortened_by(edited)


def edit_changes_structure_only(output: str, edited: str) -> bool:
    """The words stayed, the structure changed: list markers, code fences, headings, JSON
    punctuation; or the edit turned invalid JSON into valid JSON."""
    return _Answer(output).restructured_by(edited)


class _Answer:
    """An answer's squashed text, JSON-ness and words, each computed once, on first use."""

    def __init__(self, output: str):
        self.output = output
        self.squashed = squash(output)

    @functools.cached_property
    def is_json(self) -> bool:
        return _is_json(self.output)

    @functools.cached_property
    def words(self) -> str:
        return _words(self.output)

    def shortened_by(self, edited: str) -> bool:
        return (
            len(self.squashed) >= LENGTH_MIN_CHARS
            and bool(edited.strip())
            and len(squash(edited)) <= len(self.squashed) * LENGTH_KEPT_SHARE
        )

    def restructured_by(self, edited: str) -> bool:
        if self.squashed == squash(edited):
            return False
        if _is_json(edited) and not self.is_json:
            return True
        return self.words == _words(edited)


def _words(text: str) -> str:
    """The text without its structure, lower-cased, whitespace squashed.

    Plain passes instead of a regular expression, so the work is linear whatever the input: the
    old ``^\\s*(marker)\\s+`` under ``re.M`` scanned a run of n blank lines again from every
    line start in it (n * n / 2 steps). Here each line is looked at once and each fence once;
    ``str.split``, ``lstrip``, ``find`` and ``translate`` are each linear in what they read."""
    lines = text.split("\n")
    last = len(lines) - 1
    kept = [
        _without_marker(line, i < last) if line and not line.isspace() else line
        for i, line in enumerate(lines)
    ]
    return squash(_without_fences("\n".join(kept)).translate(_PUNCTUATION)).lower()


def _without_marker(line: str, newline_follows: bool) -> str:
    """The line without a leading list, quote or heading marker, which must be followed by
    whitespace (the line's end counts when another line follows)."""
    rest = line.lstrip()
    if rest[0] in _LIST_MARKERS:
        end = 1
    elif rest[0] == "#":
        end = len(rest) - len(rest.lstrip("#"))
        if end > 6:
            return line
    else:
        end = 0
        while end < len(rest) and rest[end].isdecimal():
            end += 1
        if not end or end == len(rest) or rest[end] not in ".)":
            return line
        end += 1
    tail = rest[end:]
    if tail[:1].isspace() or (not tail and newline_follows):
        return " " + tail
    return line


def _without_fences(text: str) -> str:
    """Code fences removed with the info string that follows them (letters, digits, _ and -)."""
    start = text.find(_FENCE)
    if start < 0:
        return text
    parts, done = [], 0
    while start >= 0:
        parts.append(text[done:start])
        end = start + len(_FENCE)
        while end < len(text) and (text[end].isalnum() or text[end] in "_-"):
            end += 1
        parts.append(" ")
        done = end
        start = text.find(_FENCE, done)
    parts.append(text[done:])
    return "".join(parts)


def _is_json(text: str) -> bool:
    text = text.strip()
    if not text or text[0] not in "[{":
        return False
    try:
        json.loads(text)
    except (ValueError, RecursionError):  # 64 KiB of "[" nests deeper than the decoder goes
        return False
    return True
