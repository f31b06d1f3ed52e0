"""What the tests of the admin's curation screens share (tests/test_admin_*.py): events
added by hand, the pipeline run, pages read; the small ``queue`` they start from is a fixture
in conftest.py."""

import uuid
from datetime import timedelta

from django.utils import timezone

from feedback_loop.internal.pipeline import process_events
from feedback_loop.models import (
    FeedbackEvent,
)

ADMIN = "/admin/feedback_loop"
XSS = '<script>alert("x")</script><a href="javascript:alert(1)">click</a>'


def add(project, trace_id, kind="thumbs", minutes=10, **fields):
    return FeedbackEvent.objects.create(
        project=project,
        event_id=uuid.uuid4(),
        trace_key=trace_id,
        kind=kind,
        timestamp=timezone.now() - timedelta(minutes=minutes),
        **fields,
    )


def run(project):
    process_events(project.events.values_list("pk", flat=True))


def page(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def listed(response) -> list[str]:
    return [t.key for t in response.context["cl"].result_list]
