"""Hand accepted events to the processing pipeline, once the rows are committed.

With a broker, the request does not wait for it: a background thread of the web process
publishes one ``process_events`` task per captured batch, or one for several batches captured
within ``LINGER_SECONDS`` of one another (a publish costs more CPU than a one-event capture
does; under load this keeps it off the request path and shares it among batches). In Celery's
eager mode (the demo, a machine without a broker) the task runs right away in the request.

The events are already stored when this runs, so a broker that is down costs nothing but
delay: the failure is logged, this process stops trying the broker for ENQUEUE_PAUSE_SECONDS
(so capture stays fast during an outage), and the sweeper queues the events later. Handed-off
ids that die with the process are found by the sweeper too.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time

from django.db import router, transaction

from feedback_loop.conf import app_settings

logger = logging.getLogger("feedback_loop.capture")

LINGER_SECONDS = 0.1
# One quick retry covers a connection the broker closed since the last send.
_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.1}
_paused_until = 0.0


def enqueue(event_pks: list[int]) -> None:
    """Queue ``process_events`` for these rows once the transaction that wrote them commits."""
    if not app_settings.ENQUEUE_ON_CAPTURE:
        return
    from feedback_loop.models import FeedbackEvent

    transaction.on_commit(lambda: _hand_off(event_pks), using=router.db_for_write(FeedbackEvent))


_eager: bool | None = None  # Celery's task_always_eager, read once: a lookup costs 0.1 ms


def _hand_off(event_pks: list[int]) -> None:
    global _eager
    if _eager is None:
        from feedback_loop.tasks import process_events

        _eager = bool(process_events.app.conf.task_always_eager)
    if _eager:
        send(event_pks)
    else:
        _publisher.add(event_pks)


def reset() -> None:
    """Forget what was read from Celery's configuration (for tests that change it)."""
    global _eager, _paused_until
    _eager, _paused_until = None, 0.0


def send(event_pks: list[int]) -> bool:
    """Publish one task for these events now; False if the broker is (recently) unreachable."""
    global _paused_until
    if time.monotonic() < _paused_until:
        return False
    from feedback_loop.tasks import process_events

    try:
        process_events.apply_async((event_pks, time.time()), retry=True, retry_policy=_RETRY_POLICY)
    except Exception as exc:  # the broker's errors differ by transport; none may fail capture
        _paused_until = time.monotonic() + app_settings.ENQUEUE_PAUSE_SECONDS
        logger.warning(
            "Could not queue processing of %d events (%s); the sweeper will queue them.",
            len(event_pks),
            exc,
        )
        return False
    return True


class _Publisher:
    """One daemon thread per process that publishes what requests hand it."""

    def __init__(self):
        self.cond = threading.Condition()
        self.pending: list[int] = []
        self.busy = False
        self.started = False  # a fork gets a fresh publisher (see _after_fork_in_child)

    def add(self, event_pks: list[int]) -> None:
        with self.cond:
            if not self.started:
                self.started = True
                threading.Thread(
                    target=self._run, name="feedback-loop-handoff", daemon=True
                ).start()
            self.pending.extend(event_pks)
            self.cond.notify_all()

    def _run(self) -> None:
        while True:
            with self.cond:
                while not self.pending:
                    self.cond.wait()
                self.busy = True
            time.sleep(LINGER_SECONDS)  # let batches captured meanwhile join this task
            with self.cond:
                pks, self.pending = self.pending, []
            try:
                size = app_settings.PROCESS_BATCH_SIZE
                for start in range(0, len(pks), size):
                    send(pks[start : start + size])
            except Exception:  # never let the thread die
                logger.exception("The hand-off thread failed; the sweeper will queue the events.")
            finally:
                with self.cond:
                    self.busy = False
                    self.cond.notify_all()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything handed over was published (or failed); False on timeout."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.pending or self.busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
        return True


_publisher = _Publisher()


def flush(timeout: float = 5.0) -> bool:
    return _publisher.flush(timeout)


def _after_fork_in_child() -> None:
    # A fork copies the lock in whatever state the parent's thread held it, but not the thread.
    global _publisher
    _publisher = _Publisher()


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(flush, 2.0)


def retry_failures(queryset) -> int:
    """Give these failures their attempts back and queue their traces' unprocessed events (once
    committed; the sweeper queues them too if the broker is down). Returns how many traces."""
    from feedback_loop.models import FeedbackEvent, trace_keys_q

    keys = list(queryset.values_list("project_id", "trace_key"))
    if not keys:
        return 0
    queryset.update(attempts=0, dead_at=None)
    pks = list(
        FeedbackEvent.objects.filter(trace_keys_q(keys), processed_at__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    size = app_settings.PROCESS_BATCH_SIZE

    def queue():
        for start in range(0, len(pks), size):
            send(pks[start : start + size])

    transaction.on_commit(queue)
    return len(keys)
