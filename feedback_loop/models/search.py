"""The expression the full-text search indexes and queries share (internal/search.py; the GIN
indexes of migration 0018): PostgreSQL uses an index only for the same expression."""

from __future__ import annotations

from django.contrib.postgres.search import SearchVector
from django.db.models import F, Func, TextField, Value

CONFIG = "simple"  # no language's stemming or stop words: users write in every language


def searchable(field: str) -> Func:
    """A column as the search reads it: with ``<`` and ``>`` made spaces, so that PostgreSQL's
    parser, which skips what looks like an HTML tag, keeps the words of code and markup."""
    return Func(F(field), Value("<>"), Value("  "), function="translate", output_field=TextField())


def search_vector(*fields: str) -> SearchVector:
    return SearchVector(*(searchable(field) for field in fields), config=CONFIG)
