"""Figures by segment: answers grouped by the value of a metadata key (``metadata.feature``,
``metadata.plan``, ``metadata.user.locale``), for the dashboard's "Satisfaction by" section and
the release comparison's ``by`` (``GET stats/compare?by=``).

The key is a metadata path as the filter language writes it, checked by the same rules
(feedback_loop.where): anything else is a ``ValueError`` naming it. A trace's value is read as
text alike on SQLite and PostgreSQL (``true``, ``42``, ``2.5``; where.JSONText). The segments:
the ``limit`` values with the most answers, one each; every other value together (``other``);
the answers without the key, or with null (``none``). Each segment's figures are those of the
whole: satisfaction is thumbs up among current votes with its Wilson interval, a signal's rate
the share of answers with one; in a comparison, A against B with Newcombe's interval and its
verdict (internal/releases.py).

One grouped query per figure set: the top values are a subquery of the grouping, so the answer
has at most ``limit`` + 2 groups (per side) however many values the key has.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, cast

from django.db.models import Case, CharField, Count, QuerySet, Value, When
from django.db.models.functions import Concat
from django.db.models.lookups import In, IsNull

from feedback_loop.internal import releases
from feedback_loop.internal.releases import SIGNAL_RATES, Figure, Side
from feedback_loop.models import Trace
from feedback_loop.where import JSONText, WhereError, metadata_path

MAX_VALUES = 10
MAX_KEY_LENGTH = 200
VALUE, OTHER, NONE = "value", "other", "none"
# How the grouping writes a segment: a value behind "=", or one of these.
_NONE, _OTHER = "-", "+"
_ORDER = {VALUE: 0, OTHER: 1, NONE: 2}


@dataclass(frozen=True)
class Key:
    """A metadata key to break figures down by: ``source`` as written, ``path`` its keys."""

    source: str
    path: tuple[str, ...]

    @property
    def name(self) -> str:
        """The key without ``metadata.``: ``plan``, ``user.locale``."""
        return ".".join(self.path)


def parse_key(source: str) -> Key:
    """The key of ``metadata.<key>`` (a path of the filter language); a ``ValueError`` that
    names what was given and says why otherwise."""
    shown = repr(source[:40] + "…" if len(source) > 40 else source)
    if not source.strip():
        raise ValueError("an empty key: break down by a metadata key such as metadata.plan")
    try:
        path = metadata_path(source, MAX_KEY_LENGTH)
    except WhereError as exc:
        raise ValueError(
            f"{shown} is not a metadata key such as metadata.plan: {exc.message}"
        ) from None
    return Key(source, path)


@dataclass(frozen=True)
class Segment:
    """The answers of one value (``group`` VALUE), of the other values (OTHER) or without the
    key (NONE): how many, their satisfaction, and per signal of releases.SIGNAL_RATES the share
    of answers with one."""

    group: str
    value: str | None
    answers: int
    satisfaction: Side
    signals: dict[str, Side]

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "value": self.value,
            "answers": self.answers,
            "satisfaction": asdict(self.satisfaction),
            "signals": {name: asdict(side) for name, side in self.signals.items()},
        }


@dataclass(frozen=True)
class SegmentComparison:
    """One segment's satisfaction in release A against B (a ``releases.Figure``)."""

    group: str
    value: str | None
    answers_a: int
    answers_b: int
    satisfaction: Figure

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "value": self.value,
            "answers": {"a": self.answers_a, "b": self.answers_b},
            "satisfaction": self.satisfaction.as_dict(),
        }


def breakdown(
    answers: QuerySet[Trace], key: Key, *, limit: int = MAX_VALUES, confidence: float = 0.95
) -> list[Segment]:
    """The figures of ``answers`` (a window, already limited to the caller's projects) per
    segment of ``key``: the values by answers, most first, then other, then none."""
    rows = (
        answers.annotate(segment=_segment(answers, key, limit))
        .values("segment")
        .annotate(**releases.counts())
        .order_by()
    )
    segments = []
    for row in cast(Iterable[dict[str, Any]], rows):
        group, value = _decode(row["segment"])
        n, up, down = row["n"], row["up"] or 0, row["down"] or 0
        signals = {name: releases.side(row[name], n, confidence) for name, _better in SIGNAL_RATES}
        segments.append(Segment(group, value, n, releases.side(up, up + down, confidence), signals))
    return sorted(segments, key=lambda s: (_ORDER[s.group], -s.answers, s.value or ""))


def compare(
    traces: QuerySet[Trace],
    key: Key,
    a: str,
    b: str | None = None,
    *,
    since,
    limit: int = MAX_VALUES,
    confidence: float = 0.95,
) -> list[SegmentComparison]:
    """Per segment of ``key``, satisfaction of release ``a`` against ``b`` (or the rest) over
    the answers releases.compare compares; the segments are the values with the most answers
    on both sides together."""
    answers = releases.window(traces, a, b, since)
    rows = (
        answers.annotate(side=releases.side_of(a), segment=_segment(answers, key, limit))
        .values("side", "segment")
        .annotate(**releases.counts())
        .order_by()
    )
    counted: dict[str, dict[str, dict[str, int]]] = {}
    for row in cast(Iterable[dict[str, Any]], rows):
        sides = counted.setdefault(row["segment"], {"a": {}, "b": {}})
        sides[row["side"]] = {k: v or 0 for k, v in row.items() if k not in ("side", "segment")}
    comparisons = []
    for segment, sides in counted.items():
        if b == a:  # a release against itself: the same answers on both sides
            sides["b"] = sides["a"]
        group, value = _decode(segment)
        comparisons.append(
            SegmentComparison(
                group,
                value,
                sides["a"].get("n", 0),
                sides["b"].get("n", 0),
                releases.satisfaction(sides["a"], sides["b"], confidence),
            )
        )
    return sorted(
        comparisons,
        key=lambda s: (_ORDER[s.group], -(s.answers_a + s.answers_b), s.value or ""),
    )


def _segment(answers: QuerySet[Trace], key: Key, limit: int) -> Case:
    """A trace's segment as text: "=" and its value for one of the ``limit`` values with the
    most answers in ``answers`` (ties by value), "+" for another value, "-" without one."""
    top = (
        answers.annotate(_fl_value=JSONText(key.path))
        .filter(_fl_value__isnull=False)
        .values("_fl_value")
        .annotate(_fl_n=Count("pk"))
        .order_by("-_fl_n", "_fl_value")
        .values("_fl_value")[:limit]
    )
    value = JSONText(key.path)
    return Case(
        When(IsNull(value, True), then=Value(_NONE)),
        When(In(value, top), then=Concat(Value("="), value, output_field=CharField())),
        default=Value(_OTHER),
        output_field=CharField(),
    )


def _decode(segment: str) -> tuple[str, str | None]:
    if segment == _NONE:
        return NONE, None
    if segment == _OTHER:
        return OTHER, None
    return VALUE, segment[1:]
