"""The language's vocabulary: its limits, keywords, operators and fields, and its error."""

from __future__ import annotations

MAX_LENGTH = 2_000  # characters of an expression
MAX_DEPTH = 32  # nested parentheses and NOTs
MAX_TERMS = 100  # comparisons, each value of an IN list counting as one
MAX_KEYS = 16  # keys of a metadata path
MAX_NUMBER = 2**53  # integers beyond this are compared as floats; counts refuse them

KEYWORDS = {"and", "or", "not", "is", "null", "in", "true", "false"}
OPERATORS = ("==", "!=", "<=", ">=", "=", "<", ">", "~")
ORDERING = ("<", "<=", ">", ">=")

# (model field, kind); kinds: number, count, text (an empty text is null), choice, time, bool.
COLUMNS: dict[str, tuple[str, str]] = {
    "sentiment": ("sentiment", "choice"),
    "score": ("score", "number"),
    "rating_avg": ("rating_avg", "number"),
    "model": ("model", "text"),
    "trace_id": ("key", "text"),
    "session_id": ("session_id", "text"),
    "user_id": ("user_id", "text"),
    "created_at": ("created_at", "time"),
    "last_signal_at": ("last_signal_at", "time"),
    "registered": ("registered", "bool"),
    "thumbs_up": ("thumbs_up", "count"),
    "thumbs_down": ("thumbs_down", "count"),
    "rating_count": ("rating_count", "count"),
    "comment_count": ("comment_count", "count"),
    "edit_count": ("edit_count", "count"),
    "regenerate_count": ("regenerate_count", "count"),
    "copy_count": ("copy_count", "count"),
    "abandon_count": ("abandon_count", "count"),
    "strength": ("strength", "count"),
}
# Text columns present only in some versions of the model.
OPTIONAL_COLUMNS: dict[str, tuple[str, str]] = {"release": ("release", "text")}
SPECIAL = ("metadata.<key>", "scores.<scorer>", "comment", "error_mode")


def columns() -> dict[str, tuple[str, str]]:
    from feedback_loop.models import Trace

    names = {f.name for f in Trace._meta.get_fields()}
    optional = {k: v for k, v in OPTIONAL_COLUMNS.items() if v[0] in names}
    return {**COLUMNS, **optional}


def field_names() -> list[str]:
    return sorted(columns()) + list(SPECIAL)


class WhereError(ValueError):
    """An expression that cannot be read or run: ``message`` says what and where (line:column,
    1-based), ``position`` is the 0-based offset, ``str()`` adds the line with a caret."""

    def __init__(self, message: str, position: int, source: str = ""):
        self.position = max(0, min(position, len(source)))
        before = source[: self.position]
        self.line = before.count("\n") + 1
        self.column = self.position - (before.rfind("\n") + 1) + 1
        self.message = message.replace("\x00", f"at {self.line}:{self.column}", 1)
        self.source = source
        super().__init__(self.message)

    def __str__(self) -> str:
        if not self.source:
            return self.message
        start = self.position - (self.column - 1)
        end = self.source.find("\n", start)
        line = self.source[start : len(self.source) if end < 0 else end]
        col = self.column - 1
        # A window of the line around the column, printable, one character per column.
        lo = max(0, col - 40)
        shown = "".join(c if c.isprintable() else " " for c in line[lo : lo + 80])
        prefix = "…" if lo else ""
        suffix = "…" if lo + 80 < len(line) else ""
        caret = " " * (len(prefix) + col - lo) + "^"
        return f"{self.message}\n  {prefix}{shown}{suffix}\n  {caret}"
