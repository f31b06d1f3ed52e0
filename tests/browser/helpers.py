"""What the browser tests of the widget share: locators, database reads and waits."""

import time

from feedback_loop.models import FeedbackEvent

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
