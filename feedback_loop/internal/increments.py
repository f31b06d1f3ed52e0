"""The incremental pipeline's arithmetic: a trace's stored tally moved on by its new events only.

Each new event adds its own signals (its comment, its kind's counter). A new vote replaces the
voter's current vote on the trace (``CurrentVote``) only when it is newer by the user's clock,
then by arrival, and moves the tally by the difference, so votes arriving out of order end where
the recompute path ends. The caller holds the traces' row locks and marks the events processed
in the same transaction: a re-run or a duplicate delivery finds them processed and adds nothing.

The recompute path (``rollup.rollup``, the repair command ``feedback_loop_rebuild_rollups``)
writes the current votes again from all events (``rebuild_votes``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import router
from django.db.models import F

from feedback_loop.internal.rollup import (
    TALLY_FIELDS,
    add_event,
    add_vote,
    current_votes,
    figures,
)
from feedback_loop.internal.sql import AnyOf, insert_rows, loaded
from feedback_loop.models import VOTE_KINDS, CurrentVote, FeedbackEvent, Trace, TraceKey

VoteKey = tuple[int, str, str]  # (trace pk, kind, voter)


def advance(
    traces: dict[TraceKey, Trace], new: dict[TraceKey, list[FeedbackEvent]], scale: int
) -> dict[TraceKey, dict[str, Any]]:
    """The rollup fields of the traces that have new events, from their stored tallies and the
    new events; writes the votes that became current."""
    tallies = {key: {f: getattr(traces[key], f) for f in TALLY_FIELDS} for key in new}
    for key, events in new.items():
        for event in events:
            add_event(tallies[key], event)

    candidates: dict[VoteKey, tuple[TraceKey, FeedbackEvent]] = {}
    for key, events in new.items():
        for kind in VOTE_KINDS:
            for voter, event in current_votes(events, kind).items():
                candidates[(traces[key].pk, kind, voter)] = (key, event)
    stored = _stored_votes(candidates)
    replaced: list[CurrentVote] = []
    for vote_key, (key, event) in candidates.items():
        old = stored.get(vote_key)
        if old is not None and (old.timestamp, old.event_id) >= (event.timestamp, event.pk):
            continue  # an earlier vote of this voter arriving late: it changes nothing
        pk, vote_kind, voter = vote_key
        if old is not None:
            add_vote(tallies[key], vote_kind, old.value, scale, sign=-1)
        add_vote(tallies[key], vote_kind, event.value, scale)
        replaced.append(_vote(pk, vote_kind, voter, event))
    insert_rows(
        CurrentVote,
        replaced,
        vary=("trace", "kind", "voter", "value", "timestamp", "event_id"),
        using=router.db_for_write(CurrentVote),
        unique_fields=("trace", "kind", "voter"),
        update_fields=("value", "timestamp", "event_id"),
    )

    result = {}
    for key, events in new.items():
        last = max(e.timestamp for e in events)
        before = traces[key].last_signal_at
        result[key] = figures(tallies[key], max(last, before) if before else last, scale)
    return result


def _stored_votes(candidates: dict[VoteKey, Any]) -> dict[VoteKey, CurrentVote]:
    """The current votes of these (trace, kind, voter)s, read through their unique index."""
    if not candidates:
        return {}
    rows = CurrentVote.objects.filter(
        AnyOf(F("trace_id"), {pk for pk, _kind, _voter in candidates}),
        AnyOf(F("voter"), {voter for _pk, _kind, voter in candidates}),
    )
    fields = ("trace_id", "kind", "voter", "value", "timestamp", "event_id")
    return {
        key: vote
        for vote in loaded(rows, fields)
        if (key := (vote.trace_id, vote.kind, vote.voter)) in candidates
    }


def rebuild_votes(
    traces: dict[TraceKey, Trace], events: Mapping[TraceKey, Sequence[FeedbackEvent]]
) -> None:
    """Write the current votes of these traces again from all of their events."""
    CurrentVote.objects.filter(trace_id__in=[t.pk for t in traces.values()]).delete()
    CurrentVote.objects.bulk_create(
        [
            _vote(trace.pk, kind, voter, event)
            for key, trace in traces.items()
            for kind in VOTE_KINDS
            for voter, event in current_votes(events.get(key, ()), kind).items()
        ],
        batch_size=1000,
    )


def _vote(trace_pk: int, kind: str, voter: str, event: FeedbackEvent) -> CurrentVote:
    return CurrentVote(
        trace_id=trace_pk,
        kind=kind,
        voter=voter,
        value=event.value,
        timestamp=event.timestamp,
        event_id=event.pk,
    )
