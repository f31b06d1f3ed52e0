"""The ``error_mode`` scorer: the check that matches the failure users reported on an item.

Every item of a regression set built from reviewed traces knows its confirmed error modes
(``metadata["error_modes"]``). The scorer runs one check per mode and passes the item only when
all of them pass:

- ``format``: the output has the shape the user's version has (JSON where the edit parsed as
  JSON; the same Markdown structure: code fences, lists, headings, tables; or plain text);
- ``length``: the output is no longer than the user's version allows (``LENGTH_ALLOWANCE`` times
  its length), or, without one, than half the answer users found too long;
- ``refusal``: the output is not a refusal;
- ``hallucination``: the LLM judge finds no claim that the expected output contradicts;
- any other mode: the scorer ``FEEDBACK_LOOP["ERROR_MODE_SCORERS"]`` names for its slug.

Modes with no check are reported in the reason and leave the score to the others; an item whose
modes have no check at all is skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.utils.module_loading import import_string

from feedback_loop.conf import app_settings
from feedback_loop.evaluation.scoring import Score, parse_json, refusal
from feedback_loop.triage import FORMAT, HALLUCINATION, LENGTH, LENGTH_KEPT_SHARE, REFUSAL

# An output may be this much longer than the user's version and still pass the length check.
LENGTH_ALLOWANCE = 1.25


def shape(text: str) -> frozenset[str]:
    """What a format check compares: JSON, or the Markdown structures the text uses."""
    try:
        value = parse_json(text)
    except ValueError:
        pass
    else:
        if isinstance(value, dict | list):
            return frozenset({"json"})
    features = set()
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            features.add("code block")
        elif stripped.startswith("#") and stripped.lstrip("#")[:1] == " ":
            features.add("headings")
        elif stripped[:2] in ("- ", "* ", "+ ") or (
            stripped[:1].isdigit() and stripped.lstrip("0123456789")[:2] in (". ", ") ")
        ):
            features.add("list")
        elif stripped.startswith("|") and stripped.endswith("|") and len(stripped) > 1:
            features.add("table")
    return frozenset(features or {"plain text"})


def check_format(item: Any, output: str) -> Score:
    expected = getattr(item, "expected_output", "")
    if not expected:
        return Score(None, "format: no user's version to compare with")
    wanted, got = shape(expected), shape(output)
    if wanted == got:
        return Score(1.0, f"format: {_names(got)}, as in the user's version")
    return Score(0.0, f"format: {_names(got)}, where the user's version has {_names(wanted)}")


def check_length(item: Any, output: str) -> Score:
    expected = getattr(item, "expected_output", "")
    if expected:
        limit, what = len(expected) * LENGTH_ALLOWANCE, "the user's version"
    elif getattr(item, "output", ""):
        limit, what = len(item.output) * LENGTH_KEPT_SHARE, "half the answer found too long"
    else:
        return Score(None, "length: nothing to compare with")
    ok = len(output) <= limit
    verdict = "within" if ok else "over"
    return Score(
        1.0 if ok else 0.0, f"length: {len(output)} characters, {verdict} {int(limit)} ({what})"
    )


def check_refusal(item: Any, output: str) -> Score:
    score = refusal(item, output)
    return Score(score.value, f"refusal: {score.reason}")


def check_hallucination(item: Any, output: str) -> Score:
    from feedback_loop.evaluation.judge import contradiction

    return contradiction(item, output)


CHECKS: dict[str, Callable[[Any, str], Score]] = {
    FORMAT: check_format,
    LENGTH: check_length,
    REFUSAL: check_refusal,
    HALLUCINATION: check_hallucination,
}


def check_for(slug: str) -> Callable[[Any, str], Score] | None:
    custom = (app_settings.ERROR_MODE_SCORERS or {}).get(slug)
    if custom is not None:
        return import_string(custom) if isinstance(custom, str) else custom
    return CHECKS.get(slug)


def error_mode(item: Any, output: str) -> Score:
    modes = list((getattr(item, "metadata", None) or {}).get("error_modes") or [])
    if not modes:
        return Score(None, "no confirmed error mode")
    values, reasons = [], []
    for slug in modes:
        check = check_for(slug)
        if check is None:
            reasons.append(f"{slug}: no check (ERROR_MODE_SCORERS)")
            continue
        score = check(item, output)
        reasons.append(score.reason if score.reason.startswith(slug) else f"{slug}: {score.reason}")
        if score.value is not None:
            values.append(score.value)
    return Score(min(values) if values else None, "; ".join(reasons))


def _names(features: frozenset[str]) -> str:
    return ", ".join(sorted(features))
