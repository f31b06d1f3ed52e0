"""Dead letters of the processing pipeline."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from feedback_loop.conf import MAX_ID_CHARS
from feedback_loop.models.projects import Project


class ProcessingFailure(models.Model):
    """A trace whose processing failed. The sweeper tries it again until it has failed
    PROCESS_MAX_ATTEMPTS times; then it is a dead letter, left aside with its error until a
    curator retries it from the admin."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="+", verbose_name=_("project")
    )
    trace_key = models.CharField(_("trace id"), max_length=MAX_ID_CHARS)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    error = models.TextField(_("last error"), blank=True)
    first_failed_at = models.DateTimeField(_("first failed"), default=timezone.now)
    last_failed_at = models.DateTimeField(_("last failed"), default=timezone.now)
    dead_at = models.DateTimeField(
        _("given up"),
        null=True,
        blank=True,
        help_text=_("Set when the attempts ran out: its events are no longer queued."),
    )

    class Meta:
        verbose_name = _("processing failure")
        verbose_name_plural = _("processing failures")
        ordering = ["-last_failed_at"]
        constraints = [
            models.UniqueConstraint(fields=["project", "trace_key"], name="fl_failure_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.trace_key} ({self.attempts})"
