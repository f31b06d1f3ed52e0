"""Pure functions from a trace's events to its rolled-up figures; no database access.

The figures come from a *tally* (the counters a trace stores: current votes up and down, the
current ratings' count, sum, and how many lie above and below the middle, comments, and one
counter per implicit kind). The recompute path tallies all of a trace's events (``rollup``); the
incremental pipeline adds the tally of its new events to the stored one, and replaces a voter's
superseded vote by its delta (``internal/increments.py``). Both end in ``figures``, so they give
the same rollups for the same events.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from feedback_loop.models import (
    COUNTED_BY_KIND,
    SIGNALS,
    VOTE_KINDS,
    EventKind,
    Sentiment,
    claimed_voter,
)

TALLY_FIELDS = (
    "thumbs_up",
    "thumbs_down",
    "rating_count",
    "rating_sum",
    "ratings_high",
    "ratings_low",
    "comment_count",
    *COUNTED_BY_KIND.values(),
)
ROLLUP_FIELDS = (*TALLY_FIELDS, "sentiment", "score", "rating_avg", "last_signal_at", "strength")

Tally = dict[str, Any]  # counts, and the ratings' sum


def voter(event) -> str:
    """Who cast a vote: the voter capture recorded (the end user or session its token binds, or
    the ids the event claims), else, for events stored before voters were, the same from its
    ids; anonymous votes each stand alone."""
    return getattr(event, "voter", "") or claimed_voter(event.user_id, event.session_id, event.pk)


def newer(event, than) -> bool:
    """Whether ``event`` supersedes ``than`` (by the user's clock, then arrival)."""
    return (event.timestamp, event.pk) > (than.timestamp, than.pk)


def current_votes(events: Iterable, kind: str) -> dict[str, Any]:
    """The latest event of ``kind`` per voter."""
    latest: dict[str, Any] = {}
    for event in events:
        if event.kind != kind:
            continue
        key = voter(event)
        seen = latest.get(key)
        if seen is None or newer(event, seen):
            latest[key] = event
    return latest


def normalized_rating(value: float, scale: int) -> float:
    """A rating from 1..scale mapped onto -1..1 (3 of 5 is 0)."""
    return (value - 1) / (scale - 1) * 2 - 1 if scale > 1 else 0.0


def empty_tally() -> Tally:
    return dict.fromkeys(TALLY_FIELDS, 0)


def add_event(tally: Tally, event) -> None:
    """Count one event's non-vote signals: its comment, and its kind's counter."""
    if event.comment:
        tally["comment_count"] += 1
    counter = COUNTED_BY_KIND.get(event.kind)
    if counter:
        tally[counter] += 1


def add_vote(tally: Tally, kind: str, value: float | None, scale: int, sign: int = 1) -> None:
    """Count (``sign`` 1) or take back (-1) a voter's current thumbs or rating."""
    if kind == EventKind.THUMBS:
        if value and value > 0:
            tally["thumbs_up"] += sign
        elif value and value < 0:
            tally["thumbs_down"] += sign
    elif kind == EventKind.RATING and value is not None:
        tally["rating_count"] += sign
        tally["rating_sum"] += sign * value
        scaled = normalized_rating(value, scale)
        if scaled > 0:
            tally["ratings_high"] += sign
        elif scaled < 0:
            tally["ratings_low"] += sign


def figures(tally: Tally, last_signal_at: datetime | None, scale: int) -> dict[str, Any]:
    """The rollup fields from a tally."""
    up, down = tally["thumbs_up"], tally["thumbs_down"]
    count, total = tally["rating_count"], tally["rating_sum"]
    scaled_sum = (2 * (total - count) / (scale - 1) - count) if scale > 1 else 0.0
    votes = up + down + count
    result: dict[str, Any] = {
        **tally,
        "rating_avg": total / count if count else None,
        "score": round((up - down + scaled_sum) / votes, 6) if votes else None,
        "last_signal_at": last_signal_at,
    }
    result["strength"] = strength(result)
    result["sentiment"] = sentiment(
        explicit_positive=up + tally["ratings_high"],
        explicit_negative=down + tally["ratings_low"],
        implicit_positive=sum(tally[s.counter] for s in SIGNALS if s.implicit > 0),
        implicit_negative=sum(tally[s.counter] for s in SIGNALS if s.implicit < 0),
    )
    return result


def rollup(events: Sequence, rating_scale: int) -> dict[str, Any]:
    """The rollup fields of one trace from all of its events."""
    tally = empty_tally()
    for event in events:
        add_event(tally, event)
    for kind in VOTE_KINDS:
        for vote in current_votes(events, kind).values():
            add_vote(tally, kind, vote.value, rating_scale)
    return figures(tally, max((e.timestamp for e in events), default=None), rating_scale)


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
