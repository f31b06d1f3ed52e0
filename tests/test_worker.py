"""The pipeline on real parts: a redis-server as the broker, a Celery worker process with two
pool processes, PostgreSQL. The test session starts them; these tests stop the broker and kill
the worker. They run in the PostgreSQL run of the suite (a worker process cannot share the
SQLite run's database safely)."""

import time
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Exists
from django.utils import timezone

from feedback_loop import handoff
from feedback_loop.internal import failures
from feedback_loop.models import FeedbackEvent, PreferencePair, ProcessingFailure, Trace
from feedback_loop.tasks import process_events, sweep
from tests.conftest import celery_broker, make_event
from tests.services import RedisServer, Worker, wait_for

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(240),
]


@pytest.fixture(scope="session")
def redis_server():
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def worker(django_db_setup, django_db_blocker, redis_server, tmp_path_factory):
    settings = connection.settings_dict  # names the test database by now
    database_url = (
        f"postgres://{settings['USER']}@{settings['HOST'] or '127.0.0.1'}:"
        f"{settings['PORT'] or 5432}/{settings['NAME']}"
    )
    worker = Worker(redis_server.url, database_url, tmp_path_factory.mktemp("celery"))
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def broker(redis_server, worker, monkeypatch):
    """This process publishes to the test broker; the broker and a worker are up."""
    if not redis_server.answers():
        redis_server.start()
    if worker.process is None:
        worker.start()
    monkeypatch.setattr(handoff, "_paused_until", 0.0)
    with celery_broker(redis_server.url) as app:
        yield app


def unprocessed() -> int:
    return FeedbackEvent.objects.filter(processed_at__isnull=True).count()


def drained(timeout=60):
    wait_for(lambda: unprocessed() == 0, timeout, "every event to be processed", interval=0.1)


def test_captured_events_are_processed_by_the_worker(broker, worker, project, post_events):
    seen = len(worker.processed_counts())
    events = [
        make_event(project, trace_id=f"w{i % 5}", value=1 if i % 4 else -1, user_id=f"u{i}")
        for i in range(40)
    ]
    for start in (0, 20):
        assert post_events(project, events[start : start + 20]).json()["accepted"] == 20
    drained()
    assert sum(worker.processed_counts()[seen:]) == 40  # each event once, by two tasks
    for t in Trace.objects.filter(project=project):
        assert (t.thumbs_up, t.thumbs_down, t.sentiment) == (6, 2, "mixed")


@pytest.mark.faults
def test_a_broker_outage_delays_processing_and_loses_nothing(
    broker, worker, redis_server, project, post_events
):
    seen = len(worker.processed_counts())
    redis_server.stop()
    accepted = 0
    for batch in range(5):
        events = [
            make_event(project, trace_id=f"o{batch}", value=1, user_id=f"u{i}") for i in range(10)
        ]
        response = post_events(project, events)
        assert response.status_code == 200
        accepted += response.json()["accepted"]
    assert accepted == 50 and unprocessed() == 50

    redis_server.start()
    # The worker reconnects by itself; beat would send the sweeper, the test sends it now.
    sweep.apply_async(kwargs={"older_than": 0})
    drained()
    assert sum(worker.processed_counts()[seen:]) == 50  # exactly once
    assert sorted(Trace.objects.values_list("thumbs_up", flat=True)) == [10] * 5

    # Once the pause is over, capture hands batches to the broker again.
    handoff._paused_until = 0.0
    post_events(project, [make_event(project, trace_id="after", value=-1)])
    drained()
    assert Trace.objects.get(key="after").thumbs_down == 1


def store_backlog(project, traces: int) -> int:
    """``traces`` registered traces with four unprocessed events each; returns the event count."""
    Trace.objects.bulk_create(
        Trace(project=project, key=f"k{i}", input=f"question {i}", output=f"answer {i} v1")
        for i in range(traces)
    )
    t0 = timezone.now() - timedelta(minutes=1)

    def event(i, kind, user, seconds, **fields):
        return FeedbackEvent(
            project=project,
            event_id=uuid.uuid4(),
            trace_key=f"k{i}",
            kind=kind,
            user_id=user,
            timestamp=t0 + timedelta(seconds=seconds),
            **fields,
        )

    rows = []
    for i in range(traces):
        rows += [
            event(i, "thumbs", "a", 1, value=1),
            event(i, "thumbs", "b", 2, value=-1),
            event(i, "thumbs", "b", 3, value=1),  # b changed their mind
            event(i, "edit", "a", 4, text=f"answer {i}, corrected"),
        ]
    FeedbackEvent.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


def assert_backlog_processed_right(project, traces: int) -> None:
    wrong = Trace.objects.filter(project=project).exclude(
        thumbs_up=2, thumbs_down=0, edit_count=1, sentiment="positive"
    )
    assert not wrong.exists()
    assert PreferencePair.objects.count() == traces
    assert set(PreferencePair.objects.values_list("source", flat=True)) == {"edit"}
    # Every event is processed and has its trace (found by key).
    assert not FeedbackEvent.objects.filter(processed_at__isnull=True).exists()
    assert not FeedbackEvent.objects.exclude(Exists(Trace.objects.for_event_ref())).exists()


@pytest.mark.faults
def test_a_worker_killed_mid_batch_leaves_right_rollups_and_no_double_pairs(
    broker, worker, project
):
    traces = 1500
    total = store_backlog(project, traces)
    pks = list(FeedbackEvent.objects.values_list("pk", flat=True))

    process_events.delay(pks)  # one task for all 6,000 events, 20 traces per transaction
    wait_for(lambda: unprocessed() < total, 60, "the worker to commit a first chunk", 0.005)
    worker.kill()
    left = unprocessed()
    assert 0 < left < total, "the worker was not killed in the middle of the batch"

    worker.start()
    sweep.apply_async(kwargs={"older_than": 0})
    drained(120)
    assert_backlog_processed_right(project, traces)


@pytest.mark.faults
def test_a_task_whose_pool_process_died_is_delivered_again_without_the_sweeper(
    broker, worker, project
):
    # Late acknowledgement: the worker's main process hands the message back to the broker
    # when the pool process running it dies, and a fresh pool process runs it again.
    traces = 1500
    total = store_backlog(project, traces)
    process_events.delay(list(FeedbackEvent.objects.values_list("pk", flat=True)))
    wait_for(lambda: unprocessed() < total, 60, "the worker to commit a first chunk", 0.005)
    assert worker.kill_pool()
    assert 0 < unprocessed() < total
    drained(120)  # no sweep
    assert_backlog_processed_right(project, traces)
    assert "WorkerLostError" in worker.output()


# -- time limits and dead letters ---------------------------------------------------------------

LIMITS = {
    "TRIAGE_CLASSIFIER": "tests.classifiers.misbehaving",
    "PROCESS_SOFT_TIME_LIMIT": 1,
    "PROCESS_TIME_LIMIT": 3,
    "PROCESS_MAX_ATTEMPTS": 3,
}


@pytest.fixture
def limited_worker(broker, worker, redis_server, tmp_path):
    """A worker with one-second time limits and a misbehaving classifier, alone on the queue."""
    worker.stop()  # the broker fixture of the next test starts it again
    limited = Worker(
        redis_server.url, worker.env["DATABASE_URL"], tmp_path, feedback_loop=LIMITS, name="limited"
    )
    limited.start()
    yield limited
    limited.stop()


def negative_traces(project, names) -> list[int]:
    t0 = timezone.now() - timedelta(minutes=1)
    rows = [
        FeedbackEvent(
            project=project,
            event_id=uuid.uuid4(),
            trace_key=name,
            kind="thumbs",
            value=-1,
            user_id="u",
            timestamp=t0,
        )
        for name in names
    ]
    return [e.pk for e in FeedbackEvent.objects.bulk_create(rows)]


def done(name) -> bool:
    return not FeedbackEvent.objects.filter(trace_key=name, processed_at__isnull=True).exists()


def succeeded(worker) -> int:
    return worker.output().count("succeeded in")


@pytest.mark.faults
def test_a_task_over_its_soft_time_limit_ends_as_a_recorded_failure(limited_worker, project):
    good = [f"good{i}" for i in range(5)]
    process_events.delay(negative_traces(project, [*good, "slow"]))

    def failed():
        row = ProcessingFailure.objects.filter(trace_key="slow").first()
        return row is not None and row.error.startswith("SoftTimeLimitExceeded") and row

    row = wait_for(failed, 60, "the slow trace's failure to be recorded", interval=0.1)
    assert all(done(name) for name in good)
    # The soft limit cut the chunk short; alone, the slow trace ran into the hard limit (the
    # soft one had been spent); delivered again, alone, it reached the soft limit once more.
    assert row.attempts == 2 and row.dead_at is None
    output = limited_worker.output()
    assert "Soft time limit (1s) exceeded" in output
    assert "Hard time limit (3s) exceeded" in output and "delivered again" in output
    assert not done("slow")

    wait_for(lambda: succeeded(limited_worker) == 1, 10, "the task to finish")
    process_events.delay(negative_traces(project, ["after"]))  # the worker still serves
    wait_for(lambda: done("after"), 30, "a later task to be processed")


@pytest.mark.faults
@pytest.mark.parametrize("name", ["stubborn", "killer"])
def test_a_trace_that_gets_its_worker_killed_every_time_ends_as_a_dead_letter(
    limited_worker, project, name
):
    # stubborn: killed at the hard time limit; killer: its pool process dies by SIGKILL.
    good = [f"good{i}" for i in range(5)]
    process_events.delay(negative_traces(project, [*good, name]))

    def dead():
        row = ProcessingFailure.objects.filter(trace_key=name, dead_at__isnull=False).first()
        return row is not None and succeeded(limited_worker) == 1 and row

    row = wait_for(dead, 150, "the trace to be a dead letter and its task to end", interval=0.2)
    assert row.attempts == LIMITS["PROCESS_MAX_ATTEMPTS"]
    assert row.error == failures.INTERRUPTED
    assert all(done(g) for g in good) and not done(name)
    assert not ProcessingFailure.objects.exclude(trace_key=name).exists()
    # No delivery after the one that found it dead.
    time.sleep(2)
    assert ProcessingFailure.objects.get(trace_key=name).attempts == row.attempts
    assert succeeded(limited_worker) == 1
    assert sweep.apply(kwargs={"older_than": 0}).get() == 0  # the sweeper leaves it alone
