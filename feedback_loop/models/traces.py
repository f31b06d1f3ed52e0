"""Traces: one model answer each, identified by the host's key, with its rolled-up feedback."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import models
from django.db.models import F, OuterRef
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from feedback_loop.conf import MAX_ID_CHARS
from feedback_loop.models.events import FeedbackEvent, FeedbackEventQuerySet, trace_keys_q
from feedback_loop.models.projects import Project


class Sentiment(models.TextChoices):
    POSITIVE = "positive", _("positive")
    NEGATIVE = "negative", _("negative")
    MIXED = "mixed", _("mixed")
    NONE = "none", _("none")


# Sentiments that put a trace in the review queue.
NEEDS_REVIEW = (Sentiment.NEGATIVE, Sentiment.MIXED)

TraceKey = tuple[int, str]  # (project id, the host's trace id)


class TraceQuerySet(models.QuerySet):
    def for_keys(self, keys: Iterable[TraceKey]) -> TraceQuerySet:
        """The traces named by (project id, host trace id) pairs."""
        return self.filter(trace_keys_q(keys, key="key"))

    def for_event_ref(self, **lookups) -> TraceQuerySet:
        """The trace of the outer query's event, for ``Exists()`` and ``Subquery()``."""
        return self.filter(project_id=OuterRef("project_id"), key=OuterRef("trace_key"), **lookups)

    def delete(self):
        # Events find their trace by key, not by a foreign key: they go with it explicitly.
        FeedbackEvent.objects.of_traces(self.values_list("project_id", "key")).delete()
        return super().delete()


class Trace(models.Model):
    """One model answer, identified by the host's trace id (``key``; ``trace_id`` in the API),
    with its rolled-up feedback. Its events are those with its project and ``trace_key``."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="traces", verbose_name=_("project")
    )
    key = models.CharField(_("trace id"), max_length=MAX_ID_CHARS)
    input = models.TextField(_("input"), blank=True)
    output = models.TextField(_("output"), blank=True)
    model = models.CharField(_("model"), max_length=200, blank=True)
    release = models.CharField(
        _("release"),
        max_length=200,
        blank=True,
        help_text=_("The host's release that produced the answer, e.g. its git commit."),
    )
    session_id = models.CharField(_("session id"), max_length=MAX_ID_CHARS, blank=True)
    user_id = models.CharField(_("end user id"), max_length=MAX_ID_CHARS, blank=True)
    metadata = models.JSONField(_("metadata"), default=dict, blank=True)
    registered = models.BooleanField(
        _("registered by the host"),
        default=True,
        help_text=_("False when the trace was created from a feedback event's output."),
    )
    regenerated_from = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="regenerations",
        verbose_name=_("regenerated from"),
    )

    # Rolled up from the events by the processing pipeline.
    sentiment = models.CharField(
        _("sentiment"), max_length=8, choices=Sentiment.choices, default=Sentiment.NONE
    )
    score = models.FloatField(
        _("score"), null=True, blank=True, help_text=_("-1 (bad) to 1 (good); empty without votes.")
    )
    thumbs_up = models.PositiveIntegerField(_("thumbs up"), default=0)
    thumbs_down = models.PositiveIntegerField(_("thumbs down"), default=0)
    rating_avg = models.FloatField(_("mean rating"), null=True, blank=True)
    rating_count = models.PositiveIntegerField(_("ratings"), default=0)
    # What the incremental pipeline adds its deltas to (the current ratings' sum, and how many
    # of them lie above and below the scale's middle); rating_avg and sentiment come from them.
    rating_sum = models.FloatField(_("sum of ratings"), default=0, editable=False)
    ratings_high = models.PositiveIntegerField(_("high ratings"), default=0, editable=False)
    ratings_low = models.PositiveIntegerField(_("low ratings"), default=0, editable=False)
    comment_count = models.PositiveIntegerField(_("comments"), default=0)
    edit_count = models.PositiveIntegerField(_("edits"), default=0)
    regenerate_count = models.PositiveIntegerField(_("regenerates"), default=0)
    copy_count = models.PositiveIntegerField(_("copies"), default=0)
    abandon_count = models.PositiveIntegerField(_("abandons"), default=0)
    last_signal_at = models.DateTimeField(_("last signal"), null=True, blank=True)
    strength = models.PositiveIntegerField(
        _("strength"),
        default=0,
        help_text=_(
            "How much feedback the trace has, for sorting: votes and edits weigh 3, "
            "regenerates and ratings 2, comments, copies and abandons 1."
        ),
    )
    suggested_error_modes = models.ManyToManyField(
        "feedback_loop.ErrorMode",
        blank=True,
        related_name="suggested_for",
        verbose_name=_("suggested error modes"),
    )

    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = TraceQuerySet.as_manager()

    class Meta:
        verbose_name = _("trace")
        verbose_name_plural = _("traces")
        constraints = [
            models.UniqueConstraint(fields=["project", "key"], name="fl_trace_unique_id"),
        ]
        indexes = [
            models.Index(fields=["project", "-created_at"], name="fl_trace_recent"),
            models.Index(fields=["project", "sentiment", "-last_signal_at"], name="fl_trace_queue"),
            # The review queue's two orders, with the admin's "-pk" tie-breaker.
            models.Index(
                Coalesce("last_signal_at", "created_at").desc(),
                F("id").desc(),
                name="fl_trace_signal",
            ),
            models.Index(fields=["-strength", "-id"], name="fl_trace_strength"),
            # The dashboard's window of negative traces (and the backlog's count) read from the
            # index alone: sentiment, then the last signal, with the columns they join on.
            models.Index(
                fields=["sentiment", "last_signal_at", "project", "id"],
                name="fl_trace_sentiment_window",
            ),
            models.Index(fields=["project", "model"], name="fl_trace_model"),
            models.Index(fields=["project", "release"], name="fl_trace_release"),
            models.Index(fields=["project", "session_id"], name="fl_trace_session"),
            models.Index(fields=["project", "user_id"], name="fl_trace_user"),
        ]

    def __str__(self) -> str:
        return self.key

    @property
    def events(self) -> FeedbackEventQuerySet:
        return FeedbackEvent.objects.of_traces([(self.project_id, self.key)])

    def delete(self, *args, **kwargs):
        self.events.delete()
        return super().delete(*args, **kwargs)
