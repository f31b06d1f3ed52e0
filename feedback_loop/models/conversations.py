"""Conversations: the messages before an answer (system prompt, earlier turns, tool calls), in
OpenAI's chat format. Each message is stored once per project, by its content; a trace lists its
messages in order. The turns a long conversation's traces share are therefore stored once, not
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


class TraceMessage(models.Model):
    """The message at ``position`` (0, 1, ...) of the conversation before a trace's answer."""

    trace = models.ForeignKey(
        Trace, on_delete=models.CASCADE, related_name="message_links", verbose_name=_("trace")
    )
    position = models.PositiveIntegerField(_("position"))
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="+", verbose_name=_("message")
    )

    class Meta:
        verbose_name = _("message of a trace")
        verbose_name_plural = _("messages of traces")
        constraints = [
            models.UniqueConstraint(fields=["trace", "position"], name="fl_trace_message_unique"),
        ]
        indexes = [models.Index(fields=["message"], name="fl_trace_message_message")]

    def __str__(self) -> str:
        return f"{self.trace_id}[{self.position}]"
