"""The recursive-descent parser: tokens into a tree of comparisons, every field and value
checked, the nesting and the number of terms bounded."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any, NoReturn

from feedback_loop.where.scanner import Scanner, Token, is_name
from feedback_loop.where.syntax import (
    MAX_DEPTH,
    MAX_LENGTH,
    MAX_NUMBER,
    MAX_TERMS,
    ORDERING,
    WhereError,
    columns,
    field_names,
)

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


class Parser:
    def __init__(self, source: str):
        self.s = source
        self.tokens = Scanner(source).tokens()
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
        if not key or not all(is_name(c) for c in key) or key.startswith("-"):
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
    _check_source(source, "expression", MAX_LENGTH)
    return Parser(source).parse()


def metadata_path(source: str, max_length: int = MAX_LENGTH) -> tuple[str, ...]:
    """The keys of a metadata path written as an expression writes it (``metadata.plan``,
    ``metadata.user.locale``: ``("plan",)``, ``("user", "locale")``), its keys checked by the
    same rules; raises WhereError for anything else."""
    _check_source(source, "metadata path", max_length)
    parser = Parser(source)
    if parser.at("end"):
        parser.fail("an empty field: expected metadata.<key> \x00", 0)
    token = parser.tok
    if token.kind != "field" or token.value[0].lower() != "metadata":
        bare = token.kind == "field" and len(token.value) == 1 and len(token.text) <= 30
        hint = f" (did you mean metadata.{token.text}?)" if bare else ""
        parser.fail(f"expected metadata.<key>, not {parser.describe(token)} \x00{hint}", token.pos)
    target = parser.target()
    if not parser.at("end"):
        parser.fail(
            f"expected the end after {target.name[:30]!r}, not {parser.describe(parser.tok)} \x00",
            parser.tok.pos,
        )
    return target.path


def _check_source(source: str, what: str, max_length: int) -> None:
    if not isinstance(source, str):
        article = "an" if what[0] in "aeiou" else "a"
        raise WhereError(f"{article} {what} is a string \x00", 0, "")
    if len(source) > max_length:
        raise WhereError(
            f"the {what} is {len(source):,} characters long; at most {max_length:,} \x00",
            max_length,
            source[: max_length + 1],
        )
    for i, c in enumerate(source):
        if c == "\x00" or "\ud800" <= c <= "\udfff":
            raise WhereError("a NUL character or a lone surrogate \x00", i, source)
