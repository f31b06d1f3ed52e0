"""Two releases compared (or a release against the rest), from the traces' rollups: the server
API's ``GET stats/compare`` and the dashboard's "Releases" section.

The answers compared are the traces *created* in the window (every answer, with or without
feedback) of release A and of release B; without B, every other answer of the window (those of
no release too). Each figure is a rate with its Wilson interval per side, and A minus B with
Newcombe's interval (internal/statistics.py ``compare_rates``):

- **satisfaction**: the share of thumbs up among current thumbs votes, ``up / (up + down)``,
  the counters internal/stats.py reads (higher is better; its counts are votes, not answers);
- **regenerate, edit, abandon, copy**: the share of answers with at least one such signal
  (lower is better, except copy);
- **error modes**: the share of *all* answers whose suggested or confirmed error modes include
  the mode (lower is better). All answers, not the negative ones: a release that fails less
  often then shows it, where a share of its (fewer) negative answers could even grow.

Two queries: one grouped scan of the window's traces for the counters, and one UNION of the two
error-mode link tables (a trace suggested and confirmed the same mode counts once).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, cast

from django.db.models import Case, CharField, Count, Max, Q, QuerySet, Sum, Value, When

from feedback_loop.internal.statistics import CANT_TELL, Difference, compare_rates, wilson
from feedback_loop.models import SIGNALS_BY_NAME, Review, Trace

# (signal name, higher is better): the signals whose rate per answer is compared.
SIGNAL_RATES = (("regenerate", False), ("edit", False), ("abandon", False), ("copy", True))
MAX_ERROR_MODES = 8
MAX_RELEASES = 100


@dataclass(frozen=True)
class Side:
    """One release's rate: ``hits`` of ``n`` (votes or answers), with its Wilson interval."""

    hits: int
    n: int
    rate: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True)
class Figure:
    kind: str  # "satisfaction", "signal" or "error_mode"
    name: str  # "satisfaction", a signal's name, an error mode's slug
    label: str
    unit: str  # what n counts: "votes" or "answers"
    higher_is_better: bool
    a: Side
    b: Side
    difference: Difference

    def as_dict(self) -> dict[str, Any]:
        d = self.difference
        return {
            "kind": self.kind,
            "name": self.name,
            "label": self.label,
            "unit": self.unit,
            "higher_is_better": self.higher_is_better,
            "a": asdict(self.a),
            "b": asdict(self.b),
            "difference": None if d.low is None else _diff(d),
            "low": d.low,
            "high": d.high,
            "verdict": d.verdict,
            "more_needed": d.more_needed,
        }


def _diff(d: Difference) -> float | None:
    return None if d.rate_a is None or d.rate_b is None else d.rate_a - d.rate_b


@dataclass(frozen=True)
class Comparison:
    a: str
    b: str | None  # None: every other answer of the window
    since: datetime
    confidence: float
    answers_a: int
    answers_b: int
    figures: list[Figure]

    def as_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "since": self.since,
            "confidence": self.confidence,
            "answers": {"a": self.answers_a, "b": self.answers_b},
            "figures": [figure.as_dict() for figure in self.figures],
        }


def releases_seen(traces: QuerySet[Trace], since: datetime) -> list[str]:
    """The releases of the answers created since ``since``, newest first (by their newest)."""
    newest = (
        traces.filter(created_at__gte=since)
        .exclude(release="")
        .values("release")
        .annotate(newest=Max("created_at"))
        .order_by("-newest", "release")
    )
    return list(newest.values_list("release", flat=True)[:MAX_RELEASES])


def default_pair(releases: list[str]) -> tuple[str | None, str | None]:
    """The newest release against the one before it (against the rest when it is alone)."""
    if not releases:
        return None, None
    return releases[0], releases[1] if len(releases) > 1 else None


def window(traces: QuerySet[Trace], a: str, b: str | None, since: datetime) -> QuerySet[Trace]:
    """The answers compared: those of ``traces`` created since ``since``, of release A or B (of
    any release without B)."""
    answers = traces.filter(created_at__gte=since)
    return answers if b is None else answers.filter(release__in=[a, b])


def compare(
    traces: QuerySet[Trace],
    a: str,
    b: str | None = None,
    *,
    since: datetime,
    confidence: float = 0.95,
) -> Comparison:
    """Release ``a`` against ``b`` (or against the rest) over the answers of ``traces`` created
    since ``since`` (``traces`` already limited to the caller's projects)."""
    answers = window(traces, a, b, since)
    rows = answers.annotate(side=side_of(a)).values("side").annotate(**counts()).order_by()
    by_side: dict[str, dict[str, int]] = {"a": {}, "b": {}}
    for row in cast(Iterable[dict[str, Any]], rows):
        by_side[row["side"]] = {k: v or 0 for k, v in row.items() if k != "side"}
    if b == a:  # a release against itself: the same answers on both sides
        by_side["b"] = by_side["a"]
    sa, sb = by_side["a"], by_side["b"]
    n_a, n_b = sa.get("n", 0), sb.get("n", 0)
    figures = [satisfaction(sa, sb, confidence)]
    for name, better in SIGNAL_RATES:
        label = str(SIGNALS_BY_NAME[name].label)
        hits_a, hits_b = sa.get(name, 0), sb.get(name, 0)
        figures.append(
            figure("signal", name, label, "answers", better, hits_a, n_a, hits_b, n_b, confidence)
        )
    for slug, mode_name, hits_a, hits_b in _error_modes(answers, a):
        hits_b = hits_a if b == a else hits_b
        counted = (hits_a, n_a, hits_b, n_b)
        figures.append(
            figure("error_mode", slug, mode_name, "answers", False, *counted, confidence)
        )
    return Comparison(a, b, since, confidence, n_a, n_b, figures)


def counts() -> dict[str, Any]:
    """The aggregates a group of answers is compared by: answers (``n``), thumbs up and down
    (current votes, from the rollups), and per compared signal the answers that have one."""
    counters = {name: SIGNALS_BY_NAME[name].counter for name, _better in SIGNAL_RATES}
    return {
        "n": Count("pk"),
        "up": Sum("thumbs_up"),
        "down": Sum("thumbs_down"),
        **{name: Count("pk", filter=Q(**{f"{c}__gt": 0})) for name, c in counters.items()},
    }


def satisfaction(sa: dict[str, int], sb: dict[str, int], confidence: float = 0.95) -> Figure:
    """Satisfaction of A against B from their ``counts()``: thumbs up among the votes."""
    up_a, up_b = sa.get("up", 0), sb.get("up", 0)
    votes_a, votes_b = up_a + sa.get("down", 0), up_b + sb.get("down", 0)
    return figure("satisfaction", "satisfaction", "Satisfaction", "votes", True,
                  up_a, votes_a, up_b, votes_b, confidence)  # fmt: skip


def figure(
    kind: str,
    name: str,
    label: str,
    unit: str,
    better: bool,
    hits_a: int,
    total_a: int,
    hits_b: int,
    total_b: int,
    confidence: float = 0.95,
) -> Figure:
    return Figure(
        kind,
        name,
        label,
        unit,
        better,
        side(hits_a, total_a, confidence),
        side(hits_b, total_b, confidence),
        compare_rates(
            hits_a, total_a, hits_b, total_b, higher_is_better=better, confidence=confidence
        ),
    )


def _error_modes(answers: QuerySet[Trace], a: str) -> list[tuple[str, str, int, int]]:
    """(slug, name, answers of A, answers of B) per error mode suggested or confirmed on the
    answers compared, the most frequent first: one UNION query (which drops a trace's mode
    found in both tables)."""
    pks = answers.values("pk")
    suggested = Trace.suggested_error_modes.through.objects.filter(trace__in=pks).values_list(
        "trace_id", "errormode__slug", "errormode__name", "trace__release"
    )
    confirmed = Review.error_modes.through.objects.filter(review__trace__in=pks).values_list(
        "review__trace_id", "errormode__slug", "errormode__name", "review__trace__release"
    )
    counts: Counter[tuple[str, str, str]] = Counter()
    for _trace, slug, name, release in suggested.union(confirmed):
        counts[(slug, name, "a" if release == a else "b")] += 1
    modes = {(slug, name) for slug, name, _where in counts}
    rows = [
        (slug, name, counts[(slug, name, "a")], counts[(slug, name, "b")]) for slug, name in modes
    ]
    rows.sort(key=lambda row: (-(row[2] + row[3]), row[0]))
    return rows[:MAX_ERROR_MODES]


def side_of(a: str, prefix: str = "") -> Case:
    """ "a" for an answer of release A, else "b"."""
    return Case(
        When(**{f"{prefix}release": a}, then=Value("a")),
        default=Value("b"),
        output_field=CharField(),
    )


def verdict_words(figure: Figure) -> str:
    """The verdict for people: "better", "worse", or "can't tell yet: about N more answers a
    side"."""
    d = figure.difference
    if d.verdict != CANT_TELL:
        return d.verdict
    if d.more_needed:
        return f"{CANT_TELL}: about {d.more_needed:,} more {figure.unit} a side"
    return CANT_TELL


def side(hits: int, n: int, confidence: float = 0.95) -> Side:
    """``hits`` of ``n`` with its Wilson interval."""
    interval = wilson(hits, n, confidence)
    return Side(
        hits,
        n,
        hits / n if n else None,
        interval[0] if interval else None,
        interval[1] if interval else None,
    )
