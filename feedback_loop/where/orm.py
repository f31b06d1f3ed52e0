"""From a parsed expression to the ORM: a ``Q`` over lookups and the aliases it needs, with
every value a query parameter; and the form field the filters read expressions with."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.db.models import CharField, Exists, F, Func, OuterRef, Q, QuerySet
from django.db.models.fields.json import KeyTransform

from feedback_loop.where.parser import Comparison, Node, parse
from feedback_loop.where.syntax import WhereError

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
        return f"JSON_TYPE({column}, %s)", (*params, _sqlite_path(self.path))

    def as_postgresql(self, compiler, connection, **extra_context):
        column, params = compiler.compile(self.source_expressions[0])
        return f"JSONB_TYPEOF({column} #> %s::text[])", (*params, list(self.path))


class JSONText(Func):
    """A metadata path's value as text, alike on SQLite and PostgreSQL: a string as it is,
    ``true`` and ``false``, a number as the database writes it (``42``, ``2.5``), an object
    ``{…}`` and a list ``[…]`` (their text differs between the two); null when the path is
    missing or its value is null, as ``metadata.<key> IS NULL`` reads it."""

    output_field = CharField()

    def __init__(self, path: tuple[str, ...]):
        super().__init__(F("metadata"))
        self.path = path

    def as_sql(self, compiler, connection, **extra_context):  # type: ignore[override]
        column, params = compiler.compile(self.source_expressions[0])
        path = _sqlite_path(self.path)
        # JSON_EXTRACT gives SQL values: 1 for true, a real for 2.5; the type names the booleans.
        sql = (
            f"CASE JSON_TYPE({column}, %s) WHEN 'null' THEN NULL WHEN 'true' THEN 'true' "
            "WHEN 'false' THEN 'false' WHEN 'object' THEN '{…}' WHEN 'array' THEN '[…]' "
            f"ELSE CAST(JSON_EXTRACT({column}, %s) AS TEXT) END"
        )
        return sql, (*params, path, *params, path)

    def as_postgresql(self, compiler, connection, **extra_context):
        column, params = compiler.compile(self.source_expressions[0])
        keys = list(self.path)
        sql = (
            f"CASE JSONB_TYPEOF({column} #> %s::text[]) WHEN 'null' THEN NULL "
            "WHEN 'object' THEN '{…}' WHEN 'array' THEN '[…]' "
            f"ELSE {column} #>> %s::text[] END"
        )
        return sql, (*params, keys, *params, keys)


def _sqlite_path(keys: tuple[str, ...]) -> str:
    """A path as Django's KeyTransform writes it for SQLite: digits index an array."""
    return "$" + "".join(f"[{k}]" if k.isdigit() else "." + json.dumps(k) for k in keys)


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
