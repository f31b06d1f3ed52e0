"""The demo site's Celery app: ``celery -A example_project worker`` and ``... beat``."""

import os

from celery import Celery

from feedback_loop.tasks import BEAT_SCHEDULE

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")

app = Celery("example_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.conf.beat_schedule = {**BEAT_SCHEDULE, **(app.conf.beat_schedule or {})}
