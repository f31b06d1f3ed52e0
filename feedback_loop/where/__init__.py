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

A metadata path alone (``metadata_path``) and its value as text (``JSONText``) are what the
figures by segment read (internal/segments.py), by the same rules.
"""

from feedback_loop.where.orm import JSONText, Where, WhereField, apply, compile_where
from feedback_loop.where.parser import metadata_path, parse
from feedback_loop.where.syntax import (
    MAX_DEPTH,
    MAX_KEYS,
    MAX_LENGTH,
    MAX_TERMS,
    WhereError,
    field_names,
)

__all__ = [
    "MAX_DEPTH",
    "MAX_KEYS",
    "MAX_LENGTH",
    "MAX_TERMS",
    "JSONText",
    "Where",
    "WhereError",
    "WhereField",
    "apply",
    "compile_where",
    "field_names",
    "metadata_path",
    "parse",
]
