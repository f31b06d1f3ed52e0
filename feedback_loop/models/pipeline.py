"""The processing pipeline's own state: how far it has come (one row the workers move on after
each batch, which the sweeper reads to tell a lost message from one still waiting behind a
backlog, ``internal/sweeping.py``), each voter's current vote on a trace, and the regeneration
links claimed for answers not there yet (``internal/regenerations.py``)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from feedback_loop.conf import MAX_ID_CHARS


class PipelineProgress(models.Model):
    """The single row (pk 1): when a batch last finished, and the newest queued time among
    the messages processed so far."""

    finished_at = models.DateTimeField(_("a batch last finished"), null=True)
    queued_until = models.DateTimeField(_("newest message processed was queued"), null=True)

    class Meta:
        verbose_name = _("pipeline progress")
        verbose_name_plural = _("pipeline progress")

    def __str__(self) -> str:
        return f"finished {self.finished_at}, queued until {self.queued_until}"


class CurrentVote(models.Model):
    """A voter's latest thumbs or rating on a trace (by the user's clock, then arrival): what the
    pipeline compares a new vote with, so that a trace's counters move by deltas instead of
    being recounted from all of its events (``internal/increments.py``)."""

    trace = models.ForeignKey(
        "feedback_loop.Trace", on_delete=models.CASCADE, related_name="current_votes"
    )
    kind = models.CharField(_("kind"), max_length=16)
    voter = models.CharField(_("voter"), max_length=136)
    value = models.FloatField(_("value"), null=True)
    timestamp = models.DateTimeField(_("timestamp"))
    # The event's id, not a foreign key: erasing events rebuilds the trace's votes anyway.
    event_id = models.BigIntegerField(_("event"))

    class Meta:
        verbose_name = _("current vote")
        verbose_name_plural = _("current votes")
        constraints = [
            models.UniqueConstraint(fields=["trace", "kind", "voter"], name="fl_vote_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.value} by {self.voter}"


class RegenerationClaim(models.Model):
    """A regeneration link an event claimed naming an answer that was not there yet when it was
    processed: settled (proven and made, or ignored) when either answer is processed again."""

    project = models.ForeignKey("feedback_loop.Project", on_delete=models.CASCADE)
    old_key = models.CharField(_("old answer"), max_length=MAX_ID_CHARS)
    new_key = models.CharField(_("new answer"), max_length=MAX_ID_CHARS)
    voter = models.CharField(_("voter"), max_length=136)
    other_key = models.CharField(_("trace the voter must also be on"), max_length=MAX_ID_CHARS)

    class Meta:
        verbose_name = _("regeneration claim")
        verbose_name_plural = _("regeneration claims")
        constraints = [
            models.UniqueConstraint(
                fields=["project", "old_key", "new_key", "voter"], name="fl_claim_unique"
            ),
        ]
        indexes = [models.Index(fields=["project", "new_key"], name="fl_claim_new")]

    def __str__(self) -> str:
        return f"{self.new_key} regenerated from {self.old_key}, claimed by {self.voter}"
