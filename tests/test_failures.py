"""Processing failures: a trace whose processing raises fails alone, is tried again a few times,
then is left aside as a dead letter that the sweeper no longer queues and the admin shows with
its error and can retry. (The time limits with a real worker are in tests/test_worker.py.)"""

import uuid
from datetime import timedelta

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.db import OperationalError, connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from feedback_loop.conf import validate
from feedback_loop.internal import failures
from feedback_loop.internal.pipeline import process_events
from feedback_loop.models import FeedbackEvent, ProcessingFailure, Trace
from feedback_loop.tasks import process_events as process_events_task
from feedback_loop.tasks import sweep
from tests.conftest import celery_broker
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ADMIN = "/admin/feedback_loop/processingfailure/"
T0 = timezone.now() - timedelta(hours=1)


class Killed(BaseException):
    """What a worker killed mid-trace looks like from inside: nothing below it runs."""


def classifier(trace, events):
    if trace.key == "bad":
        raise RuntimeError("model endpoint down")
    if trace.key == "slow":
        raise SoftTimeLimitExceeded()
    if trace.key == "killer":
        raise Killed()
    return ["hallucination"]


def fine(trace, events):
    return ["format"]


def classifying(function, **settings):
    return override_settings(FEEDBACK_LOOP={"TRIAGE_CLASSIFIER": function, **settings})


def add(project, trace_id, **fields):
    return FeedbackEvent.objects.create(
        project=project,
        event_id=uuid.uuid4(),
        trace_key=trace_id,
        kind="thumbs",
        value=-1,
        timestamp=T0,
        **fields,
    )


def run(project, **kwargs):
    return process_events(project.events.values_list("pk", flat=True), **kwargs)


def unprocessed(trace_id) -> int:
    return FeedbackEvent.objects.filter(trace_key=trace_id, processed_at__isnull=True).count()


def failure(trace_id="bad") -> ProcessingFailure:
    return ProcessingFailure.objects.get(trace_key=trace_id)


@pytest.fixture
def traces(project):
    for trace_id in ("good1", "bad", "good2"):
        add(project, trace_id)
    return project


def test_one_trace_failing_leaves_the_others_of_the_task_processed(traces):
    with classifying(classifier):
        assert run(traces) == 2
    for good in ("good1", "good2"):
        assert unprocessed(good) == 0
        trace = Trace.objects.get(key=good)
        assert trace.thumbs_down == 1
        assert set(trace.suggested_error_modes.values_list("slug", flat=True)) == {"hallucination"}
    assert unprocessed("bad") == 1  # left for the sweeper
    row = failure()
    assert (row.project, row.attempts, row.dead_at) == (traces, 1, None)
    assert row.error.startswith("RuntimeError: model endpoint down\n")
    assert "in classifier" in row.error  # the traceback follows
    assert ProcessingFailure.objects.count() == 1


def test_after_max_attempts_a_trace_is_a_dead_letter_the_sweeper_leaves_alone(traces):
    with classifying(classifier, PROCESS_MAX_ATTEMPTS=3, SWEEP_AFTER_SECONDS=0):
        for attempt in (1, 2, 3):
            run(traces)
            assert failure().attempts == attempt
        row = failure()
        assert row.dead_at is not None and row.last_failed_at >= row.first_failed_at
        add(traces, "bad")  # a later event of a dead trace is not processed either
        add(traces, "good3")
        with CaptureQueriesContext(connection) as queries:
            assert run(traces) == 1  # good3
        assert failure().attempts == 3
        writes = [q["sql"] for q in queries if "processingfailure" in q["sql"]]
        assert len(writes) == 1 and writes[0].startswith("SELECT")
        assert unprocessed("bad") == 2
        assert sweep(older_than=0) == 0  # nothing queued: only the dead trace is unprocessed


def test_a_trace_that_later_processes_fine_loses_its_failure_row(traces):
    with classifying(classifier):
        run(traces)
    assert failure().attempts == 1
    with classifying(fine):
        assert run(traces) == 1
    assert not ProcessingFailure.objects.exists()
    assert unprocessed("bad") == 0
    assert Trace.objects.get(key="bad").suggested_error_modes.get().slug == "format"


def test_the_normal_path_reads_failures_once_and_writes_none(traces):
    with classifying(fine), CaptureQueriesContext(connection) as queries:
        assert run(traces) == 3
    touching = [q["sql"] for q in queries if "processingfailure" in q["sql"]]
    assert len(touching) == 1 and touching[0].startswith("SELECT")
    assert not ProcessingFailure.objects.exists()


def test_the_soft_time_limit_is_a_recorded_failure(project):
    add(project, "slow")
    add(project, "good1")
    with classifying(classifier):
        assert run(project) == 1
    assert failure("slow").error.startswith("SoftTimeLimitExceeded")
    assert unprocessed("good1") == 0


def test_a_redelivered_message_goes_trace_by_trace_with_each_attempt_recorded_first(project):
    seen = []

    def recording(trace, events):
        row = ProcessingFailure.objects.get(trace_key=trace.key)
        seen.append((trace.key, row.attempts, row.error))
        return classifier(trace, events)

    for trace_id in ("good1", "good2"):
        add(project, trace_id)
    with classifying(recording):
        assert run(project, redelivered=True) == 2
    assert seen == [("good1", 1, failures.INTERRUPTED), ("good2", 1, failures.INTERRUPTED)]
    assert not ProcessingFailure.objects.exists()  # each cleared once it succeeded


def test_a_trace_that_kills_its_worker_every_time_ends_as_a_dead_letter(project):
    add(project, "good1")
    add(project, "killer")
    add(project, "good2")
    with classifying(classifier, PROCESS_MAX_ATTEMPTS=3):
        # The first delivery: the chunk dies with the worker, nothing is recorded.
        with pytest.raises(Killed):
            run(project)
        assert not ProcessingFailure.objects.exists() and unprocessed("good1") == 1
        # Delivered again, one trace at a time: each attempt is counted before it runs.
        for attempt in (1, 2, 3):
            with pytest.raises(Killed):
                run(project, redelivered=True)
            row = failure("killer")
            assert row.attempts == attempt and row.error == failures.INTERRUPTED
        # The others (sorted before it) were done on the first redelivery.
        assert unprocessed("good1") == unprocessed("good2") == 0
        assert row.dead_at is not None
        assert run(project, redelivered=True) == 0  # no Killed: the dead trace is skipped
    assert failure("killer").attempts == 3
    assert set(ProcessingFailure.objects.values_list("trace_key", flat=True)) == {"killer"}


def test_the_database_being_down_is_no_traces_failure(traces):
    def down(trace, events):
        raise OperationalError("server closed the connection unexpectedly")

    with classifying(down), pytest.raises(OperationalError):
        run(traces)  # the task is retried later (autoretry_for DatabaseError)
    assert not ProcessingFailure.objects.exists()


def test_the_task_reads_redelivered_from_the_message(traces, monkeypatch):
    calls = []
    monkeypatch.setattr(
        "feedback_loop.internal.pipeline.process_events",
        lambda pks, redelivered, sent_at=None: calls.append(redelivered) or 0,
    )
    pks = list(traces.events.values_list("pk", flat=True))
    process_events_task.apply(args=(pks,))  # eager: a first delivery
    # What a worker's request holds for a message kombu restored after its worker was lost.
    process_events_task.push_request(id="t", delivery_info={"redelivered": True})
    try:
        process_events_task.run(pks)
    finally:
        process_events_task.pop_request()
    assert calls == [False, True]


def test_time_limits_come_from_the_settings():
    from feedback_loop.tasks import apply_retention

    assert (process_events_task.soft_time_limit, process_events_task.time_limit) == (300, 360)
    assert (sweep.soft_time_limit, apply_retention.time_limit) == (1800, 1860)
    assert process_events_task.acks_on_timeout is False and sweep.acks_on_timeout is True
    no_hard_limit = {"PROCESS_SOFT_TIME_LIMIT": 5, "PROCESS_TIME_LIMIT": None}
    with override_settings(FEEDBACK_LOOP=no_hard_limit):
        assert (process_events_task.soft_time_limit, process_events_task.time_limit) == (5, None)


def test_the_message_leaves_the_limits_to_the_worker(monkeypatch):
    # Celery would copy the publisher's limits into the message, where they beat the worker's.
    sent = []
    with celery_broker("memory://") as app:
        monkeypatch.setattr(app, "send_task", lambda *args, **options: sent.append(options))
        process_events_task.delay([1])
        sweep.apply_async(kwargs={"older_than": 0})
        process_events_task.apply_async(([2],), soft_time_limit=7)  # unless given when queued
    limits = [(o["time_limit"], o["soft_time_limit"]) for o in sent]
    assert limits == [(None, None), (None, None), (None, 7)]


@pytest.mark.parametrize(
    ("user_settings", "words"),
    [
        ({"PROCESS_SOFT_TIME_LIMIT": 0}, "PROCESS_SOFT_TIME_LIMIT'] must be a number of seconds"),
        ({"PROCESS_TIME_LIMIT": "60"}, "PROCESS_TIME_LIMIT'] must be a number of seconds > 0"),
        ({"PERIODIC_TIME_LIMIT": True}, "PERIODIC_TIME_LIMIT'] must be a number of seconds"),
        ({"PROCESS_SOFT_TIME_LIMIT": 400}, "(400) must be below PROCESS_TIME_LIMIT (360)"),
        (
            {"PERIODIC_SOFT_TIME_LIMIT": 10, "PERIODIC_TIME_LIMIT": 10},
            "(10) must be below PERIODIC_TIME_LIMIT (10)",
        ),
        ({"PROCESS_MAX_ATTEMPTS": 0}, "PROCESS_MAX_ATTEMPTS'] must be a positive integer"),
    ],
)
def test_bad_limits_are_named(user_settings, words):
    problems = validate(user_settings)
    assert len(problems) == 1 and words in problems[0], problems


def test_limits_that_fit_pass():
    assert validate({"PROCESS_SOFT_TIME_LIMIT": 0.5, "PROCESS_TIME_LIMIT": 2}) == []
    assert validate({"PROCESS_SOFT_TIME_LIMIT": None, "PERIODIC_TIME_LIMIT": None}) == []
    assert validate({"PROCESS_MAX_ATTEMPTS": 1}) == []


# -- the admin -----------------------------------------------------------------------------------


@pytest.fixture
def dead(traces):
    with classifying(classifier, PROCESS_MAX_ATTEMPTS=2):
        run(traces)
        run(traces)
    row = failure()
    assert row.dead_at is not None
    return row


def test_the_admin_lists_failures_with_their_error(admin_client, dead):
    response = admin_client.get(ADMIN)
    assert response.status_code == 200
    page = response.content.decode()
    assert "bad" in page and "RuntimeError: model endpoint down" in page
    assert "Traceback" not in page  # the first line only, in the list
    assert list(response.context["cl"].result_list) == [dead]
    assert admin_client.get(ADMIN, {"given_up": "no"}).context["cl"].result_count == 0
    assert admin_client.get(ADMIN, {"given_up": "yes"}).context["cl"].result_count == 1
    filtered = admin_client.get(ADMIN, {"project__id__exact": dead.project_id})
    assert filtered.context["cl"].result_count == 1
    detail = admin_client.get(f"{ADMIN}{dead.pk}/change/")
    assert detail.status_code == 200
    body = detail.content.decode()
    assert "Traceback (most recent call last)" in body and "model endpoint down" in body
    assert "/admin/feedback_loop/feedbackevent/?project__id__exact=" in body
    assert 'name="_save"' not in body and "deletelink" not in body  # read-only


def test_retry_asks_first_then_queues_the_trace_again(
    admin_client, dead, django_capture_on_commit_callbacks
):
    form = {"action": "retry_processing", "_selected_action": [dead.pk]}
    confirm = admin_client.post(ADMIN, form)
    assert confirm.status_code == 200
    page = confirm.content.decode()
    assert "This applies to 1 trace." in page
    assert "bad (Test project): RuntimeError: model endpoint down</li>" in page
    assert failure().dead_at is not None  # nothing done yet

    with classifying(fine), django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(ADMIN, {**form, "apply": "yes"}, follow=True)
    assert "Queued 1 trace for processing again." in response.content.decode()
    # Eager mode: processed at once, and fine this time.
    assert unprocessed("bad") == 0 and not ProcessingFailure.objects.exists()


def test_retry_without_fixing_the_cause_counts_again_from_one(
    admin_client, dead, django_capture_on_commit_callbacks
):
    with classifying(classifier), django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            ADMIN, {"action": "retry_processing", "_selected_action": [dead.pk], "apply": "yes"}
        )
    row = failure()
    assert (row.attempts, row.dead_at) == (1, None)
    assert row.error.startswith("RuntimeError")


def test_viewing_failures_does_not_allow_retrying_them(client, dead):
    from django.contrib.auth.models import Permission

    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_processingfailure"))
    client.force_login(viewer)
    response = client.get(ADMIN)
    assert response.status_code == 200 and "retry_processing" not in response.content.decode()
    client.post(ADMIN, {"action": "retry_processing", "_selected_action": [dead.pk], "apply": "1"})
    assert failure().dead_at is not None
