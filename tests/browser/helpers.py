"""What the browser tests of the widget share: locators, database reads and waits."""

import os
import time
import uuid
from datetime import timedelta

from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import expect

from feedback_loop.models import FeedbackEvent, Trace

EVENTS = "**/feedback/api/v1/events"
# What Chromium logs when the endpoint fails; the outage tests expect it.
FAILED_LOAD = (
    r"Failed to load resource: (the server responded with a status of 503|net::ERR_FAILED)"
)

APPEND_LATER = """id => document.getElementById("log").append(
  document.importNode(document.querySelector(`template[data-later="${id}"]`).content, true))"""
OUTBOX = """() => Object.keys(localStorage).filter((k) => k.startsWith("fl:q:"))
  .flatMap((k) => JSON.parse(localStorage.getItem(k)).q.map((e) => e.event_id))"""


def toolbar(page, trace_id):
    """The toolbar the widget drew after the answer (Playwright's CSS pierces shadow roots)."""
    return page.locator(f'[data-feedback-trace="{trace_id}"] + [data-feedback-toolbar]')


def rows(**filters) -> list[FeedbackEvent]:
    return list(FeedbackEvent.objects.filter(**filters).order_by("timestamp", "id"))


def wait_until(page, check, what: str, timeout: float = 10.0):
    """Poll ``check`` (e.g. a database query) until it is truthy. Waits with Playwright, not
    time.sleep, so that the page's events and routes keep being served meanwhile."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout} s waiting for {what}")
        page.wait_for_timeout(50)
    return result


def wait_sent(page, count: int) -> list[dict]:
    """Wait until the server has answered for ``count`` events of this page; returns them."""
    page.wait_for_function("n => window.__fl.sent.length >= n", arg=count)
    return page.evaluate("window.__fl.sent")


def summary(event: FeedbackEvent) -> tuple:
    return (event.trace_key, event.kind, event.value, sorted(event.reasons), event.comment)


def seed_demo(project) -> Trace:
    """The demo's traces, feedback, datasets and pairs (its superuser admin / admin), plus a
    thumbs-down and an edit from a session with a 36-character id, as the widget makes them, on
    a negative trace, which this returns."""
    with open(os.devnull, "w") as quiet:
        call_command("demo_seed", stdout=quiet)
    trace = Trace.objects.filter(project=project, sentiment="negative").order_by("key").first()
    session = str(uuid.uuid4())
    for kind, extra in (("thumbs", {"value": -1, "comment": "Wrong."}), ("edit", {"text": "Hi"})):
        FeedbackEvent.objects.create(
            project=project,
            event_id=uuid.uuid4(),
            trace_key=trace.key,
            kind=kind,
            session_id=session,
            timestamp=timezone.now() - timedelta(minutes=5),
            **extra,
        )
    return trace


def log_in(page, username: str = "admin", password: str = "admin") -> None:
    page.goto("/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#user-tools")).to_be_visible()
