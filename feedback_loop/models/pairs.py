"""Preference pairs the pipeline finds: (prompt, chosen, rejected)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from feedback_loop.conf import MAX_ID_CHARS
from feedback_loop.models.events import FeedbackEvent
from feedback_loop.models.projects import Project
from feedback_loop.models.traces import Trace


class PairSource(models.TextChoices):
    EDIT = "edit", _("edit: the user's version over the model's")
    REGENERATE = "regenerate", _("regenerate: the accepted answer over the discarded one")
    SESSION = "session", _("votes: the liked answer over the disliked one, same input")


class PreferencePair(models.Model):
    """(prompt, chosen, rejected) found by the pipeline; stored once per ``dedupe_key``."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="pairs", verbose_name=_("project")
    )
    source = models.CharField(_("source"), max_length=16, choices=PairSource.choices)
    trace = models.ForeignKey(
        Trace,
        on_delete=models.CASCADE,
        related_name="pairs",
        verbose_name=_("trace"),
        help_text=_("The answer the signal was on (the chosen one for regenerates and votes)."),
    )
    rejected_trace = models.ForeignKey(
        Trace,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="rejected_in_pairs",
        verbose_name=_("rejected trace"),
    )
    event = models.ForeignKey(
        FeedbackEvent,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("source event"),
    )
    prompt = models.TextField(_("prompt"), blank=True)
    chosen = models.TextField(_("chosen"))
    rejected = models.TextField(_("rejected"))
    session_id = models.CharField(_("session id"), max_length=MAX_ID_CHARS, blank=True)
    user_id = models.CharField(_("end user id"), max_length=MAX_ID_CHARS, blank=True)
    dedupe_key = models.CharField(_("dedupe key"), max_length=200, editable=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("preference pair")
        verbose_name_plural = _("preference pairs")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "dedupe_key"], name="fl_pair_unique"),
        ]
        indexes = [
            models.Index(fields=["project", "user_id"], name="fl_pair_user"),
        ]

    def __str__(self) -> str:
        return f"{self.get_source_display().split(':')[0]} pair on {self.trace}"
