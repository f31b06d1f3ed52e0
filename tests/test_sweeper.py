"""The sweeper during a backlog, on real parts (a redis-server broker, a Celery worker that
falls behind, PostgreSQL): each event's message is its only one while the backlog drains, and
a message that was really lost is queued again (internal/sweeping.py)."""

import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from feedback_loop import handoff
from feedback_loop.models import FeedbackEvent
from feedback_loop.tasks import _sweep
from tests.conftest import make_event
from tests.services import Worker, wait_for
from tests.test_worker import broker, redis_server, unprocessed, worker  # noqa: F401 (fixtures)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.faults,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(240),
]

SWEEP_AFTER = 5  # seconds; a batch of the slow worker takes about one


@pytest.fixture
def slow_worker(broker, worker, redis_server, tmp_path):  # noqa: F811
    """A worker whose triage takes a tenth of a second per trace, alone on the queue."""
    worker.stop()  # the broker fixture of the next test starts it again
    slow = Worker(
        redis_server.url,
        worker.env["DATABASE_URL"],
        tmp_path,
        feedback_loop={"TRIAGE_CLASSIFIER": "tests.classifiers.unhurried"},
        name="slow",
    )
    slow.start()
    yield slow
    slow.stop()


def test_a_backlog_is_not_queued_again_and_a_lost_message_is(
    slow_worker,
    project,
    post_events,
    monkeypatch,
    redis_server,  # noqa: F811
):
    # An event whose message was lost a minute ago: stored, never handed to the broker.
    lost = FeedbackEvent.objects.create(
        project=project,
        event_id=uuid.uuid4(),
        trace_key="lost",
        kind="thumbs",
        value=1,
        user_id="x",
        timestamp=timezone.now(),
    )
    FeedbackEvent.objects.filter(pk=lost.pk).update(
        created_at=timezone.now() - timedelta(minutes=1)
    )
    sent = []
    real_send = handoff.send
    monkeypatch.setattr(handoff, "send", lambda pks: sent.append(pks) or real_send(pks))
    # A burst: 40 batches of 10 negative votes on 10 traces each, about 20 s of work for the
    # worker's two processes at a second a batch.
    for batch in range(40):
        events = [
            make_event(project, trace_id=f"b{batch}-{i}", value=-1, user_id=f"u{i}")
            for i in range(10)
        ]
        assert post_events(project, events).json()["accepted"] == 10
    total = 400
    # The sweeper runs twice a second while the backlog drains (beat runs it every minute,
    # with SWEEP_AFTER_SECONDS at 120): backlog events wait far longer than SWEEP_AFTER.
    queued_again = []
    deadline = time.monotonic() + 120
    while unprocessed() and time.monotonic() < deadline:
        queued_again.append(_sweep(SWEEP_AFTER))
        time.sleep(0.5)
    assert unprocessed() == 0
    # The one queued again is the lost event, once the worker overtook it.
    assert sum(queued_again) == 1, " ".join(map(str, queued_again))
    requeued = FeedbackEvent.objects.exclude(requeued_at=None).values_list("pk", flat=True)
    assert list(requeued) == [lost.pk]
    # The worker received the messages capture sent and the sweeper's one, nothing more, and
    # processed each event once.
    wait_for(lambda: sum(slow_worker.processed_counts()) == total + 1, 10, "the worker's log")
    received = slow_worker.output().count("Task feedback_loop.process_events[")
    assert received // 2 == len(sent) + 1  # each task: a "received" line and a "succeeded" one
