"""The processing pipeline: from raw events to trace rollups, triage, the review queue and
preference pairs.

A task processes only the traces' new events: their signals are added to each trace's stored
tally and a newer vote replaces its voter's current one by its delta (``internal/increments.py``),
so a batch costs what its events cost, not what the traces' histories cost. Each chunk of traces
is one transaction, the traces locked (``SELECT ... FOR UPDATE``) before their pending events are
read and marked processed in it: a task that runs twice, or is killed half-way and runs again, or
runs beside another task touching the same trace, counts each event once; each pair is stored
once (unique ``dedupe_key``).

``process_traces(keys)`` (``rebuild=True``) is the repair path: everything recomputed from all of
the traces' events, as the command ``feedback_loop_rebuild_rollups`` and erasure use it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from functools import partial
from typing import Any

from django.db import connections, models, router, transaction
from django.db.models import F, Q
from django.utils import timezone

from feedback_loop.conf import app_settings
from feedback_loop.internal import failures, increments, pairs
from feedback_loop.internal.regenerations import link_regenerations
from feedback_loop.internal.rollup import ROLLUP_FIELDS, rollup
from feedback_loop.internal.sql import (
    AnyOf,
    array_type,
    column_field,
    insert_rows,
    keys_q,
    loaded,
)
from feedback_loop.internal.sweeping import record_progress
from feedback_loop.models import (
    NEEDS_REVIEW,
    ErrorMode,
    FeedbackEvent,
    PreferencePair,
    Review,
    Trace,
    TraceKey,
)

logger = logging.getLogger("feedback_loop.pipeline")

_EVENT_FIELDS = (
    "id",
    "project_id",
    "trace_key",
    "kind",
    "value",
    "reasons",
    "comment",
    "text",
    "metadata",
    "session_id",
    "user_id",
    "voter",
    "output",
    "timestamp",
    "created_at",
    "processed_at",
)

_TRACE_FIELDS = tuple(f.name for f in Trace._meta.concrete_fields)
# What a preference pair found here is made of: all but its id and time (now, for all of them).
_PAIR_FIELDS = tuple(
    f.name for f in PreferencePair._meta.concrete_fields if f.name not in ("id", "created_at")
)


def process_events(
    event_pks: Iterable[int], *, redelivered: bool = False, sent_at: float | None = None
) -> int:
    """Process the traces these events are on; returns how many events it marked processed.

    Events already processed are skipped, so queueing the same batch twice costs one query;
    so are the events of dead letters (see ``internal/failures.py``). ``redelivered``: the
    message was handed back after its worker was killed, so each trace goes alone, its attempt
    recorded first. ``sent_at``: when the message was sent, the progress each chunk records
    for the sweeper (``internal/sweeping.py``)."""
    keys = sorted(
        set(
            FeedbackEvent.objects.filter(
                AnyOf(F("pk"), list(event_pks)), processed_at__isnull=True
            ).values_list("project_id", "trace_key")
        )
    )
    failed = failures.failed(keys)
    if any(failed.values()):
        keys = [key for key in keys if not failed.get(key)]
    return process_traces(keys, alone=redelivered, failed=failed, sent_at=sent_at, rebuild=False)


def process_traces(
    keys: Sequence[TraceKey],
    *,
    alone: bool = False,
    failed: dict | None = None,
    sent_at: float | None = None,
    rebuild: bool = True,
) -> int:
    """Process these traces, in transactions of PROCESS_CHUNK_TRACES: recompute everything from
    all of their events (``rebuild``), or move them on by their pending events.

    A chunk that raises is done again trace by trace, and traces that failed before go alone
    (``failed``: what ``failures.failed(keys)`` says, read here when not given)."""
    if failed is None:
        failed = failures.failed(keys)
    _process = partial(_process_chunk_atomically, rebuild=rebuild)
    together = [] if alone else [key for key in keys if key not in failed]
    size = app_settings.PROCESS_CHUNK_TRACES
    done = 0
    for start in range(0, len(together), size):
        chunk = together[start : start + size]
        try:
            done += _process(chunk)
        except failures.UNAVAILABLE:
            raise
        except Exception:  # also celery's SoftTimeLimitExceeded
            logger.warning(
                "A chunk of %d traces failed; one by one now.", len(chunk), exc_info=True
            )
            done += sum(failures.process_alone(key, _process) for key in chunk)
        record_progress(sent_at)
    for key in keys if alone else [key for key in keys if key in failed]:
        done += failures.process_alone(key, _process)
        record_progress(sent_at)
    return done


def _process_chunk_atomically(keys: Sequence[TraceKey], *, rebuild: bool) -> int:
    _create_missing_traces(keys)
    with transaction.atomic():
        return _process_chunk(keys, rebuild=rebuild)


def _create_missing_traces(keys: Sequence[TraceKey]) -> None:
    """Traces the host never registered are created from their first event's ``output``."""
    existing = set(Trace.objects.filter(keys_q(keys, key="key")).values_list("project_id", "key"))
    missing = [key for key in keys if key not in existing]
    if not missing:
        return
    seeds = trace_seeds(FeedbackEvent.objects.of_traces(missing))
    # ON CONFLICT DO NOTHING: a task creating the same trace at the same time is not an error.
    Trace.objects.bulk_create(
        [
            Trace(
                project_id=seed["project_id"],
                key=seed["trace_key"],
                output=seed["output"],
                session_id=seed["session_id"],
                user_id=seed["user_id"],
                registered=False,
                created_at=seed["created_at"],
            )
            for seed in seeds.values()
        ],
        ignore_conflicts=True,
    )


def trace_seeds(events: models.QuerySet[FeedbackEvent]) -> dict[TraceKey, dict[str, Any]]:
    """What an unregistered trace is made of, by trace: the first event's session, user and
    time, and the first output an event carries."""
    seeds: dict[TraceKey, dict[str, Any]] = {}
    rows = events.order_by("timestamp", "pk").values(
        "project_id", "trace_key", "output", "session_id", "user_id", "created_at"
    )
    for row in rows:
        seed = seeds.setdefault((row["project_id"], row["trace_key"]), dict(row))
        if not seed["output"] and row["output"]:
            seed["output"] = row["output"]
    return seeds


def _process_chunk(keys: Sequence[TraceKey], *, rebuild: bool) -> int:
    now = timezone.now()
    locked = Trace.objects.select_for_update().filter(keys_q(keys, key="key")).order_by("pk")
    traces: dict[TraceKey, Trace] = {
        (t.project_id, t.key): t for t in loaded(locked, _TRACE_FIELDS)
    }
    # Traces without a signal yet: their pending events are all their events.
    fresh = {key for key, trace in traces.items() if trace.last_signal_at is None}
    read = FeedbackEvent.objects.filter(keys_q(traces))
    if not rebuild:
        read = read.filter(processed_at__isnull=True)
    events: dict[TraceKey, list[FeedbackEvent]] = defaultdict(list)
    for event in loaded(read.order_by("timestamp", "pk"), _EVENT_FIELDS):
        events[(event.project_id, event.trace_key)].append(event)

    scale = app_settings.RATING_SCALE
    if rebuild:
        rolled = {key: rollup(events.get(key, []), scale) for key in traces}
        increments.rebuild_votes(traces, events)
    else:
        rolled = increments.advance(traces, events, scale)
    changed: list[Trace] = []
    for key, figures in rolled.items():
        trace = traces[key]
        if any(getattr(trace, name) != value for name, value in figures.items()):
            for name, value in figures.items():
                setattr(trace, name, value)
            trace.updated_at = now
            changed.append(trace)

    relinked = link_regenerations(traces, events)
    to_save = {t.pk: t for t in changed}
    for trace in relinked:
        trace.updated_at = now
        to_save[trace.pk] = trace
    if to_save:
        _save_traces(list(to_save.values()))

    found = [
        *pairs.edit_pairs(traces, events),
        *pairs.regenerate_pairs(traces),
        *pairs.session_pairs(traces, events),
    ]
    insert_rows(PreferencePair, found, vary=_PAIR_FIELDS, using=router.db_for_write(PreferencePair))

    _triage(traces, events, rebuild=rebuild, fresh=fresh)

    pending = [event.pk for evs in events.values() for event in evs if event.processed_at is None]
    if pending:
        FeedbackEvent.objects.filter(AnyOf(F("pk"), pending)).update(processed_at=now)
    return len(pending)


_SAVED_FIELDS = (*ROLLUP_FIELDS, "regenerated_from", "updated_at")


def _save_traces(traces: list[Trace]) -> None:
    """Write the rollup columns of these traces. On PostgreSQL one ``UPDATE ... FROM
    unnest(arrays)`` statement; ``bulk_update``'s ``CASE WHEN`` per row and column costs more
    to build in Python than the whole rest of the pipeline."""
    connection = connections[router.db_for_write(Trace)]
    if connection.vendor != "postgresql":
        Trace.objects.bulk_update(traces, _SAVED_FIELDS)
        return
    q = connection.ops.quote_name
    fields = [column_field(Trace, name) for name in _SAVED_FIELDS]
    columns = [str(f.column) for f in fields]
    arrays = ", ".join(f"%s::{array_type(f)}" for f in fields)
    sql = (
        f"UPDATE {q(Trace._meta.db_table)} AS t SET "
        + ", ".join(f"{q(c)} = u.{q(c)}" for c in columns)
        + f" FROM unnest(%s::bigint[], {arrays}) AS u(id, {', '.join(map(q, columns))})"
        + " WHERE t.id = u.id"
    )
    params = [[t.pk for t in traces]]
    params += [[getattr(t, f.attname) for t in traces] for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


# -- triage and the review queue ---------------------------------------------------------------


def _triage(
    traces: dict[TraceKey, Trace],
    events: dict[TraceKey, list[FeedbackEvent]],
    *,
    rebuild: bool,
    fresh: set[TraceKey],
) -> None:
    """Suggested error modes for negative and mixed traces (none for the others), and a
    pending review for each of them. The classifier sees a trace's newest TRIAGE_EVENTS events:
    those read already when they are all of its events (``rebuild``, or a trace whose events are
    all new), else read by the (project, trace, timestamp) index, a bounded read."""
    considered = traces if rebuild else {key: traces[key] for key in events}
    if not considered:
        return
    flagged = {key: t for key, t in considered.items() if t.sentiment in NEEDS_REVIEW}
    known = {key: events.get(key, []) for key in flagged if rebuild or key in fresh}
    newest = {**known, **newest_events([key for key in flagged if key not in known])}
    limit = app_settings.TRIAGE_EVENTS
    classify = app_settings.TRIAGE_CLASSIFIER
    projects = {project_id for project_id, _ in considered}
    modes: dict[tuple[int | None, str], int] = {
        (project_id, slug): pk
        for pk, project_id, slug in ErrorMode.objects.filter(
            Q(project__isnull=True) | Q(project_id__in=projects)
        ).values_list("pk", "project_id", "slug")
    }
    desired: set[tuple[int, int]] = set()
    for key, trace in flagged.items():
        # A classifier that raises fails the trace: it is tried again, then left as a dead
        # letter with the error (internal/failures.py), instead of losing its suggestions.
        for slug in classify(trace, newest.get(key, [])[-limit:]):
            mode = modes.get((trace.project_id, slug)) or modes.get((None, slug))
            if mode is not None:
                desired.add((trace.pk, mode))

    through = Trace.suggested_error_modes.through
    pks = [t.pk for t in considered.values()]
    existing = set(through.objects.filter(trace_id__in=pks).values_list("trace_id", "errormode_id"))
    stale = existing - desired
    if stale:
        q = Q(pk__in=[])
        for trace_pk, mode in stale:
            q |= Q(trace_id=trace_pk, errormode_id=mode)
        through.objects.filter(q).delete()
    new = [through(trace_id=t, errormode_id=m) for t, m in desired - existing]
    insert_rows(through, new, vary=("trace", "errormode"), using=router.db_for_write(through))
    reviews = [Review(trace=t) for t in flagged.values()]
    insert_rows(Review, reviews, vary=("trace",), using=router.db_for_write(Review))


def newest_events(keys: Sequence[TraceKey]) -> dict[TraceKey, list[FeedbackEvent]]:
    """The newest TRIAGE_EVENTS events of each of these traces, oldest first. On PostgreSQL one
    statement reads at most that many index entries per trace (a LATERAL join with a LIMIT);
    elsewhere a query per trace does."""
    if not keys:
        return {}
    limit = app_settings.TRIAGE_EVENTS
    found: dict[TraceKey, list[FeedbackEvent]] = defaultdict(list)
    connection = connections[router.db_for_read(FeedbackEvent)]
    if connection.vendor == "postgresql":
        q = connection.ops.quote_name
        columns = ", ".join(
            q(str(column_field(FeedbackEvent, name).column)) for name in _EVENT_FIELDS
        )
        rows: Iterable[FeedbackEvent] = FeedbackEvent.objects.raw(
            f"SELECT e.* FROM unnest(%s::bigint[], %s::text[]) AS k(p, t) CROSS JOIN LATERAL ("
            f"SELECT {columns} FROM {q(FeedbackEvent._meta.db_table)} "
            f'WHERE "project_id" = k.p AND "trace_key" = k.t AND "timestamp" IS NOT NULL '
            f'ORDER BY "timestamp" DESC, "id" DESC LIMIT %s) AS e ORDER BY e."timestamp", e."id"',
            [[p for p, _ in keys], [t for _, t in keys], limit],
        )
    else:  # a query per trace, each reading at most the limit by the index
        newest = FeedbackEvent.objects.filter(timestamp__isnull=False)  # fl_event_trace_time
        newest = newest.only(*_EVENT_FIELDS).order_by("-timestamp", "-pk")
        rows = []
        for project_id, trace_key in keys:
            latest = newest.filter(project_id=project_id, trace_key=trace_key)[:limit]
            rows += reversed(list(latest))
    for event in rows:
        found[(event.project_id, event.trace_key)].append(event)
    return found
