from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

# Deep enough for any metadata a host sends, shallow enough that validating, storing and
# rendering a body (all recursive) stay far from Python's recursion limit.
MAX_DEPTH = 64
_TOO_DEEP = f"JSON parse error - the body is nested deeper than {MAX_DEPTH} levels; flatten it."


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with the nesting of a body bounded. DRF's lets the ``RecursionError``
    of a 100,000-deep body through (a 500), and one a few hundred levels deep parses but fails
    later, in validation."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(_TOO_DEEP) from None
        if _deeper_than(data, MAX_DEPTH):
            raise ParseError(_TOO_DEEP)
        return data


def _deeper_than(value: Any, limit: int) -> bool:
    # A walk with a stack of its own: the check must not recurse either.
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children: Iterable[Any]
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False
