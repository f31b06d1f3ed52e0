"""Scorers by name: ``name`` or ``name:argument`` in ``--scorer`` and ``evaluate(scorers=[...])``,
e.g. ``exact``, ``regex:^\\{``, ``contains:Paris``, ``length:1.5``, ``json_schema:schema.json``,
``judge``, ``error_mode``, or a dotted path to a scorer of the host's."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.utils.module_loading import import_string

from feedback_loop.evaluation.error_modes import error_mode
from feedback_loop.evaluation.judge import judge
from feedback_loop.evaluation.scoring import (
    Scorer,
    contains,
    exact,
    json_schema,
    json_valid,
    length,
    refusal,
    regex,
    similarity,
)

# name -> a scorer, or a factory taking the text after "name:".
BUILT_IN: dict[str, Callable[..., Any]] = {
    "exact": exact,
    "json_valid": json_valid,
    "similarity": similarity,
    "refusal": refusal,
}
FACTORIES: dict[str, Callable[[str], Scorer]] = {
    "contains": lambda argument: contains(argument or None),
    "regex": regex,
    "json_schema": json_schema,
    "length": lambda argument: length(float(argument) if argument else 1.5),
}
# Scorers that need no expected output: what online scoring may run on live answers.
REFERENCE_FREE = ("json_valid", "length", "refusal", "judge", "regex", "json_schema")


class UnknownScorer(ValueError):
    pass


def resolve(spec: str | Callable) -> tuple[str, Scorer]:
    """``"exact"``, ``"regex:^a"``, ``"pkg.module:function"`` or a callable -> (name, scorer)."""
    if callable(spec):
        return getattr(spec, "__name__", type(spec).__name__), spec
    name, _, argument = spec.partition(":")
    if name in BUILT_IN and not argument:
        return name, BUILT_IN[name]
    if name in FACTORIES:
        try:
            return spec, FACTORIES[name](argument)
        except (ValueError, re.error, OSError) as exc:
            raise UnknownScorer(f"scorer {spec!r}: {exc}") from exc
    if name == "error_mode":
        return name, error_mode
    if name == "judge":
        return spec, judge(argument or None)
    if "." in name:
        try:
            return spec, import_string(spec.replace(":", "."))
        except ImportError as exc:
            raise UnknownScorer(f"cannot import the scorer {spec!r} ({exc})") from exc
    known = ", ".join(sorted({*BUILT_IN, *FACTORIES, "error_mode", "judge"}))
    raise UnknownScorer(f"no scorer named {spec!r}; the built-in scorers are {known}")
