"""Real-browser tests of the widget: Debian's Chromium, driven by Playwright, against the live
server.

One browser per session, a fresh context (cookies, localStorage, Web Locks) per test. A test fails
when its page logs an error to the console, throws, reports a widget error or breaks the
Content-Security-Policy, unless the test allowed that message (``browser_errors.allow(...)``).

``FEEDBACK_LOOP_TEST_WIDGET=/path/to/widget.js`` serves that file instead of the committed
widget.js, to run the tests against another build (an older commit's, say)::

    git show bc76b35:feedback_loop/static/feedback_loop/widget.js > /tmp/old-widget.js
    FEEDBACK_LOOP_TEST_WIDGET=/tmp/old-widget.js pytest tests/browser
"""

import contextlib
import importlib
import os
import re
import threading
import time

import pytest
from django.conf import settings
from django.core.signals import request_finished, request_started

from feedback_loop.models import ErrorMode, Project

# Playwright's sync API runs an asyncio loop in the test thread; Django's ORM refuses to run in
# a thread with a running loop unless told that this is safe (it is: the loop is idle while the
# test's own code runs).
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

BUILTIN = importlib.import_module("feedback_loop.migrations.0002_builtin_error_modes").BUILTIN
CHROMIUM = "/usr/bin/chromium"
WIDGET_OVERRIDE = os.environ.get("FEEDBACK_LOOP_TEST_WIDGET")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

# Runs in every page before its scripts. The stub is the widget's documented way to call the
# API before widget.js has loaded; the widget replays these on() calls. Widget errors and CSP
# violations become console errors, which the page fixture collects.
INSTRUMENT = """
(() => {
  const seen = (window.__fl = { queued: [], sent: [], rejected: [], csp: [] });
  const describe = (e) =>
    e && e.code ? `${e.code}: ${e.message}` : String((e && e.message) || JSON.stringify(e));
  window.FeedbackLoop = {
    q: [
      ["on", ["queued", (event) => seen.queued.push(event)]],
      ["on", ["sent", (detail) => seen.sent.push(detail)]],
      ["on", ["rejected", (detail) => seen.rejected.push(detail)]],
      ["on", ["error", (error) => console.error("FeedbackLoop error: " + describe(error))]],
    ],
  };
  addEventListener("securitypolicyviolation", (e) => {
    seen.csp.push(e.violatedDirective + " " + e.blockedURI);
    console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"}`);
  });
})();
"""


class BrowserErrors:
    """Console errors, uncaught exceptions and widget errors of one test's pages."""

    def __init__(self, page):
        self.page = page
        self.seen: list[str] = []
        # Chromium asks every site for /favicon.ico, which neither the demo nor the test pages have.
        self.allowed: list[re.Pattern] = [re.compile(r"404 .*/favicon\.ico\)$")]
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.seen.append(f"uncaught: {error}"))

    def _console(self, message):
        if message.type in ("error", "assert"):
            location = message.location or {}
            self.seen.append(f"console.{message.type}: {message.text} ({location.get('url', '')})")

    def allow(self, pattern: str) -> None:
        """Messages matching the regular expression ``pattern`` do not fail the test."""
        self.allowed.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        # Let Playwright deliver the messages still in flight (the page may be closed already).
        with contextlib.suppress(Exception):
            self.page.evaluate("0")
        return [e for e in self.seen if not any(p.search(e) for p in self.allowed)]


@pytest.fixture(scope="session")
def playwright_driver():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright_driver):
    browser = playwright_driver.chromium.launch(
        executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
    )
    yield browser
    browser.close()


class ServerActivity:
    """Requests the live server is answering, so that a test ends only once its page's last
    beacons are stored: the database is emptied after each test, and must not be while one of
    them is still being written."""

    def __init__(self):
        self.lock = threading.Lock()
        self.active = 0
        self.changed = time.monotonic()

    def started(self, **kwargs):
        with self.lock:
            self.active += 1
            self.changed = time.monotonic()

    def finished(self, **kwargs):
        with self.lock:
            self.active -= 1
            self.changed = time.monotonic()

    def wait_idle(self, quiet: float = 0.15, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if self.active <= 0 and time.monotonic() - self.changed >= quiet:
                    return
            time.sleep(0.02)


@pytest.fixture(scope="session")
def server_activity():
    activity = ServerActivity()
    request_started.connect(activity.started, dispatch_uid="browser-tests-started")
    request_finished.connect(activity.finished, dispatch_uid="browser-tests-finished")
    yield activity
    request_started.disconnect(dispatch_uid="browser-tests-started")
    request_finished.disconnect(dispatch_uid="browser-tests-finished")


@pytest.fixture
def page(browser, live_server, server_activity, request):
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(5_000)
    context.add_init_script(INSTRUMENT)
    if WIDGET_OVERRIDE:
        for pattern in ("**/static/feedback_loop/widget.js", "**/feedback/widget/*/widget.js"):
            context.route(
                pattern,
                lambda route: route.fulfill(path=WIDGET_OVERRIDE, content_type="text/javascript"),
            )
    page = context.new_page()
    request.node.browser_errors = BrowserErrors(page)
    yield page
    context.close()
    server_activity.wait_idle()


@pytest.fixture
def browser_errors(page, request) -> BrowserErrors:
    return request.node.browser_errors


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Fail the test itself (not its teardown) when its pages logged an unexpected error."""
    errors = getattr(item, "browser_errors", None)
    try:
        result = yield
    except BaseException as exc:
        if errors is not None and errors.seen:
            exc.add_note("Browser errors:\n  " + "\n  ".join(errors.seen))
        raise
    if errors is not None and (unexpected := errors.unexpected()):
        pytest.fail("Unexpected browser errors:\n  " + "\n  ".join(unexpected), pytrace=False)
    return result


@pytest.fixture(autouse=True)
def demo_project(transactional_db):
    """The project whose public key the settings name as DEFAULT_PROJECT: the demo chat and the
    test pages render their script tag and tokens for it. The built-in error modes, which the
    tag lists, are put back first: transactional tests empty every table, the migration's rows
    too."""
    for slug, name, description in BUILTIN:
        ErrorMode.objects.get_or_create(
            project=None,
            slug=slug,
            defaults={"name": name, "description": description, "is_builtin": True},
        )
    project, _secret = Project.create("Demo chat")
    project.public_key = settings.FEEDBACK_LOOP["DEFAULT_PROJECT"]
    project.save()
    return project
