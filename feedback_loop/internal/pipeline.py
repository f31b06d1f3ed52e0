"""The processing pipeline: from raw events to trace rollups, triage, the review queue and
preference pairs.

Every step is recomputed from the stored events rather than added to, inside one transaction
per chunk of traces, with the traces locked (``SELECT ... FOR UPDATE``) before their events are
read. So a task that runs twice, or is killed half-way and runs again, or runs beside another
task touching the same trace, leaves the same result: rollups equal to what the events say,
each pair stored once (unique ``dedupe_key``), each event marked processed.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connections, models, router, transaction
from django.db.models import Q
from django.utils import timezone

from feedback_loop.conf import app_settings
from feedback_loop.internal import failures, pairs
from feedback_loop.internal.regenerations import link_regenerations
from feedback_loop.internal.rollup import (
    ROLLUP_FIELDS,
    rollup,
)
from feedback_loop.internal.sql import array_type, column_field
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
                pk__in=list(event_pks), processed_at__isnull=True
            ).values_list("project_id", "trace_key")
        )
    )
    failed = failures.failed(keys)
    if any(failed.values()):
        keys = [key for key in keys if not failed.get(key)]
    return process_traces(keys, alone=redelivered, failed=failed, sent_at=sent_at)


def process_traces(
    keys: Sequence[TraceKey],
    *,
    alone: bool = False,
    failed: dict | None = None,
    sent_at: float | None = None,
) -> int:
    """Recompute everything for these traces, in transactions of PROCESS_CHUNK_TRACES.

    A chunk that raises is done again trace by trace, and traces that failed before go alone
    (``failed``: what ``failures.failed(keys)`` says, read here when not given)."""
    if failed is None:
        failed = failures.failed(keys)
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


def _process(keys: Sequence[TraceKey]) -> int:
    _create_missing_traces(keys)
    with transaction.atomic():
        return _process_chunk(keys)


def _create_missing_traces(keys: Sequence[TraceKey]) -> None:
    """Traces the host never registered are created from their first event's ``output``."""
    existing = set(Trace.objects.for_keys(keys).values_list("project_id", "key"))
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


def _process_chunk(keys: Sequence[TraceKey]) -> int:
    now = timezone.now()
    traces: dict[TraceKey, Trace] = {
        (t.project_id, t.key): t
        for t in Trace.objects.select_for_update().for_keys(keys).order_by("pk")
    }
    events: dict[TraceKey, list[FeedbackEvent]] = defaultdict(list)
    for event in (
        FeedbackEvent.objects.of_traces(traces).only(*_EVENT_FIELDS).order_by("timestamp", "pk")
    ):
        events[(event.project_id, event.trace_key)].append(event)

    scale = app_settings.RATING_SCALE
    changed: list[Trace] = []
    for key, trace in traces.items():
        figures = rollup(events.get(key, []), scale)
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
    if found:
        PreferencePair.objects.bulk_create(found, ignore_conflicts=True)

    _triage(traces, events)

    pending = [event.pk for evs in events.values() for event in evs if event.processed_at is None]
    if pending:
        FeedbackEvent.objects.filter(pk__in=pending).update(processed_at=now)
    return sum(1 for evs in events.values() for e in evs if e.processed_at is None)


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


def _triage(traces: dict[TraceKey, Trace], events: dict[TraceKey, list[FeedbackEvent]]) -> None:
    """Suggested error modes for negative and mixed traces (none for the others), and a
    pending review for each of them."""
    if not traces:
        return
    classify = app_settings.TRIAGE_CLASSIFIER
    projects = {project_id for project_id, _ in traces}
    modes: dict[tuple[int | None, str], int] = {
        (project_id, slug): pk
        for pk, project_id, slug in ErrorMode.objects.filter(
            Q(project__isnull=True) | Q(project_id__in=projects)
        ).values_list("pk", "project_id", "slug")
    }
    desired: set[tuple[int, int]] = set()
    flagged: list[Trace] = []
    for key, trace in traces.items():
        if trace.sentiment not in NEEDS_REVIEW:
            continue
        flagged.append(trace)
        # A classifier that raises fails the trace: it is tried again, then left as a dead
        # letter with the error (internal/failures.py), instead of losing its suggestions.
        for slug in classify(trace, events.get(key, [])):
            mode = modes.get((trace.project_id, slug)) or modes.get((None, slug))
            if mode is not None:
                desired.add((trace.pk, mode))

    through = Trace.suggested_error_modes.through
    pks = [t.pk for t in traces.values()]
    existing = set(through.objects.filter(trace_id__in=pks).values_list("trace_id", "errormode_id"))
    stale = existing - desired
    if stale:
        q = Q(pk__in=[])
        for trace_pk, mode in stale:
            q |= Q(trace_id=trace_pk, errormode_id=mode)
        through.objects.filter(q).delete()
    new = desired - existing
    if new:
        through.objects.bulk_create(
            [through(trace_id=t, errormode_id=m) for t, m in new], ignore_conflicts=True
        )
    if flagged:
        Review.objects.bulk_create([Review(trace=t) for t in flagged], ignore_conflicts=True)
