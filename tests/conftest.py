import contextlib
import json
import uuid

import pytest
from django.db import connection

from feedback_loop import record_trace, sign_trace
from feedback_loop.internal import projects
from feedback_loop.models import Project
from tests.curation import XSS, add, run

EVENTS_URL = "/feedback/api/v1/events"
API = "/feedback/api/v1"


def bearer(key):
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


class Api:
    """The server API as the host's backend calls it: JSON bodies, the secret key as bearer."""

    def __init__(self, client, key):
        self.client = client
        self.key = key

    def get(self, path, params=None):
        url = path if path.startswith("http") else f"{API}{path}"
        return self.client.get(url, params or {}, **bearer(self.key))

    def post(self, path, body):
        return self.client.post(
            f"{API}{path}", json.dumps(body), content_type="application/json", **bearer(self.key)
        )


@pytest.fixture
def api(client, secret):
    return Api(client, secret)


def pytest_collection_modifyitems(config, items):
    # PostgreSQL-only tests are left out of the SQLite run (not skipped): the README's test
    # command runs the suite on both databases, so each of them runs somewhere.
    from django.conf import settings

    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    if on_postgres:
        return
    keep, drop = [], []
    for item in items:
        (drop if item.get_closest_marker("postgres") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(autouse=True)
def _fresh_caches():
    from django.core.cache import cache

    projects._cache.clear()
    cache.clear()
    yield
    projects._cache.clear()


@pytest.fixture
def project_with_secret(db):
    project, secret = Project.create("Test project")
    return project, secret


@pytest.fixture
def project(project_with_secret):
    return project_with_secret[0]


@pytest.fixture
def secret(project_with_secret):
    return project_with_secret[1]


def make_event(project, **fields):
    """A valid capture event for ``project``, with a fresh event id and a signed token (bound to
    the event's ``user_id``, as the host's page would bind it)."""
    trace_id = fields.pop("trace_id", "trace-1")
    event = {"event_id": str(uuid.uuid4()), "trace_id": trace_id, "kind": "thumbs", "value": 1}
    if "token" not in fields:
        user_id = fields.get("user_id")
        event["token"] = sign_trace(
            trace_id, project=project, user_id=user_id if isinstance(user_id, str) else None
        )
    event.update(fields)
    return event


@pytest.fixture
def post_events(client):
    """POST a batch to the capture endpoint through the URLconf; returns the response."""

    def post(project_or_key, events, *, content_type="application/json", key_in="body", **extra):
        key = project_or_key if isinstance(project_or_key, str) else project_or_key.public_key
        envelope = {"events": events}
        headers = {}
        if key_in == "body":
            envelope["key"] = key
        elif key_in == "header":
            headers["HTTP_X_FEEDBACK_KEY"] = key
        import json

        return client.post(
            EVENTS_URL, data=json.dumps(envelope), content_type=content_type, **headers, **extra
        )

    return post


@pytest.fixture
def on_postgres():
    return connection.vendor == "postgresql"


@contextlib.contextmanager
def celery_broker(url: str | None):
    """Make this process's Celery app publish to ``url`` (None: eager mode) for a while."""
    from example_project.celery import app

    saved = {"task_always_eager": app.conf.task_always_eager, "broker_url": app.conf.broker_url}

    def reset_pools():
        # The app keeps a connection pool and a producer pool bound to the broker it first used
        # (as Celery itself does after a fork).
        app._pool = None
        app.amqp._producer_pool = None

    from feedback_loop import handoff

    reset_pools()
    app.conf.update(task_always_eager=url is None, broker_url=url)
    handoff.reset()
    try:
        yield app
    finally:
        handoff.flush()
        reset_pools()
        app.conf.update(saved)
        handoff.reset()


@pytest.fixture
def queue(project):
    """The admin tests' small queue: a hallucination, an over-long answer cut, a liked one."""
    record_trace(project, "bad", input="Who wrote Hamlet?", output="Hamlet was written by Goethe.")
    record_trace(
        project,
        "long",
        input="Capital of France?",
        output="Paris is the capital of France, and it has been for a very long time, since "
        "the Middle Ages, through kings and republics alike.",
        model="m2",
    )
    record_trace(project, "good", input="2 + 2?", output="4")
    add(project, "bad", value=-1, reasons=["hallucination"], comment=XSS, user_id="u1")
    add(project, "long", kind="edit", text="Paris.", user_id="u2", minutes=5)
    add(project, "good", value=1, user_id="u3")
    run(project)
    return project
