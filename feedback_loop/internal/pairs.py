"""Preference pairs, found in a chunk of traces and their events: an edit (the user's version
over the model's), a regeneration that was then liked or copied (the new answer over the old),
and opposite votes on two answers to the same input in one session. Each is stored once
(unique ``dedupe_key``)."""

from __future__ import annotations

import hashlib
from collections import defaultdict

from django.db.models import Q

from feedback_loop.internal.markup import unlike_edit
from feedback_loop.internal.rollup import current_votes, is_trivial_edit, squash
from feedback_loop.internal.sql import loaded
from feedback_loop.models import (
    EventKind,
    FeedbackEvent,
    PairSource,
    PreferencePair,
    Trace,
    TraceKey,
)


def _digest(text: str) -> str:
    return hashlib.sha256(squash(text).encode()).hexdigest()[:32]


def edit_pairs(
    traces: dict[TraceKey, Trace], events: dict[TraceKey, list[FeedbackEvent]]
) -> list[PreferencePair]:
    """An edit: (input, the user's version, the model's). Whitespace-only edits make none, nor
    does the rendered text of a Markdown answer (``unlike_edit``)."""
    pairs = []
    for key, trace in traces.items():
        for event in events.get(key, []):
            if event.kind != EventKind.EDIT or not event.text.strip():
                continue
            rejected = trace.output or event.output
            if not rejected or is_trivial_edit(rejected, event.text):
                continue
            if unlike_edit(rejected, event):
                continue  # rendered text against Markdown: the trace page says why
            pairs.append(
                PreferencePair(
                    project_id=trace.project_id,
                    source=PairSource.EDIT,
                    trace=trace,
                    event=event,
                    prompt=trace.input,
                    chosen=event.text,
                    rejected=rejected,
                    session_id=event.session_id,
                    user_id=event.user_id,
                    dedupe_key=f"edit:{trace.pk}:{_digest(event.text)}",
                )
            )
    return pairs


def _accepted(trace: Trace) -> bool:
    return (trace.thumbs_up > 0 or trace.copy_count > 0) and trace.thumbs_down == 0


def regenerate_pairs(traces: dict[TraceKey, Trace]) -> list[PreferencePair]:
    """A regenerated answer that then got a thumbs up or was copied: (new, old)."""
    candidates = [t for t in traces.values() if t.regenerated_from_id and _accepted(t)]
    # Old answers of this chunk whose new answer (outside it) was linked just now.
    olds = [t.pk for t in traces.values() if getattr(t, "_regenerations_changed", False)]
    if olds:
        candidates += [
            t
            for t in Trace.objects.filter(regenerated_from__in=olds).exclude(
                pk__in=[t.pk for t in candidates]
            )
            if _accepted(t)
        ]
    if not candidates:
        return []
    old_by_pk = {
        t.pk: t
        for t in Trace.objects.filter(pk__in={t.regenerated_from_id for t in candidates}).only(
            "pk", "input", "output"
        )
    }
    pairs = []
    for new in candidates:
        old = old_by_pk.get(new.regenerated_from_id or 0)
        if old is None or not new.output or not old.output:
            continue
        if is_trivial_edit(old.output, new.output):
            continue
        pairs.append(
            PreferencePair(
                project_id=new.project_id,
                source=PairSource.REGENERATE,
                trace=new,
                rejected_trace_id=old.pk,
                prompt=new.input or old.input,
                chosen=new.output,
                rejected=old.output,
                session_id=new.session_id,
                user_id=new.user_id,
                dedupe_key=f"regenerate:{old.pk}:{new.pk}",
            )
        )
    return pairs


def session_pairs(
    traces: dict[TraceKey, Trace], events: dict[TraceKey, list[FeedbackEvent]]
) -> list[PreferencePair]:
    """A thumbs up and a thumbs down on two answers to the same input in one session."""
    sides = _session_votes(events)
    voted = {
        (project_id, vote.trace_key)
        for (project_id, _session), side in sides.items()
        if side[1] and side[-1]
        for votes in side.values()
        for vote in votes
    }
    if not voted:
        return []
    answers = {
        (t.project_id, t.key): t
        for t in Trace.objects.for_keys(voted).only("pk", "project_id", "key", "input", "output")
    }
    return [
        pair
        for (project_id, session_id), side in sides.items()
        for up in side[1]
        for down in side[-1]
        if (pair := _session_pair(project_id, session_id, up, down, answers)) is not None
    ]


Side = dict[int, list[FeedbackEvent]]  # +1: the session's thumbs up, -1: its thumbs down


def _session_votes(events: dict[TraceKey, list[FeedbackEvent]]) -> dict[tuple[int, str], Side]:
    """The latest thumbs of each (session, trace), by side, for the sessions that voted in
    these events (their votes on other traces too)."""
    sessions: dict[int, set[str]] = defaultdict(set)
    for (project_id, _trace_key), evs in events.items():
        for vote in current_votes(evs, EventKind.THUMBS).values():
            if vote.value and vote.session_id:
                sessions[project_id].add(vote.session_id)
    if not sessions:
        return {}
    q = Q(pk__in=[])
    for project_id, ids in sessions.items():
        q |= Q(project_id=project_id, session_id__in=ids)
    latest: dict[tuple[int, str, str], FeedbackEvent] = {}
    for vote in loaded(
        FeedbackEvent.objects.filter(q, kind=EventKind.THUMBS).order_by("timestamp", "pk"),
        ("id", "project_id", "trace_key", "session_id", "user_id", "value", "timestamp"),
    ):
        latest[(vote.project_id, vote.session_id, vote.trace_key)] = vote
    sides: dict[tuple[int, str], Side] = defaultdict(lambda: {1: [], -1: []})
    for (project_id, session_id, _trace_key), vote in latest.items():
        if vote.value:
            sides[(project_id, session_id)][1 if vote.value > 0 else -1].append(vote)
    return sides


def _session_pair(project_id, session_id, up, down, answers) -> PreferencePair | None:
    good = answers.get((project_id, up.trace_key))
    bad = answers.get((project_id, down.trace_key))
    if good is None or bad is None or not good.output or not bad.output:
        return None
    if not squash(good.input) or squash(good.input) != squash(bad.input):
        return None
    if is_trivial_edit(good.output, bad.output):
        return None
    return PreferencePair(
        project_id=project_id,
        source=PairSource.SESSION,
        trace_id=good.pk,
        rejected_trace_id=bad.pk,
        event_id=up.pk,
        prompt=good.input,
        chosen=good.output,
        rejected=bad.output,
        session_id=session_id,
        user_id=up.user_id,
        dedupe_key=f"session:{good.pk}:{bad.pk}",
    )
