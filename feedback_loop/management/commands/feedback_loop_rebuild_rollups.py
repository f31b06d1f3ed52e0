"""Recompute traces' rollups, triage, reviews and pairs from their stored events: the repair
path of the pipeline (internal/pipeline.py), for a database restored from a backup, events
loaded by hand, or a rule of the rollups that changed between versions."""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from feedback_loop.conf import app_settings
from feedback_loop.internal.pipeline import process_traces
from feedback_loop.management.progress import Progress
from feedback_loop.models import Project, Trace


class Command(BaseCommand):
    help = (
        "Recompute the rollups (votes, counters, sentiment, strength), suggestions, reviews "
        "and pairs of traces from all of their events, in transactions of "
        "PROCESS_CHUNK_TRACES traces. Safe to run beside the workers."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--project", help="Only this project's traces (its public key, id or name)."
        )
        parser.add_argument(
            "--since",
            type=int,
            metavar="DAYS",
            help="Only traces with a signal (or, without one, created) in the last DAYS days.",
        )

    def handle(self, *args, **options):
        traces = Trace.objects.all()
        if options["project"]:
            traces = traces.filter(project=self._project(options["project"]))
        if options["since"] is not None:
            if options["since"] < 1:
                raise CommandError("--since counts days: 1 or more.")
            since = timezone.now() - timedelta(days=options["since"])
            traces = traces.filter(last_signal_at__gte=since) | traces.filter(
                last_signal_at__isnull=True, created_at__gte=since
            )
        keys = list(traces.order_by("pk").values_list("project_id", "key"))
        progress = Progress(self.stderr, len(keys), unit="traces")
        size = app_settings.PROCESS_CHUNK_TRACES * 10
        done = 0
        for start in range(0, len(keys), size):
            chunk = keys[start : start + size]
            process_traces(chunk)
            done += len(chunk)
            progress(done)
        progress.done()
        self.stdout.write(f"Rebuilt the rollups of {len(keys):,} traces.")

    def _project(self, wanted: str) -> Project:
        found = Project.objects.filter(public_key=wanted).first()
        if found is None and wanted.isdigit():
            found = Project.objects.filter(pk=int(wanted)).first()
        if found is None:
            matches = list(Project.objects.filter(name=wanted)[:2])
            if len(matches) > 1:
                raise CommandError(f"Several projects are named {wanted!r}; give its public key.")
            found = matches[0] if matches else None
        if found is None:
            raise CommandError(f"No project {wanted!r} (a public key, an id or a name).")
        return found
