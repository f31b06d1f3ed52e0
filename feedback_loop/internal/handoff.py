"""Hand accepted events to the processing pipeline: one Celery task per captured batch.

The events are already stored when this runs, so a broker that is down costs nothing but
delay: the failure is logged, this process stops trying the broker for ENQUEUE_PAUSE_SECONDS
(so capture stays fast during an outage), and the sweeper queues the events later.
"""

from __future__ import annotations

import logging
import time

from django.db import router, transaction

from feedback_loop.conf import app_settings

logger = logging.getLogger("feedback_loop.capture")

# One quick retry covers a connection the broker closed since the last send.
_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.1}
_paused_until = 0.0


def enqueue(event_pks: list[int]) -> None:
    """Queue ``process_events`` for these rows once the transaction that wrote them commits."""
    if not app_settings.ENQUEUE_ON_CAPTURE:
        return
    from feedback_loop.models import FeedbackEvent

    transaction.on_commit(lambda: send(event_pks), using=router.db_for_write(FeedbackEvent))


def send(event_pks: list[int]) -> bool:
    global _paused_until
    if time.monotonic() < _paused_until:
        return False
    from feedback_loop.tasks import process_events

    try:
        process_events.apply_async((event_pks,), retry=True, retry_policy=_RETRY_POLICY)
    except Exception as exc:  # the broker's errors differ by transport; none may fail capture
        _paused_until = time.monotonic() + app_settings.ENQUEUE_PAUSE_SECONDS
        logger.warning(
            "Could not queue processing of %d events (%s); the sweeper will queue them.",
            len(event_pks),
            exc,
        )
        return False
    return True
