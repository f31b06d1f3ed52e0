"""Retention: old traces and events go, in batches. (Forgetting one end user: erasure.py.)"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from feedback_loop import conversations
from feedback_loop.conf import app_settings
from feedback_loop.models import DatasetItem, FeedbackEvent, Project, Trace


def _in_dataset() -> Q:
    return Q(Exists(DatasetItem.objects.filter(trace=OuterRef("pk")))) | Q(
        Exists(DatasetItem.objects.filter(pair__rejected_trace=OuterRef("pk")))
    )


def expired_traces(project: Project, now=None):
    """Traces older than the project's retention, with no signal since, in no dataset."""
    if project.retention_days is None:
        return Trace.objects.none()
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
            doomed = Trace.objects.filter(pk__in=pks)
            events, _ = FeedbackEvent.objects.of_traces(
                doomed.values_list("project_id", "key")
            ).delete()
            doomed.delete()
        deleted["traces"] += len(pks)
        deleted["events"] += events
    cutoff = now - timedelta(days=project.retention_days)
    orphans = FeedbackEvent.objects.filter(project=project, created_at__lt=cutoff).exclude(
        Exists(Trace.objects.for_event_ref())
    )
    while True:
        pks = list(orphans.values_list("pk", flat=True)[:size])
        if not pks:
            break
        FeedbackEvent.objects.filter(pk__in=pks).delete()
        deleted["events"] += len(pks)
    if deleted["traces"]:
        # The messages of the deleted traces' conversations that no other trace has.
        conversations.drop_orphans(project.pk)
    return deleted


def apply_all_retention() -> dict[str, dict[str, int]]:
    return {
        project.name: apply_retention(project)
        for project in Project.objects.filter(retention_days__isnull=False)
    }
