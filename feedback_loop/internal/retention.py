"""Retention (old traces and events go, in batches) and forgetting one end user."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from feedback_loop.conf import app_settings
from feedback_loop.internal.pipeline import process_traces
from feedback_loop.models import DatasetItem, FeedbackEvent, PreferencePair, Project, Trace


def _in_dataset() -> Q:
    return Q(Exists(DatasetItem.objects.filter(trace=OuterRef("pk")))) | Q(
        Exists(DatasetItem.objects.filter(pair__rejected_trace=OuterRef("pk")))
    )


def expired_traces(project: Project, now=None):
    """Traces older than the project's retention, with no signal since, in no dataset."""
    cutoff = (now or timezone.now()) - timedelta(days=project.retention_days)
    return (
        Trace.objects.filter(project=project, created_at__lt=cutoff)
        .filter(Q(last_signal_at__isnull=True) | Q(last_signal_at__lt=cutoff))
        .exclude(_in_dataset())
    )


def apply_retention(project: Project, now=None) -> dict[str, int]:
    """Delete the project's expired traces (their events, reviews and pairs go with them) and
    events older than the retention that belong to no trace, RETENTION_BATCH_SIZE at a time so
    no statement holds locks for long."""
    if not project.retention_days:
        return {"traces": 0, "events": 0}
    now = now or timezone.now()
    size = app_settings.RETENTION_BATCH_SIZE
    deleted = {"traces": 0, "events": 0}
    while True:
        pks = list(expired_traces(project, now).values_list("pk", flat=True)[:size])
        if not pks:
            break
        with transaction.atomic():
            events, _ = FeedbackEvent.objects.filter(trace_id__in=pks).delete()
            Trace.objects.filter(pk__in=pks).delete()
        deleted["traces"] += len(pks)
        deleted["events"] += events
    cutoff = now - timedelta(days=project.retention_days)
    orphans = FeedbackEvent.objects.filter(
        project=project, trace__isnull=True, created_at__lt=cutoff
    ).exclude(Exists(Trace.objects.filter(project=project, trace_id=OuterRef("trace_key"))))
    while True:
        pks = list(orphans.values_list("pk", flat=True)[:size])
        if not pks:
            break
        FeedbackEvent.objects.filter(pk__in=pks).delete()
        deleted["events"] += len(pks)
    return deleted


def apply_all_retention() -> dict[str, dict[str, int]]:
    return {
        project.name: apply_retention(project)
        for project in Project.objects.filter(retention_days__isnull=False)
    }


@dataclass
class Forgotten:
    events: int = 0
    traces: int = 0
    pairs: int = 0
    dataset_items: int = 0
    traces_updated: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def forget_user(project: Project, user_id: str, *, dry_run: bool = False) -> Forgotten:
    """Delete everything one end user left: their events (votes, comments, edits, copied text),
    the preference pairs and dataset items made from them, and the traces of their own
    conversations. Traces they only voted on stay, with rollups recomputed without them."""
    if not user_id:
        raise ValueError("user_id must not be empty.")
    events = FeedbackEvent.objects.filter(project=project, user_id=user_id)
    own_traces = Trace.objects.filter(project=project, user_id=user_id)
    pairs = PreferencePair.objects.filter(project=project).filter(
        Q(user_id=user_id) | Q(trace__user_id=user_id) | Q(rejected_trace__user_id=user_id)
    )
    items = DatasetItem.objects.filter(dataset__project=project).filter(
        Q(trace__user_id=user_id) | Q(pair__in=pairs)
    )
    report = Forgotten(
        events=events.count(),
        traces=own_traces.count(),
        pairs=pairs.count(),
        dataset_items=items.count(),
    )
    touched = sorted(
        set(events.exclude(trace__user_id=user_id).values_list("project_id", "trace_key"))
    )
    if dry_run:
        report.traces_updated = len(touched)
        return report
    with transaction.atomic():
        items.delete()
        pairs.delete()
        events.delete()
        own_traces.delete()
    report.traces_updated = len(touched)
    process_traces(touched)
    return report
