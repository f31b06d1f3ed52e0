"""Celery tasks of the processing pipeline, and the beat schedule a host adds.

Each task is safe to run twice and to be killed half-way (see ``internal/pipeline.py``): they
acknowledge late, so a message whose worker died is delivered again, and a periodic sweeper
queues whatever a lost message or a broker outage left unprocessed. Each has soft and hard time
limits (PROCESS_* and PERIODIC_* settings), and a trace that fails PROCESS_MAX_ATTEMPTS times is
left aside as a dead letter (``internal/failures.py``), so no message runs or comes back forever.

A host's Celery app (``proj/celery.py``)::

    from celery import Celery
    from feedback_loop.tasks import BEAT_SCHEDULE

    app = Celery("proj")
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.autodiscover_tasks()
    app.conf.beat_schedule = {**BEAT_SCHEDULE, **app.conf.beat_schedule}
"""

from __future__ import annotations

import logging

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.schedules import crontab
from django.db import DatabaseError
from django.utils import timezone

from feedback_loop.conf import app_settings

logger = logging.getLogger("feedback_loop.tasks")

# Late acknowledgement: the message leaves the queue only after the task finished, and a task
# whose worker process died is handed back to the broker.
_RELIABLE = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "ignore_result": True,
}


class _LimitedTask(Task):
    """Time limits from the worker's FEEDBACK_LOOP, read when it starts consuming the task."""

    soft_limit_setting = "PERIODIC_SOFT_TIME_LIMIT"
    limit_setting = "PERIODIC_TIME_LIMIT"

    def apply_async(self, args=None, kwargs=None, **options):
        # Celery copies a task's limits into the message, where they beat the worker's: leave
        # them out (unless given here), so the settings of the worker that runs it decide.
        options.setdefault("time_limit", None)
        options.setdefault("soft_time_limit", None)
        return super().apply_async(args, kwargs, **options)

    @property
    def soft_time_limit(self) -> float | None:
        return getattr(app_settings, self.soft_limit_setting)

    @property
    def time_limit(self) -> float | None:
        return getattr(app_settings, self.limit_setting)


class _PipelineTask(_LimitedTask):
    soft_limit_setting = "PROCESS_SOFT_TIME_LIMIT"
    limit_setting = "PROCESS_TIME_LIMIT"
    # A task killed at its hard time limit goes back to the broker (marked redelivered) rather
    # than being acknowledged: run again trace by trace, it finds the trace that was too slow.
    acks_on_timeout = False


@shared_task(
    bind=True,
    base=_PipelineTask,
    name="feedback_loop.process_events",
    autoretry_for=(DatabaseError,),
    retry_backoff=2,
    retry_backoff_max=300,
    max_retries=10,
    **_RELIABLE,
)
def process_events(self, event_ids: list[int], sent_at: float | None = None) -> int:
    """Roll up the traces of these events (FeedbackEvent primary keys); returns how many events
    it marked processed. ``sent_at``: when the message was sent (a Unix time), recorded as the
    pipeline's progress after each chunk, for the sweeper (internal/sweeping.py)."""
    from feedback_loop.internal.pipeline import process_events as run

    # Kombu marks a message that a killed worker handed back (or a lost connection restored).
    redelivered = bool((self.request.delivery_info or {}).get("redelivered"))
    if redelivered:
        logger.warning("Task %s was delivered again: one trace at a time.", self.request.id)
    return run(event_ids, redelivered=redelivered, sent_at=sent_at)


def _until_soft_limit(name: str, run):
    # Periodic work is done in committed steps; the next run goes on where this one stopped.
    try:
        return run()
    except SoftTimeLimitExceeded:
        logger.warning("%s stopped at PERIODIC_SOFT_TIME_LIMIT; its next run goes on.", name)
        return None


@shared_task(base=_LimitedTask, name="feedback_loop.sweep", **_RELIABLE)
def sweep(older_than: float | None = None) -> int | None:
    """Queue again the events whose message was lost (internal/sweeping.py: unprocessed for
    longer than SWEEP_AFTER_SECONDS and overtaken by the pipeline, or never queued again
    while it is stalled; never those waiting behind a backlog), PROCESS_BATCH_SIZE per task,
    except those of dead letters; returns how many it queued."""
    return _until_soft_limit("The sweep", lambda: _sweep(older_than))


def _sweep(older_than: float | None) -> int:
    from feedback_loop.internal.failures import dead_trace_exists
    from feedback_loop.internal.sweeping import lost_q
    from feedback_loop.models import FeedbackEvent

    seconds = app_settings.SWEEP_AFTER_SECONDS if older_than is None else older_than
    now = timezone.now()
    pks = list(
        FeedbackEvent.objects.filter(lost_q(seconds, now))
        .filter(~dead_trace_exists())
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)[: app_settings.SWEEP_MAX_EVENTS]
    )
    size = app_settings.PROCESS_BATCH_SIZE
    for start in range(0, len(pks), size):
        chunk = pks[start : start + size]
        process_events.delay(chunk, now.timestamp())
        # Stamped once sent: a publish that fails leaves them as they were.
        FeedbackEvent.objects.filter(pk__in=chunk).update(requeued_at=now)
    if pks:
        logger.info("Sweeper queued %d unprocessed events.", len(pks))
    return len(pks)


@shared_task(base=_LimitedTask, name="feedback_loop.apply_dataset_rules", **_RELIABLE)
def apply_dataset_rules() -> dict[str, int] | None:
    """Add the traces matching each dataset's rule (never twice)."""
    from feedback_loop.internal.datasets import apply_rules

    return _until_soft_limit("Applying dataset rules", apply_rules)


@shared_task(base=_LimitedTask, name="feedback_loop.apply_retention", **_RELIABLE)
def apply_retention() -> dict[str, dict[str, int]] | None:
    """Delete traces and events older than each project's retention, except dataset traces."""
    from feedback_loop.internal.retention import apply_all_retention

    return _until_soft_limit("Retention", apply_all_retention)


@shared_task(base=_LimitedTask, name="feedback_loop.apply_scoring_rules", **_RELIABLE)
def apply_scoring_rules(limit: int | None = None) -> dict[str, int] | None:
    """Score the new traces of each active scoring rule (never twice per scorer version), at
    most SCORES_PER_RUN scorer calls per rule (evaluation/online.py); a backlog takes runs."""
    from feedback_loop.evaluation.online import apply_scoring_rules as run

    return _until_soft_limit("Online scoring", lambda: run(limit))


@shared_task(base=_LimitedTask, name="feedback_loop.check_alerts", **_RELIABLE)
def check_alerts() -> dict[str, int] | None:
    """Check every active alert rule; an episode is posted once, when it opens."""
    from feedback_loop.internal.alerts import check_all

    return _until_soft_limit("Alerts", check_all)


@shared_task(base=_LimitedTask, name="feedback_loop.refresh_themes", **_RELIABLE)
def refresh_themes(scope: str | None = None, days: int | None = None) -> dict[str, int] | None:
    """Find the themes in the comments of negative traces (internal/themes.py) of one set of
    projects ("all" or "1,2") over ``days``, or of every one the dashboard asked for lately."""
    from feedback_loop.internal.themes import refresh

    return _until_soft_limit("Themes", lambda: refresh(scope, days))


@shared_task(base=_LimitedTask, name="feedback_loop.refresh_agreement", **_RELIABLE)
def refresh_agreement(scope: str | None = None, days: int | None = None) -> int | None:
    """The dashboard's agreement figures (internal/agreement.py) of one set of projects over
    ``days``, or of every one the dashboard asked for lately; returns how many were computed."""
    from feedback_loop.internal.agreement import AGREEMENT

    return _until_soft_limit("Agreement", lambda: len(AGREEMENT.refresh(scope, days)))


BEAT_SCHEDULE = {
    "feedback-loop-themes": {"task": "feedback_loop.refresh_themes", "schedule": 3600.0},
    "feedback-loop-agreement": {"task": "feedback_loop.refresh_agreement", "schedule": 600.0},
    "feedback-loop-sweep": {"task": "feedback_loop.sweep", "schedule": 60.0},
    "feedback-loop-alerts": {"task": "feedback_loop.check_alerts", "schedule": 300.0},
    "feedback-loop-dataset-rules": {
        "task": "feedback_loop.apply_dataset_rules",
        "schedule": 300.0,
    },
    "feedback-loop-scoring-rules": {
        "task": "feedback_loop.apply_scoring_rules",
        "schedule": 300.0,
    },
    "feedback-loop-retention": {
        "task": "feedback_loop.apply_retention",
        "schedule": crontab(minute=17, hour=3),
    },
}


@shared_task(base=_LimitedTask, name="feedback_loop.run_experiment", **_RELIABLE)
def run_experiment(experiment_pk: int, concurrency: int = 4) -> str | None:
    """Run an experiment the server API started: its items without a result (so a message
    delivered again, after a worker died, goes on where it stopped), then its summary. Only a
    task of EVAL_TASKS runs. Returns the experiment's status; it is "failed" if the task cannot
    be loaded or the run stopped at PERIODIC_SOFT_TIME_LIMIT (feedback_loop_eval --resume goes
    on from its results)."""
    from feedback_loop.evaluation.runner import load_task, run, scorers_of
    from feedback_loop.models import Experiment, ExperimentStatus

    experiment = (
        Experiment.objects.select_related("dataset", "version").filter(pk=experiment_pk).first()
    )
    if experiment is None or experiment.status == ExperimentStatus.FINISHED:
        return None if experiment is None else experiment.status

    def failed(reason: str, *args) -> str:
        logger.error("Experiment %s failed: " + reason, experiment_pk, *args)
        Experiment.objects.filter(pk=experiment_pk).update(status=ExperimentStatus.FAILED)
        return ExperimentStatus.FAILED

    allowed = {str(task) for task in app_settings.EVAL_TASKS}
    if experiment.task not in allowed:
        return failed("its task %r is not in this worker's EVAL_TASKS.", experiment.task)
    try:
        call = load_task(experiment.task)
        named = list(scorers_of(experiment))
    except (ValueError, ImportError) as exc:
        return failed("%s", exc)
    try:
        run(experiment, call, named, concurrency=max(1, int(concurrency)))
    except SoftTimeLimitExceeded:
        # run() marked it failed and kept the results written so far.
        logger.warning("Experiment %s stopped at PERIODIC_SOFT_TIME_LIMIT.", experiment_pk)
    return experiment.status
