"""Error-mode triage: which error modes a negative trace probably shows.

The pipeline calls ``FEEDBACK_LOOP["TRIAGE_CLASSIFIER"]`` (default :func:`suggest_error_modes`)
with a trace and all of its events, oldest first, for every trace whose sentiment is negative or
mixed. It returns error-mode slugs; slugs the project does not know are ignored. What it returns
is stored as *suggested* modes; a reviewer confirms them on the trace's review.

A classifier of your own (an LLM judge, say) has the same signature::

    def my_classifier(trace, events) -> Iterable[str]: ...

    FEEDBACK_LOOP = {"TRIAGE_CLASSIFIER": "myapp.triage.my_classifier"}
"""

from __future__ import annotations

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

_STRUCTURE_RE = re.compile(r"```[\w-]*|^\s*(?:[-*+>]|\d+[.)]|#{1,6})\s+|[{}\[\]\",:|`*_#]", re.M)


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
    for event in events:
        if event.kind != EventKind.EDIT or not output:
            continue
        if edit_shortens(output, event.text):
            slugs[LENGTH] = None
        if edit_changes_structure_only(output, event.text):
            slugs[FORMAT] = None
    return list(slugs)


def looks_like_refusal(output: str) -> bool:
    return bool(output) and REFUSAL_RE.search(output[:REFUSAL_WINDOW]) is not None


def edit_shortens(output: str, edited: str) -> bool:
    """The user kept at most half of a not-so-short answer."""
    original = squash(output)
    return (
        len(original) >= LENGTH_MIN_CHARS
        and bool(edited.strip())
        and len(squash(edited)) <= len(original) * LENGTH_KEPT_SHARE
    )


def edit_changes_structure_only(output: str, edited: str) -> bool:
    """The words stayed, the structure changed: list markers, code fences, headings, JSON
    punctuation; or the edit turned invalid JSON into valid JSON."""
    if squash(output) == squash(edited):
        return False
    if _is_json(edited) and not _is_json(output):
        return True
    return _words(output) == _words(edited)


def _words(text: str) -> str:
    return squash(_STRUCTURE_RE.sub(" ", text)).lower()


def _is_json(text: str) -> bool:
    text = text.strip()
    if not text or text[0] not in "[{":
        return False
    try:
        json.loads(text)
    except ValueError:
        return False
    return True
