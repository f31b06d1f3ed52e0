"""Processing failures and dead letters.

A chunk of traces that raises (a classifier error, bad data, the soft time limit) is processed
again one trace at a time, so that one bad trace does not hold back the others. Alone, a trace's
attempt is written down and committed *before* it runs: if the worker is killed on it (the hard
time limit, a crash), the count is already there, and a trace that kills its worker every time
ends as a dead letter instead of being delivered again forever. A trace that processes fine
loses its failure row; after PROCESS_MAX_ATTEMPTS it is left aside (``dead_at``) with its error,
its events unprocessed and no longer queued, until a curator retries it from the admin.

Traces with a failure row are processed alone from then on; the others go in chunks as before,
so the normal path costs one read (of the failure rows of a task's traces) and no write.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Sequence

from celery.exceptions import SoftTimeLimitExceeded
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from feedback_loop.conf import app_settings
from feedback_loop.models import ProcessingFailure, TraceKey, trace_keys_q

logger = logging.getLogger("feedback_loop.pipeline")

# The database being down is no trace's fault: the task is retried later as a whole.
UNAVAILABLE = (OperationalError, InterfaceError)
# Stored with an attempt before it runs; an attempt that raises replaces it with its error.
INTERRUPTED = (
    "No result: the worker was killed or reached its hard time limit on this trace (or is "
    "still processing it)."
)
MAX_ERROR_CHARS = 8_000


def failed(keys: Sequence[TraceKey]) -> dict[TraceKey, bool]:
    """The traces among ``keys`` that have a failure row, each with whether it is dead."""
    if not keys:
        return {}
    return {
        (project_id, trace_key): dead_at is not None
        for project_id, trace_key, dead_at in ProcessingFailure.objects.filter(
            trace_keys_q(keys)
        ).values_list("project_id", "trace_key", "dead_at")
    }


def dead_trace_exists(project="project", trace_key="trace_key") -> Exists:
    """``Exists(...)`` of a dead letter for the outer row's project and trace id."""
    return Exists(
        ProcessingFailure.objects.filter(
            project=OuterRef(project), trace_key=OuterRef(trace_key), dead_at__isnull=False
        )
    )


def process_alone(key: TraceKey, process: Callable[[Sequence[TraceKey]], int]) -> int:
    """``process([key])`` with its attempt recorded first; returns what it returns (0 when it
    failed)."""
    record_attempt(key)
    try:
        done = process([key])
    except UNAVAILABLE:
        raise
    except Exception as exc:  # also celery's SoftTimeLimitExceeded
        logger.exception("Processing trace %s failed.", key[1])
        record_error(key, exc)
        return 0
    ProcessingFailure.objects.filter(project_id=key[0], trace_key=key[1]).delete()
    return done


def record_attempt(key: TraceKey) -> None:
    now = timezone.now()
    with transaction.atomic():
        failure, created = ProcessingFailure.objects.select_for_update().get_or_create(
            project_id=key[0],
            trace_key=key[1],
            defaults={"attempts": 1, "error": INTERRUPTED, "first_failed_at": now},
        )
        if not created:
            failure.attempts += 1
            failure.error = INTERRUPTED
        failure.last_failed_at = now
        if failure.attempts >= app_settings.PROCESS_MAX_ATTEMPTS and failure.dead_at is None:
            failure.dead_at = now
        failure.save()


def record_error(key: TraceKey, exc: BaseException) -> None:
    ProcessingFailure.objects.filter(project_id=key[0], trace_key=key[1]).update(
        error=describe(exc), last_failed_at=timezone.now()
    )


def describe(exc: BaseException) -> str:
    """``Type: message`` on the first line, then the traceback's last frames."""
    if isinstance(exc, SoftTimeLimitExceeded):
        head = "SoftTimeLimitExceeded: the task reached PROCESS_SOFT_TIME_LIMIT on this trace."
    else:
        head = f"{type(exc).__qualname__}: {exc}".strip().removesuffix(":")
    frames = "".join(traceback.format_exception(exc, limit=-8))
    text = f"{head}\n\n{frames}"
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"
