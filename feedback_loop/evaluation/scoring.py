"""Scores and the built-in scorers.

A scorer is a callable ``(item, output) -> Score``: a value from 0 (wrong) to 1 (right) and a
reason a curator can read, or a value of ``None`` when it does not apply to the item (an item
without an expected output for ``exact``, say), so it counts as skipped, not as failed.

How scorers are named (``--scorer regex:^\\{``) is ``registry``'s business.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Protocol

from feedback_loop.triage import looks_like_refusal


@dataclass(frozen=True)
class Score:
    """A score from 0 to 1 with its reason; ``value=None`` means the scorer did not apply."""

    value: float | None
    reason: str = ""

    def __post_init__(self) -> None:
        if self.value is not None and not 0 <= self.value <= 1:
            raise ValueError(f"a score is from 0 to 1, not {self.value!r}")

    @property
    def skipped(self) -> bool:
        return self.value is None

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "reason": self.reason}


class Scorer(Protocol):
    def __call__(self, item: Any, output: str) -> Score: ...


def passed(ok: bool, yes: str, no: str) -> Score:
    return Score(1.0 if ok else 0.0, yes if ok else no)


def normalise(text: str) -> str:
    """Compatibility-normalised, case-folded, whitespace squashed, outer quotes and a final
    full stop dropped: what ``exact`` compares."""
    text = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    return text.strip("\"'`").rstrip(".").strip()


def _expected(item: Any) -> str:
    return getattr(item, "expected_output", "") or ""


def exact(item: Any, output: str) -> Score:
    expected = _expected(item)
    if not expected:
        return Score(None, "no expected output")
    return passed(
        normalise(output) == normalise(expected),
        "the output is the expected output",
        "the output differs from the expected output",
    )


def contains(text: str | None = None) -> Scorer:
    """Passes when the output contains ``text`` (normalised), by default the expected output."""

    def score(item: Any, output: str) -> Score:
        wanted = text if text is not None else _expected(item)
        if not wanted:
            return Score(None, "no expected output")
        return passed(
            normalise(wanted) in normalise(output),
            f"the output contains {_quote(wanted)}",
            f"the output does not contain {_quote(wanted)}",
        )

    return score


def regex(pattern: str) -> Scorer:
    """Passes when the pattern matches somewhere in the output."""
    compiled = re.compile(pattern)

    def score(item: Any, output: str) -> Score:
        return passed(
            compiled.search(output) is not None,
            f"the output matches /{pattern}/",
            f"the output does not match /{pattern}/",
        )

    return score


def parse_json(text: str) -> Any:
    """The JSON value of the text, or of its one fenced code block; raises ValueError."""
    text = text.strip()
    # A fence, its info string ("json"), a line break ... a line break and the closing fence;
    # read by plain string operations, linear in the text (no pattern to backtrack).
    if text.startswith("```") and text.endswith("\n```") and "\n" in text:
        info, _, body = text[3:-4].partition("\n")
        if all(c.isalnum() or c in "_-" for c in info):
            text = body.strip()
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise ValueError("nested too deeply") from exc


def json_valid(item: Any, output: str) -> Score:
    try:
        parse_json(output)
    except ValueError as exc:
        return Score(0.0, f"the output is not JSON ({exc})")
    return Score(1.0, "the output is JSON")


def json_schema(schema: dict | str) -> Scorer:
    """Passes when the output is JSON valid against the schema (a dict or a file's path)."""
    import jsonschema

    if isinstance(schema, str):
        with open(schema, encoding="utf-8") as file:
            schema = json.load(file)
    validator = jsonschema.validators.validator_for(schema)(schema)

    def score(item: Any, output: str) -> Score:
        try:
            value = parse_json(output)
        except ValueError as exc:
            return Score(0.0, f"the output is not JSON ({exc})")
        error = jsonschema.exceptions.best_match(validator.iter_errors(value))
        if error is not None:
            return Score(0.0, f"the output does not fit the schema: {error.message}")
        return Score(1.0, "the output fits the schema")

    return score


def length(ratio: float = 1.5) -> Scorer:
    """Passes when the output is at most ``ratio`` times as long as the expected output."""

    def score(item: Any, output: str) -> Score:
        expected = _expected(item)
        if not expected:
            return Score(None, "no expected output")
        limit = len(expected) * ratio
        return passed(
            len(output) <= limit,
            f"{len(output)} characters, within {ratio:g}x the expected {len(expected)}",
            f"{len(output)} characters, over {ratio:g}x the expected {len(expected)}",
        )

    return score


def similarity(item: Any, output: str) -> Score:
    """How close the output is to the expected output (rapidfuzz's normalised Indel ratio)."""
    from rapidfuzz import fuzz

    expected = _expected(item)
    if not expected:
        return Score(None, "no expected output")
    value = fuzz.ratio(output, expected) / 100
    return Score(round(value, 4), f"{value:.0%} similar to the expected output")


def refusal(item: Any, output: str) -> Score:
    """Passes when the output is not a refusal (the triage classifier's phrases)."""
    return passed(not looks_like_refusal(output), "not a refusal", "the output is a refusal")


def _quote(text: str, width: int = 60) -> str:
    return repr(text if len(text) <= width else text[: width - 1] + "…")
