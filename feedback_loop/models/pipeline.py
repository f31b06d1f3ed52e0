"""How far the processing pipeline has come: one row the workers move on after each batch, which
the sweeper reads to tell a lost message from one still waiting behind a backlog
(``internal/sweeping.py``)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


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
