"""Pure functions from a trace's events to its rolled-up figures; no database access.

Rollups are always computed from all of a trace's events, never added to: running the pipeline
twice, or after a crash half-way, gives the same figures.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from feedback_loop.models import COUNTED_BY_KIND, SIGNALS, EventKind, Sentiment

ROLLUP_FIELDS = (
    "sentiment",
    "score",
    "thumbs_up",
    "thumbs_down",
    "rating_avg",
    "rating_count",
    "comment_count",
    "edit_count",
    "regenerate_count",
    "copy_count",
    "abandon_count",
    "last_signal_at",
    "strength",
)


def voter(event) -> tuple[str, Any]:
    """Who cast a vote: the voter capture recorded (the end user or session its token binds),
    else the end user id, else the session id; anonymous votes each stand alone."""
    if getattr(event, "voter", ""):
        return ("voter", event.voter)
    if event.user_id:
        return ("user", event.user_id)
    if event.session_id:
        return ("session", event.session_id)
    return ("event", event.pk)


def current_votes(events: Iterable, kind: str) -> dict[tuple[str, Any], Any]:
    """The latest event of ``kind`` per voter (by the user's clock, then arrival)."""
    latest: dict[tuple[str, Any], Any] = {}
    for event in events:
        if event.kind != kind:
            continue
        key = voter(event)
        seen = latest.get(key)
        if seen is None or (event.timestamp, event.pk) > (seen.timestamp, seen.pk):
            latest[key] = event
    return latest


def normalized_rating(value: float, scale: int) -> float:
    """A rating from 1..scale mapped onto -1..1 (3 of 5 is 0)."""
    return (value - 1) / (scale - 1) * 2 - 1 if scale > 1 else 0.0


def rollup(events: Sequence, rating_scale: int) -> dict[str, Any]:
    """The rollup fields of one trace from all of its events."""
    thumbs = [e.value for e in current_votes(events, EventKind.THUMBS).values()]
    ratings = [e.value for e in current_votes(events, EventKind.RATING).values()]
    up = sum(1 for v in thumbs if v and v > 0)
    down = sum(1 for v in thumbs if v and v < 0)
    scaled = [normalized_rating(v, rating_scale) for v in ratings]
    votes = [1.0] * up + [-1.0] * down + scaled
    figures: dict[str, Any] = {
        "thumbs_up": up,
        "thumbs_down": down,
        "rating_count": len(ratings),
        "rating_avg": sum(ratings) / len(ratings) if ratings else None,
        "score": round(sum(votes) / len(votes), 6) if votes else None,
        "comment_count": sum(1 for e in events if e.comment),
        "last_signal_at": max((e.timestamp for e in events), default=None),
    }
    for counter in COUNTED_BY_KIND.values():
        figures[counter] = 0
    for event in events:
        field = COUNTED_BY_KIND.get(event.kind)
        if field:
            figures[field] += 1
    figures["strength"] = strength(figures)
    figures["sentiment"] = sentiment(
        explicit_positive=up + sum(1 for s in scaled if s > 0),
        explicit_negative=down + sum(1 for s in scaled if s < 0),
        implicit_positive=sum(figures[s.counter] for s in SIGNALS if s.implicit > 0),
        implicit_negative=sum(figures[s.counter] for s in SIGNALS if s.implicit < 0),
    )
    return figures


def strength(figures: dict[str, Any]) -> int:
    """How much feedback a trace has, for sorting the queue: each signal's count times its
    weight (votes and edits weigh most; see ``SIGNALS``)."""
    return sum(signal.weight * figures[signal.counter] for signal in SIGNALS)


def sentiment(
    *,
    explicit_positive: int,
    explicit_negative: int,
    implicit_positive: int,
    implicit_negative: int,
) -> str:
    """Votes decide when there are any; otherwise edits, regenerates and abandons count against
    the answer and copies for it."""
    positive, negative = explicit_positive, explicit_negative
    if not positive and not negative:
        positive, negative = implicit_positive, implicit_negative
    if positive and negative:
        return Sentiment.MIXED
    if positive:
        return Sentiment.POSITIVE
    if negative:
        return Sentiment.NEGATIVE
    return Sentiment.NONE


def squash(text: str) -> str:
    """Text with runs of whitespace collapsed: edits equal after this are trivial."""
    return " ".join(text.split())


def is_trivial_edit(original: str, edited: str) -> bool:
    return squash(original) == squash(edited)
