"""Which events the sweeper queues again (internal/sweeping.py), on both databases; the sweeper
against a real broker and a slow worker is in tests/test_sweeper.py."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from feedback_loop.internal.sweeping import lost_q, record_progress
from feedback_loop.models import FeedbackEvent, PipelineProgress

pytestmark = pytest.mark.django_db


def _event(project, key, created_ago=0, requeued_ago=None):
    now = timezone.now()
    event = FeedbackEvent.objects.create(
        project=project,
        event_id=uuid.uuid4(),
        trace_key=key,
        kind="thumbs",
        value=1,
        user_id="x",
        timestamp=now,
    )
    FeedbackEvent.objects.filter(pk=event.pk).update(
        created_at=now - timedelta(seconds=created_ago),
        requeued_at=None if requeued_ago is None else now - timedelta(seconds=requeued_ago),
    )
    return event.pk


def _swept(after=60):
    return set(FeedbackEvent.objects.filter(lost_q(after)).values_list("trace_key", flat=True))


def test_which_events_the_sweeper_queues_again(project):
    fresh = _event(project, "fresh", created_ago=10)
    old = _event(project, "old", created_ago=600)
    requeued = _event(project, "requeued", created_ago=900, requeued_ago=300)
    assert fresh and old and requeued
    # Nothing processed yet, ever: stalled, so what is old and never queued again goes.
    assert not PipelineProgress.objects.exists()
    assert _swept() == {"old"}
    # A worker finished a batch just now, sent 5 minutes ago: a backlog is draining, and the
    # events queued before that batch's message by more than the minute were overtaken.
    record_progress((timezone.now() - timedelta(seconds=300)).timestamp())
    assert _swept() == {"old"}
    # The backlog's newest message processed was sent just now: "requeued" (5 minutes ago)
    # was overtaken too.
    record_progress(timezone.now().timestamp())
    assert _swept() == {"old", "requeued"}
    # Progress never goes back: an older message finishing later changes nothing.
    record_progress((timezone.now() - timedelta(seconds=3000)).timestamp())
    assert _swept() == {"old", "requeued"}
    # Stalled for longer than the minute: events queued again once already stay put.
    PipelineProgress.objects.update(
        finished_at=timezone.now() - timedelta(seconds=120),
        queued_until=timezone.now() - timedelta(seconds=3600),
    )
    assert _swept() == {"old"}
