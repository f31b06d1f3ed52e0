"""Feedback figures, for the server API's stats and the admin's dashboard.

**Satisfaction** means one thing everywhere: the share of thumbs up among end users' current
thumbs votes (each voter's latest thumbs on an answer; a retracted one is no vote),
``up / (up + down)``. The API counts the votes cast in its window from the events; the dashboard
reads the same current votes from the traces' rollups (the traces whose last signal is in its
window), which stays fast on a large database.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from django.db.models import Avg, Count, F, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, TruncDate

from feedback_loop.models import (
    NEEDS_REVIEW,
    SIGNALS,
    EventKind,
    Review,
    Sentiment,
    Trace,
)
from feedback_loop.models.events import FeedbackEventQuerySet


def satisfaction(up: int, down: int) -> float | None:
    """The share of thumbs up among current thumbs votes, or None without votes."""
    return round(up / (up + down), 4) if up + down else None


# -- from the events: the server API's GET stats -----------------------------------------------

_UP = Count("id", filter=Q(kind=EventKind.THUMBS, value__gt=0))
_DOWN = Count("id", filter=Q(kind=EventKind.THUMBS, value__lt=0))
_RATING = Avg("value", filter=Q(kind=EventKind.RATING))


def _figures(up: int, down: int, rating: float | None) -> dict[str, Any]:
    return {
        "thumbs_up": up,
        "thumbs_down": down,
        "satisfaction": satisfaction(up, down),
        "rating_avg": rating,
    }


def event_stats(events: FeedbackEventQuerySet, reviews: QuerySet[Review], since: datetime):
    """Satisfaction in all and by day, signals by kind, error modes reported and confirmed, and
    satisfaction by model, for the votes cast since ``since`` (``events`` and ``reviews``
    already limited to the caller's projects)."""
    events = events.filter(timestamp__gte=since)
    votes = events.current().filter(kind__in=[EventKind.THUMBS, EventKind.RATING])
    by_kind = dict(events.values_list("kind").annotate(n=Count("id")).order_by())
    totals = votes.aggregate(up=_UP, down=_DOWN, rating=_RATING)
    return {
        "since": since,
        "totals": {
            "events": sum(by_kind.values()),
            **_figures(totals["up"], totals["down"], totals["rating"]),
        },
        "by_day": _votes_by_day(votes),
        "by_kind": by_kind,
        "by_error_mode": _error_modes(votes, reviews.filter(updated_at__gte=since)),
        "by_model": _votes_by_model(votes),
    }


def _votes_by_day(votes: FeedbackEventQuerySet) -> list[dict[str, Any]]:
    rows = (
        votes.annotate(day=TruncDate("timestamp"))
        .values("day")
        .annotate(up=_UP, down=_DOWN, rating=_RATING)
        .order_by("day")
    )
    return [
        {"date": row["day"].isoformat(), **_figures(row["up"], row["down"], row["rating"])}
        for row in rows
    ]


def _error_modes(votes: FeedbackEventQuerySet, reviews: QuerySet[Review]) -> list[dict]:
    """Reasons users gave on their current negative votes, and modes reviewers confirmed."""
    reported: Counter[str] = Counter()
    for reasons in votes.votes("negative").exclude(reasons=[]).values_list("reasons", flat=True):
        reported.update(reasons)
    confirmed = Counter(
        dict(
            reviews.values_list("error_modes__slug")
            .annotate(n=Count("id"))
            .exclude(error_modes__slug=None)
            .order_by()
        )
    )
    slugs = sorted(set(reported) | set(confirmed), key=lambda s: -reported[s] - confirmed[s])
    return [
        {"error_mode": slug, "reported": reported[slug], "confirmed": confirmed[slug]}
        for slug in slugs
    ]


def _votes_by_model(votes: FeedbackEventQuerySet) -> list[dict[str, Any]]:
    model_of = Trace.objects.for_event_ref().values("model")[:1]
    # Unregistered traces (no row, NULL) and traces without a model share one row.
    rows = (
        votes.annotate(model=Coalesce(Subquery(model_of), Value("")))
        .values("model")
        .annotate(up=_UP, down=_DOWN, rating=_RATING)
        .order_by(F("model").asc(nulls_first=True))
    )
    return [
        {"model": row["model"] or "", **_figures(row["up"], row["down"], row["rating"])}
        for row in rows
    ]


# -- from the traces' rollups: the dashboard ---------------------------------------------------


def trace_figures(traces: QuerySet[Trace], now: datetime, days: int) -> dict[str, Any]:
    """The dashboard's figures for the traces with a signal in the last ``days``: votes and
    satisfaction per (UTC) day, signals by counter, and traces (all, negative) per model, from
    one scan of the window's traces grouped by day and model. On PostgreSQL the statistics
    object of migration 0006 tells the planner there are few such groups, so it aggregates in a
    hash table instead of sorting the whole window."""
    since = now - timedelta(days=days)
    counters = [signal.counter for signal in SIGNALS]
    rows = (
        traces.filter(last_signal_at__gte=since)
        .annotate(day=TruncDate("last_signal_at", tzinfo=UTC))
        .values("day", "model")
        .annotate(
            total=Count("pk"),
            negative=Count("pk", filter=Q(sentiment__in=NEEDS_REVIEW)),
            positive=Count("pk", filter=Q(sentiment=Sentiment.POSITIVE)),
            **{name: Sum(name) for name in counters},
        )
        .order_by()
    )
    votes_by_day: dict = defaultdict(lambda: [0, 0])
    by_model: dict = defaultdict(lambda: [0, 0])
    signals = dict.fromkeys(counters, 0)
    for row in cast(Iterable[dict[str, Any]], rows):
        votes_by_day[row["day"]][0] += row["thumbs_up"] or 0
        votes_by_day[row["day"]][1] += row["thumbs_down"] or 0
        by_model[row["model"]][0] += row["total"]
        by_model[row["model"]][1] += row["negative"]
        for name in counters:
            signals[name] += row[name] or 0
    today = now.astimezone(UTC).date()
    daily = [
        (day, *votes_by_day.get(day, (0, 0)))
        for day in (today - timedelta(days=offset) for offset in range(days - 1, -1, -1))
    ]
    up, down = sum(d[1] for d in daily), sum(d[2] for d in daily)
    return {
        "daily": daily,  # (date, thumbs up, thumbs down)
        "up": up,
        "down": down,
        "satisfaction": satisfaction(up, down),
        "signals": signals,
        "by_model": dict(by_model),  # model -> [traces, negative traces]
    }


def negative_by_error_mode(traces: QuerySet[Trace]) -> dict[str, tuple[int, int]]:
    """Negative (or mixed) traces per error mode name: (suggested, confirmed), from the link
    tables, which are smaller than the traces."""
    negative = traces.filter(sentiment__in=NEEDS_REVIEW).values("pk")
    suggested = dict(
        Trace.suggested_error_modes.through.objects.filter(trace__in=negative)
        .values_list("errormode__name")
        .annotate(n=Count("trace_id"))
        .order_by()
    )
    confirmed = dict(
        Review.error_modes.through.objects.filter(review__trace__in=negative)
        .values_list("errormode__name")
        .annotate(n=Count("review_id"))
        .order_by()
    )
    return {
        name: (suggested.get(name, 0), confirmed.get(name, 0)) for name in {*suggested, *confirmed}
    }
