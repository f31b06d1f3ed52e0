"""A small filter expression language over traces: ``scores.correctness < 0.5 AND comment IS
NOT NULL``, for the trace list's ``where`` filter (so for dataset and scoring rules too) and the
review queue.

Grammar (keywords in any case; NOT binds tighter than AND, AND tighter than OR)::

    expression := or
    or         := and ("OR" and)*
    and        := not ("AND" not)*
    not        := "NOT" not | "(" or ")" | comparison
    comparison := field ("=" | "==" | "!=" | "<" | "<=" | ">" | ">=" | "~") value
                | field "IS" ["NOT"] "NULL"
                | field ["NOT"] "IN" "(" value ("," value)* ")"
    value      := number | 'string' | "string" | true | false | null
    field      := name | "metadata" ("." key)+ | "scores" "." (name ("." name)* | string)

A hand-written scanner and a recursive-descent parser, no regular expression and no SQL text:
an expression becomes a Django ``Q`` over ORM lookups (and aliases the queryset gets), with
its values as query parameters. Every comparison is two-valued (a missing or null value makes
it false, and its NOT true), and every input ends in the value it names or a ``WhereError``
that points at the offending token: the length, the nesting and the number of terms are
bounded, so no expression can exhaust the parser's stack or build an unbounded query.
"""

from __future__ import annotations

import difflib
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any, NoReturn

from django import forms
from django.db.models import CharField, Exists, F, Func, OuterRef, Q, QuerySet
from django.db.models.fields.json import KeyTransform

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


# -- the scanner -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    kind: str  # field, keyword, number, string, op, "(", ")", ",", end
    text: str  # as written (a keyword in lower case)
    pos: int
    value: Any = None  # a number's or a string's value; a field's path


def _is_name_start(c: str) -> bool:
    return c.isascii() and (c.isalpha() or c == "_")


def _is_name(c: str) -> bool:
    return c.isascii() and (c.isalnum() or c in "_-")


_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t", "r": "\r"}


class _Scanner:
    def __init__(self, source: str):
        self.s = source
        self.i = 0

    def fail(self, message: str, pos: int) -> NoReturn:
        raise WhereError(message, pos, self.s)

    def tokens(self) -> list[Token]:
        out: list[Token] = []
        s = self.s
        while True:
            while self.i < len(s) and s[self.i] in " \t\r\n":
                self.i += 1
            if self.i >= len(s):
                out.append(Token("end", "", self.i))
                return out
            c, start = s[self.i], self.i
            if c in "(),":
                self.i += 1
                out.append(Token(c, c, start))
            elif c in "'\"":
                out.append(self.string())
            elif c.isascii() and (c.isdigit() or c in "-.+"):
                out.append(self.number())
            elif _is_name_start(c):
                out.append(self.name())
            elif c in "=!<>~":
                op = next((o for o in OPERATORS if s.startswith(o, self.i)), None)
                if op is None:
                    self.fail(f"unexpected character {c!r} \x00 (did you mean '!='?)", start)
                self.i += len(op)
                out.append(Token("op", "=" if op == "==" else op, start))
            else:
                self.fail(f"unexpected character {c!r} \x00", start)

    def string(self) -> Token:
        s, start = self.s, self.i
        quote = s[self.i]
        self.i += 1
        chars: list[str] = []
        while True:
            if self.i >= len(s):
                self.fail(f"unterminated string: no closing {quote} for the one \x00", start)
            c = s[self.i]
            if c == quote:
                self.i += 1
                return Token("string", s[start : self.i], start, "".join(chars))
            if c == "\\":
                nxt = s[self.i + 1 : self.i + 2]
                if nxt not in _ESCAPES:
                    self.fail(
                        "unknown escape \x00: use \\\\, \\', \\\", \\n, \\t or \\r in a string",
                        self.i,
                    )
                chars.append(_ESCAPES[nxt])
                self.i += 2
            else:
                chars.append(c)
                self.i += 1

    def number(self) -> Token:
        s, start = self.s, self.i
        i = start + (1 if s[start] in "-+" else 0)
        digits_start = i
        while i < len(s) and s[i].isascii() and s[i].isdigit():
            i += 1
        whole = i > digits_start
        if i < len(s) and s[i] == ".":
            i += 1
            frac_start = i
            while i < len(s) and s[i].isascii() and s[i].isdigit():
                i += 1
            whole = whole or i > frac_start
        if not whole:
            self.fail(f"unexpected character {s[start]!r} \x00", start)
        if i < len(s) and s[i] in "eE":
            j = i + 1 + (1 if s[i + 1 : i + 2] in ("-", "+") else 0)
            k = j
            while k < len(s) and s[k].isascii() and s[k].isdigit():
                k += 1
            if k == j:
                self.fail("a number's exponent needs digits \x00", i)
            i = k
        if i < len(s) and (_is_name(s[i]) or s[i] == "."):
            self.fail(f"unexpected {s[i]!r} after a number \x00", i)
        text = s[start:i]
        self.i = i
        if len(text) > 40:
            self.fail("a number of more than 40 characters \x00", start)
        value: int | float
        if "." not in text and "e" not in text.lower() and abs(int(text)) <= MAX_NUMBER:
            value = int(text)
        else:
            value = float(text)
            if not math.isfinite(value):
                self.fail(f"the number {text} is out of range \x00", start)
        return Token("number", text, start, value)

    def name(self) -> Token:
        s, start = self.s, self.i
        path: list[str] = []
        while True:
            key_start = self.i
            if self.i < len(s) and s[self.i] in "'\"" and path:
                path.append(self.string().value)  # a quoted key: scores."regex:^a"
            else:
                while self.i < len(s) and _is_name(s[self.i]):
                    self.i += 1
                if self.i == key_start:
                    self.fail("expected a key after '.' \x00", key_start)
                path.append(s[key_start : self.i])
            if len(path) > MAX_KEYS + 1:
                self.fail(f"a field of more than {MAX_KEYS} keys \x00", key_start)
            if self.i < len(s) and s[self.i] == ".":
                self.i += 1
                continue
            break
        text = s[start : self.i]
        if len(path) == 1 and path[0].lower() in KEYWORDS:
            return Token("keyword", path[0].lower(), start)
        return Token("field", text, start, tuple(path))


# -- the parser ------------------------------------------------------------------------------


@dataclass
class Target:
    """What a comparison reads: a column, a metadata path, a scorer's newest score, the
    trace's comments or its error modes."""

    kind: str  # number, count, text, choice, time, bool, json, score, comment, error_mode
    name: str  # as written
    column: str = ""
    path: tuple[str, ...] = ()


@dataclass
class Comparison:
    target: Target
    op: str  # an operator, "in" or "null" (IS NULL)
    values: list[Any]
    pos: int


@dataclass
class Node:
    op: str  # and, or, not
    children: list[Any] = field(default_factory=list)


class _Parser:
    def __init__(self, source: str):
        self.s = source
        self.tokens = _Scanner(source).tokens()
        self.k = 0
        self.terms = 0
        self.columns = columns()

    def fail(self, message: str, pos: int) -> NoReturn:
        raise WhereError(message, pos, self.s)

    @property
    def tok(self) -> Token:
        return self.tokens[self.k]

    def at(self, kind: str, text: str | None = None) -> bool:
        return self.tok.kind == kind and (text is None or self.tok.text == text)

    def take(self) -> Token:
        token = self.tok
        self.k += 1
        return token

    def describe(self, token: Token) -> str:
        if token.kind == "end":
            return "the end"
        text = token.text if len(token.text) <= 30 else token.text[:30] + "…"
        return repr(text)

    def parse(self) -> Node | Comparison:
        if self.at("end"):
            self.fail("an empty expression \x00", 0)
        tree = self.or_(0)
        if not self.at("end"):
            if self.at(")"):
                self.fail("')' without its '(' \x00", self.tok.pos)
            self.fail(
                f"expected AND, OR or the end, not {self.describe(self.tok)} \x00", self.tok.pos
            )
        return tree

    def or_(self, depth: int) -> Node | Comparison:
        parts = [self.and_(depth)]
        while self.at("keyword", "or"):
            self.take()
            parts.append(self.and_(depth))
        return parts[0] if len(parts) == 1 else Node("or", parts)

    def and_(self, depth: int) -> Node | Comparison:
        parts = [self.not_(depth)]
        while self.at("keyword", "and"):
            self.take()
            parts.append(self.not_(depth))
        return parts[0] if len(parts) == 1 else Node("and", parts)

    def not_(self, depth: int) -> Node | Comparison:
        if depth >= MAX_DEPTH:
            self.fail(f"more than {MAX_DEPTH} nested parentheses or NOTs \x00", self.tok.pos)
        if self.at("keyword", "not"):
            self.take()
            return Node("not", [self.not_(depth + 1)])
        if self.at("("):
            opening = self.take()
            inner = self.or_(depth + 1)
            if not self.at(")"):
                self.fail(
                    f"expected ')' to close the '(' at {self._where(opening.pos)}, "
                    f"not {self.describe(self.tok)} \x00",
                    self.tok.pos,
                )
            self.take()
            return inner
        return self.comparison()

    def _where(self, pos: int) -> str:
        error = WhereError("\x00", pos, self.s)
        return f"{error.line}:{error.column}"

    def target(self) -> Target:
        token = self.tok
        if token.kind != "field":
            self.fail(f"expected a field, not {self.describe(token)} \x00", token.pos)
        self.take()
        path = token.value
        root = path[0].lower()
        if root in self.columns and len(path) == 1:
            column, kind = self.columns[root]
            return Target(kind, root, column=column)
        if root == "metadata":
            if len(path) == 1:
                self.fail("metadata needs a key: metadata.<key> \x00", token.pos)
            for key in path[1:]:
                self._check_key(key, token)
            return Target("json", token.text, path=tuple(path[1:]))
        if root == "scores":
            if len(path) == 1:
                self.fail("scores needs a scorer: scores.<scorer> \x00", token.pos)
            scorer = ".".join(path[1:])
            if len(scorer) > 200 or not scorer.strip():
                self.fail("a scorer's name is 1 to 200 characters \x00", token.pos)
            return Target("score", token.text, path=(scorer,))
        if root in ("comment", "error_mode") and len(path) == 1:
            return Target(root, root)
        names = field_names()
        close = difflib.get_close_matches(root[:40], [n.split(".")[0] for n in names], n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        shown = token.text if len(token.text) <= 30 else token.text[:30] + "…"
        self.fail(f"unknown field {shown!r} \x00 ({hint}fields: {', '.join(names)})", token.pos)

    def _check_key(self, key: str, token: Token) -> None:
        if not key or not all(_is_name(c) for c in key) or key.startswith("-"):
            self.fail(
                f"metadata key {key[:30]!r} \x00: keys are letters, digits, _ and - "
                "(not first), without quotes",
                token.pos,
            )
        try:
            int(key)
        except ValueError:
            return
        if not key.isdigit():
            self.fail(f"metadata key {key!r} reads as a number; an index is digits \x00", token.pos)

    def count(self, pos: int) -> None:
        self.terms += 1
        if self.terms > MAX_TERMS:
            self.fail(f"more than {MAX_TERMS} comparisons and IN values \x00", pos)

    def comparison(self) -> Node | Comparison:
        target = self.target()
        start = self.tokens[self.k - 1].pos
        self.count(start)
        if self.at("keyword", "is"):
            self.take()
            negated = self.at("keyword", "not")
            if negated:
                self.take()
            if not self.at("keyword", "null"):
                self.fail(
                    f"expected NULL after IS, not {self.describe(self.tok)} \x00", self.tok.pos
                )
            self.take()
            self._check_null(target, start)
            node = Comparison(target, "null", [], start)
            return Node("not", [node]) if negated else node
        negated = False
        if self.at("keyword", "not"):
            self.take()
            negated = True
            if not self.at("keyword", "in"):
                self.fail(
                    f"expected IN after NOT, not {self.describe(self.tok)} \x00", self.tok.pos
                )
        if self.at("keyword", "in"):
            self.take()
            values = self.value_list(target)
            node = Comparison(target, "in", values, start)
            return Node("not", [node]) if negated else node
        if not self.at("op"):
            self.fail(
                f"expected an operator (= != < <= > >= ~), IS or IN after {target.name[:30]!r}, "
                f"not {self.describe(self.tok)} \x00",
                self.tok.pos,
            )
        op = self.take()
        if not self.at_value():
            self.fail(
                f"expected a value after {op.text!r}, not {self.describe(self.tok)} \x00",
                self.tok.pos,
            )
        value_token = self.take()
        value = self.typed(target, op.text, value_token)
        if value is None:  # = null, != null
            if op.text not in ("=", "!="):
                self.fail("null compares with = and != only (or IS NULL) \x00", op.pos)
            self._check_null(target, start)
            node = Comparison(target, "null", [], start)
            return Node("not", [node]) if op.text == "!=" else node
        return Comparison(target, op.text, [value], start)

    def at_value(self) -> bool:
        return (
            self.at("number")
            or self.at("string")
            or (self.at("keyword") and self.tok.text in ("true", "false", "null"))
        )

    def value_list(self, target: Target) -> list[Any]:
        if not self.at("("):
            self.fail(f"expected '(' after IN, not {self.describe(self.tok)} \x00", self.tok.pos)
        self.take()
        values: list[Any] = []
        while True:
            if not self.at_value():
                self.fail(
                    f"expected a value in the list, not {self.describe(self.tok)} \x00",
                    self.tok.pos,
                )
            token = self.take()
            if values:
                self.count(token.pos)
            value = self.typed(target, "in", token)
            if value is None:
                self.fail("null is not a value of IN; use IS NULL \x00", token.pos)
            values.append(value)
            if self.at(","):
                self.take()
                continue
            if not self.at(")"):
                self.fail(
                    f"expected ',' or ')' in the list, not {self.describe(self.tok)} \x00",
                    self.tok.pos,
                )
            self.take()
            return values

    def _check_null(self, target: Target, pos: int) -> None:
        never = ("count", "choice", "bool") + (("time",) if target.column == "created_at" else ())
        if target.kind in never:
            self.fail(f"{target.name} is never null \x00", pos)

    def typed(self, target: Target, op: str, token: Token) -> Any:
        """The token's value as the target compares it; None for null."""
        kind = target.kind
        if token.kind == "keyword":
            if token.text == "null":
                return None
            value: Any = token.text == "true"
        else:
            value = token.value
        is_number = token.kind == "number"
        is_bool = token.kind == "keyword"
        what = token.text if len(token.text) <= 30 else token.text[:30] + "…"

        def refuse(expected: str):
            self.fail(f"{target.name[:30]} takes {expected}, not {what} \x00", token.pos)

        if op == "~" and kind not in ("text", "json", "comment"):
            self.fail(
                f"~ (contains) reads text, metadata and comment, not {target.name[:30]} \x00",
                token.pos,
            )
        if kind in ("number", "score", "count"):
            if not is_number:
                refuse("a number")
            if kind == "count":
                if value != int(value) or abs(value) > MAX_NUMBER:
                    refuse("a whole number")
                value = int(value)
            return value
        if kind in ("text", "choice", "error_mode", "comment"):
            if kind == "comment" and op != "~":
                self.fail("comment takes IS NULL, IS NOT NULL or ~ 'text' \x00", token.pos)
            if token.kind != "string":
                refuse("a string")
            if op in ORDERING:
                self.fail(f"{target.name} compares with =, !=, ~ and IN, not {op} \x00", token.pos)
            if kind == "choice":
                from feedback_loop.models import Sentiment

                if value not in Sentiment.values:
                    refuse(f"one of {', '.join(Sentiment.values)}")
            return value
        if kind == "bool":
            if not is_bool or op in ORDERING or op == "in":
                refuse("true or false with = or !=")
            return value
        if kind == "time":
            if token.kind != "string":
                refuse("a date or time as a string, such as '2026-11-24T10:00:00Z'")
            return self.moment(value, target, token)
        # json: numbers, strings, booleans; strings and booleans compare for (in)equality only.
        if op in ORDERING and not is_number:
            self.fail(f"{op} compares numbers; {what} compares with =, != and IN \x00", token.pos)
        if op == "~" and token.kind != "string":
            refuse("a string with ~")
        return value

    def moment(self, text: str, target: Target, token: Token) -> datetime:
        parsed: datetime | None = None
        if len(text) <= 40:
            try:
                if len(text) == 10:
                    parsed = datetime.combine(date.fromisoformat(text), time())
                elif len(text) >= 16 and text[10] in "T ":
                    parsed = datetime.fromisoformat(text.replace("Z", "+00:00", 1))
            except ValueError:
                parsed = None
        if parsed is None:
            self.fail(
                f"{target.name} takes an ISO date or time such as '2026-11-24' or "
                f"'2026-11-24T10:00:00Z', not {token.text[:40]!r} \x00",
                token.pos,
            )
        try:
            return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except OverflowError:
            self.fail(f"{token.text[:40]!r} is out of range \x00", token.pos)


def parse(source: str) -> Node | Comparison:
    """The expression's tree; raises WhereError."""
    if not isinstance(source, str):
        raise WhereError("an expression is a string \x00", 0, "")
    if len(source) > MAX_LENGTH:
        raise WhereError(
            f"the expression is {len(source):,} characters long; at most {MAX_LENGTH:,} \x00",
            MAX_LENGTH,
            source[: MAX_LENGTH + 1],
        )
    for i, c in enumerate(source):
        if c == "\x00" or "\ud800" <= c <= "\udfff":
            raise WhereError("a NUL character or a lone surrogate \x00", i, source)
    return _Parser(source).parse()


# -- to the ORM ------------------------------------------------------------------------------

_NUMBER_TYPES = ["integer", "real", "number"]  # SQLite's json_type, PostgreSQL's jsonb_typeof
_STRING_TYPES = ["text", "string"]
_BOOL_TYPES = ["true", "false", "boolean"]


class JSONTypeOf(Func):
    """The JSON type of a metadata path's value (null when the path is missing): a parameter
    path, ``json_type`` on SQLite, ``jsonb_typeof(... #> path)`` on PostgreSQL."""

    output_field = CharField()

    def __init__(self, path: tuple[str, ...]):
        super().__init__(F("metadata"))
        self.path = path

    def as_sql(self, compiler, connection, **extra_context):  # type: ignore[override]
        column, params = compiler.compile(self.source_expressions[0])
        # The path as Django's KeyTransform writes it for SQLite: digits index an array.
        path = "$" + "".join(f"[{k}]" if k.isdigit() else "." + json.dumps(k) for k in self.path)
        return f"JSON_TYPE({column}, %s)", (*params, path)

    def as_postgresql(self, compiler, connection, **extra_context):
        column, params = compiler.compile(self.source_expressions[0])
        return f"JSONB_TYPEOF({column} #> %s::text[])", (*params, list(self.path))


def _lookup(op: str) -> str:
    return {"=": "exact", "<": "lt", "<=": "lte", ">": "gt", ">=": "gte", "~": "icontains"}[op]


@dataclass
class Where:
    """A parsed expression, ready to filter traces."""

    source: str
    tree: Node | Comparison
    aliases: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.source

    def apply(self, traces: QuerySet) -> QuerySet:
        self.aliases = {}
        q = self._q(self.tree)
        return traces.alias(**self.aliases).filter(q)

    def _alias(self, expression) -> str:
        name = f"_fl_where_{len(self.aliases)}"
        self.aliases[name] = expression
        return name

    def _q(self, node: Node | Comparison) -> Q:
        if isinstance(node, Node):
            if node.op == "not":
                return ~self._q(node.children[0])
            q = self._q(node.children[0])
            for child in node.children[1:]:
                q = (q & self._q(child)) if node.op == "and" else (q | self._q(child))
            return q
        return self._leaf(node)

    def _leaf(self, c: Comparison) -> Q:
        from feedback_loop.models import ErrorMode, FeedbackEvent
        from feedback_loop.models.scoring import newest_score

        t, op, values = c.target, c.op, c.values
        if t.kind == "comment":
            events = FeedbackEvent.objects.for_trace_ref().exclude(comment="")
            if op == "null":
                return ~Q(comment_count__gt=0) & ~Q(Exists(events))
            return Q(Exists(events.filter(comment__icontains=values[0])))
        if t.kind == "error_mode":
            suggested = ErrorMode.objects.filter(suggested_for=OuterRef("pk"))
            confirmed = ErrorMode.objects.filter(reviews__trace=OuterRef("pk"))
            if op == "null":
                return ~Q(Exists(suggested)) & ~Q(Exists(confirmed))
            slugs = {"slug__in": values}
            q = Q(Exists(suggested.filter(**slugs))) | Q(Exists(confirmed.filter(**slugs)))
            return ~q if op == "!=" else q
        if t.kind == "json":
            return self._json(c)
        name = self._alias(newest_score(t.path[0])) if t.kind == "score" else t.column
        nullable = t.kind in ("score", "number", "time")
        if op == "null":
            return Q(**{f"{name}__isnull": True}) if nullable else Q(**{name: ""})
        present = Q(**{f"{name}__isnull": False}) if nullable else Q()
        if t.kind == "text" and op != "~":
            present = ~Q(**{name: ""})
        if op == "in":
            return present & Q(**{f"{name}__in": values})
        if op == "!=":
            return present & ~Q(**{name: values[0]})
        return present & Q(**{f"{name}__{_lookup(op)}": values[0]})

    def _json(self, c: Comparison) -> Q:
        path = c.target.path
        key = self._alias(_key_transform(path))
        if c.op == "null":
            return Q(**{f"{key}__isnull": True}) | Q(**{key: None})
        kind = self._alias(JSONTypeOf(path))

        def one(value: Any, op: str) -> Q:
            if isinstance(value, bool):
                types = _BOOL_TYPES
            elif isinstance(value, int | float):
                types = _NUMBER_TYPES
            else:
                types = _STRING_TYPES
            guard = Q(**{f"{kind}__isnull": False}) & Q(**{f"{kind}__in": types})
            return guard & Q(**{f"{key}__{_lookup(op)}": value})

        if c.op == "in":
            q = Q()
            for value in c.values:
                q |= one(value, "=")
            return q
        if c.op == "!=":
            # Present (not null) and different.
            value = c.values[0]
            return Q(**{f"{kind}__isnull": False}) & ~Q(**{f"{kind}": "null"}) & ~one(value, "=")
        return one(c.values[0], c.op)


def _key_transform(path: tuple[str, ...]) -> KeyTransform:
    expression: Any = "metadata"
    for key in path:
        expression = KeyTransform(key, expression)
    return expression


def compile_where(source: str) -> Where:
    """Parse an expression (raises WhereError)."""
    return Where(source, parse(source))


def apply(traces: QuerySet, source: str) -> QuerySet:
    """The traces the expression matches; raises WhereError."""
    return compile_where(source).apply(traces)


class WhereField(forms.CharField):
    """A form field reading an expression into a ``Where`` (None when empty)."""

    def clean(self, value):
        text = super().clean(value)
        if not text:
            return None
        try:
            return compile_where(text)
        except WhereError as exc:
            # The message goes in params: django-filter formats every message with "%".
            raise forms.ValidationError(
                "%(message)s", code="invalid_where", params={"message": str(exc)}
            ) from None
