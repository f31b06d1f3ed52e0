"""What the sweeper queues again: events whose message was lost, never those still waiting
behind a backlog.

An event is queued at capture (its ``created_at``) or by the sweeper (``requeued_at``, the
later of the two is its *queued time*); each message carries the time it was sent. After each
chunk of traces it commits, a worker moves the pipeline's progress on (``record_progress``: one
row, in the database so that every process sees it): when a chunk last finished, and the
newest send time processed. The sweeper queues an unprocessed event again, and stamps its
``requeued_at``, when it was queued more than SWEEP_AFTER_SECONDS ago and either

- it was **overtaken**: the pipeline has processed a message sent more than
  SWEEP_AFTER_SECONDS after it was queued. The broker hands messages out about in order, so
  its own was lost (a broker that restarted without it, a publish that failed); or
- the pipeline is **stalled**: no chunk finished in the last SWEEP_AFTER_SECONDS (the broker
  lost everything, capture could not hand over while it was down, or no worker runs), and the
  event was not queued again since it was stored. A stall queues each event once more, at
  most, where the old sweeper queued it again on every run.

While a backlog drains, chunks finish and the waiting messages were sent after those being
processed, so neither holds: each event's message is its only one. (A worker holds a few
messages ahead, Celery's prefetch; SWEEP_AFTER_SECONDS is the margin for them.)
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import F, Q
from django.db.models.functions import Greatest
from django.utils import timezone

from feedback_loop.models import PipelineProgress


def record_progress(sent_at: float | None) -> None:
    """A chunk finished; ``sent_at``: when its message was sent (a Unix time), if it says."""
    now = timezone.now()
    sent = datetime.fromtimestamp(sent_at, tz=now.tzinfo) if sent_at else None
    fields: dict[str, Any] = {"finished_at": now}
    if sent is not None:
        # Greatest of NULL is NULL on PostgreSQL: the row is made with a time, never NULL.
        fields["queued_until"] = Greatest(F("queued_until"), sent)
    if not PipelineProgress.objects.filter(pk=1).update(**fields):
        PipelineProgress.objects.get_or_create(
            pk=1, defaults={"finished_at": now, "queued_until": sent or now}
        )


def lost_q(after_seconds: float, now: datetime | None = None) -> Q:
    """The unprocessed events to queue again (see the module)."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=after_seconds)

    def queued_before(when: datetime) -> Q:
        return Q(requeued_at__lt=when) | Q(requeued_at__isnull=True, created_at__lt=when)

    progress = PipelineProgress.objects.filter(pk=1).first()
    q = Q(processed_at__isnull=True) & queued_before(cutoff)
    overtaken = (
        queued_before(progress.queued_until - timedelta(seconds=after_seconds))
        if progress is not None and progress.queued_until is not None
        else Q(pk__in=[])
    )
    stalled = progress is None or progress.finished_at is None or progress.finished_at < cutoff
    if stalled:
        return q & (overtaken | Q(requeued_at__isnull=True))
    return q & overtaken
