"""Conversations: the messages before an answer (system prompt, earlier turns, tool calls), in
OpenAI's chat format. Each message is stored once per project, by its content; a trace lists its
messages' ids in order. The turns a long conversation's traces share are therefore stored once, not
copied into each of its answers."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from feedback_loop.models.projects import Project
from feedback_loop.models.traces import Trace


class Message(models.Model):
    """One message of a conversation, as the host gave it, stored once per project."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="+", verbose_name=_("project")
    )
    digest = models.CharField(_("content digest"), max_length=64)
    role = models.CharField(_("role"), max_length=16)
    data = models.JSONField(_("message"))

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        constraints = [
            models.UniqueConstraint(fields=["project", "digest"], name="fl_message_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.role} #{self.pk}"


class Conversation(models.Model):
    """The conversation before a trace's answer: its messages' ids, in order (one row and one
    small list per trace, however long the conversation)."""

    trace = models.OneToOneField(
        Trace,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="conversation",
        verbose_name=_("trace"),
    )
    message_ids = models.JSONField(_("message ids"), default=list)

    class Meta:
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")

    def __str__(self) -> str:
        return f"{self.trace_id}: {len(self.message_ids)} messages"
