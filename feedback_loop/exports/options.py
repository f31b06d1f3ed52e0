"""How an export is made (its options), which rows it leaves out and why (the checks, reported
in every channel: the command's summary, the API's ``X-Export-Report`` header, the admin's
export page), and train/test splits that keep each end user (or session) on one side."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from feedback_loop.conf import app_settings
from feedback_loop.internal.datasets import Row

SPLIT_BY = ("user", "session", "time")
DPO_FORMS = ("conversational", "text")
PROMPTFOO_ASSERTS = ("equals", "contains", "icontains", "levenshtein", "similar", "llm-rubric")
OPENAI_FORMATS = ("openai-chat", "openai-preference")
OPENAI_MINIMUM = 10  # examples OpenAI's fine-tuning needs

# Why a row is reported, in words (the keys are the report's and the API header's).
REASONS = {
    "missing_expected": "items without an expected output",
    "missing_prompt": "pairs without a prompt (from traces the host never registered)",
    "over_length": "rows longer than the length budget",
}


@dataclass(frozen=True)
class ExportOptions:
    dpo_form: str = "conversational"
    split: str | None = None  # "train" or "test": one side; None: every row
    test_share: float = 0.1
    split_by: str = "user"
    # Keep rows without an expected output or prompt, where the format can hold them (jsonl,
    # csv); None: only in csv, which people read in a spreadsheet.
    keep_incomplete: bool | None = None
    drop_long: bool = False  # leave out rows over the length budget (else kept, reported)
    max_length: int | None = None  # the budget; None: EXPORT_MAX_LENGTH
    promptfoo_assert: str = "equals"

    def __post_init__(self):
        problems = []
        if self.dpo_form not in DPO_FORMS:
            problems.append(f"dpo_form is one of {', '.join(DPO_FORMS)}.")
        if self.split not in (None, "train", "test"):
            problems.append("split is train or test.")
        if self.split_by not in SPLIT_BY:
            problems.append(f"split_by is one of {', '.join(SPLIT_BY)}.")
        if not 0 < self.test_share < 1:
            problems.append("test_share is a number between 0 and 1.")
        if self.promptfoo_assert not in PROMPTFOO_ASSERTS:
            problems.append(f"promptfoo_assert is one of {', '.join(PROMPTFOO_ASSERTS)}.")
        if self.max_length is not None and self.max_length < 1:
            problems.append("max_length is a positive number.")
        if problems:
            from feedback_loop.exports import ExportError

            raise ExportError(" ".join(problems))

    @property
    def budget(self) -> int:
        return self.max_length or app_settings.EXPORT_MAX_LENGTH


@dataclass
class Report:
    """What an export read, wrote, left out and kept with a problem, by reason."""

    fmt: str
    read: int = 0
    written: int = 0
    left_out: Counter = field(default_factory=Counter)
    kept: Counter = field(default_factory=Counter)
    other_split: int = 0

    def warnings(self) -> list[str]:
        notes = [f"Left out {n} {REASONS[reason]}." for reason, n in sorted(self.left_out.items())]
        notes += [
            f"Kept {n} {REASONS[reason]}: they may be truncated or refused by the tool."
            for reason, n in sorted(self.kept.items())
        ]
        if self.fmt in OPENAI_FORMATS and self.written < OPENAI_MINIMUM:
            notes.append(
                f"OpenAI's fine-tuning needs at least {OPENAI_MINIMUM} examples; this export "
                f"has {self.written}."
            )
        return notes

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": self.fmt,
            "items_read": self.read,
            "rows_written": self.written,
            "other_split": self.other_split,
            "left_out": dict(self.left_out),
            "kept_with_problems": dict(self.kept),
            "warnings": self.warnings(),
        }


def row_length(row: Row) -> int:
    """How long a row is, against the budget: characters, or the tokens ``EXPORT_TOKEN_COUNTER``
    counts when the setting names a counter."""
    from feedback_loop.conversations import text_of

    counter = app_settings.EXPORT_TOKEN_COUNTER
    texts = [row.input, row.expected_output, row.output, row.chosen, row.rejected]
    if counter is None:
        # Read on every row of every export: the common case (string contents) inline.
        length = len(row.input) + len(row.expected_output) + len(row.output)
        length += len(row.chosen) + len(row.rejected)
        for message in row.messages:
            content = message.get("content")
            length += len(content) if isinstance(content, str) else len(text_of(message))
        return length
    texts += [text_of(m) for m in row.messages]
    return sum(counter(t) for t in texts if t)


def problems(row: Row, fmt: str, preference: bool, options: ExportOptions) -> list[str]:
    """The report's reasons that apply to a row in this format."""
    found = []
    # An eval item without an expected output tests nothing; a pair without a prompt trains on
    # an answer to nothing.
    if not preference and not row.expected_output.strip():
        found.append("missing_expected")
    if preference and not (row.input.strip() or row.messages):
        found.append("missing_prompt")
    if row_length(row) > options.budget:
        found.append("over_length")
    return found


def writable(fmt: str, reasons: list[str], options: ExportOptions) -> bool:
    """Whether a row with these problems is written: an incomplete row only where the format
    can hold it and the options keep it, a long one unless the options drop it."""
    if "over_length" in reasons and options.drop_long:
        return False
    incomplete = {"missing_expected", "missing_prompt"} & set(reasons)
    if not incomplete:
        return True
    if fmt not in ("jsonl", "csv"):
        return False  # the others have no valid way to write it
    return options.keep_incomplete if options.keep_incomplete is not None else fmt == "csv"


# -- splits ------------------------------------------------------------------------------------


def side(row: Row, options: ExportOptions, cutoff: datetime | None) -> str:
    """train or test, the same in every export of the dataset: by a digest of the row's end
    user (or session), so all of one person's items fall on one side; or by time, the newest
    ``test_share`` of the items being the test set."""
    if options.split_by == "time":
        newest = cutoff is not None and row.created_at is not None and row.created_at >= cutoff
        return "test" if newest else "train"
    group = row.user_digest if options.split_by == "user" else row.session_digest
    group = group or row.session_digest or row.user_digest or f"item:{row.id}"
    bucket = int.from_bytes(hashlib.sha256(group.encode()).digest()[:8], "big") / 2**64
    return "test" if bucket < options.test_share else "train"


def time_cutoff(created: list[datetime], share: float) -> datetime | None:
    """The moment from which the newest ``share`` of the items are."""
    if not created:
        return None
    created = sorted(created)
    index = min(len(created) - 1, int(len(created) * (1 - share)))
    return created[index]
