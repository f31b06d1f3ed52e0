"""Receivers connected in ``FeedbackLoopConfig.ready()``."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from feedback_loop.internal.projects import forget_project
from feedback_loop.models import Project


@receiver([post_save, post_delete], sender=Project, dispatch_uid="feedback_loop_project_cache")
def _drop_cached_project(sender, instance: Project, **kwargs) -> None:
    forget_project(instance)
