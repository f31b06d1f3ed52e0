"""The capture endpoint over a real socket: Django's live server and urllib, as a browser or a
backend would send it. The concurrency and outage tests need PostgreSQL."""

import json
import threading
import urllib.error
import urllib.request
import uuid

import pytest
from django.db import connection

from feedback_loop.models import FeedbackEvent, Project
from tests.conftest import EVENTS_URL, make_event

pytestmark = pytest.mark.django_db(transaction=True)


def send(live_server, body: bytes, headers: dict[str, str] | None = None, method="POST"):
    request = urllib.request.Request(
        live_server.url + EVENTS_URL,
        data=body if method == "POST" else None,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def envelope(project, events) -> bytes:
    return json.dumps({"key": project.public_key, "events": events}).encode()


@pytest.fixture
def http_project(transactional_db):
    project, _secret = Project.create("HTTP", allowed_origins="https://chat.example.com")
    return project


def test_beacon_from_an_allowed_origin_is_stored(live_server, http_project):
    event = make_event(http_project, kind="edit", text="my version")
    status, headers, body = send(
        live_server,
        envelope(http_project, [event]),
        {"Content-Type": "text/plain;charset=UTF-8", "Origin": "https://chat.example.com"},
    )
    assert status == 200
    assert json.loads(body)["accepted"] == 1
    assert headers["Access-Control-Allow-Origin"] == "https://chat.example.com"
    assert "Access-Control-Allow-Credentials" not in headers
    assert FeedbackEvent.objects.get().text == "my version"


def test_disallowed_origin_is_403_without_cors_over_http(live_server, http_project):
    status, headers, body = send(
        live_server,
        envelope(http_project, [make_event(http_project)]),
        {"Origin": "https://evil.example.net"},
    )
    assert status == 403
    assert json.loads(body)["error"]["code"] == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in headers
    assert FeedbackEvent.objects.count() == 0


def test_preflight_over_http(live_server, http_project):
    status, headers, _body = send(
        live_server,
        b"",
        {
            "Origin": "https://chat.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
        method="OPTIONS",
    )
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == "https://chat.example.com"


def test_oversized_body_is_413_over_http(live_server, http_project):
    big = make_event(http_project, kind="comment", comment="x" * 4000)
    body = envelope(http_project, [big] * 300)  # about 1.3 MB
    status, _headers, answer = send(live_server, body)
    assert status == 413
    assert json.loads(answer)["error"]["code"] == "body_too_large"


def test_invalid_utf8_over_http(live_server, http_project):
    status, _headers, answer = send(live_server, b'{"events": ["\xc3\x28"]}')
    assert status == 400
    assert json.loads(answer)["error"]["code"] == "invalid_encoding"


@pytest.mark.postgres
def test_concurrent_repeats_of_one_batch_store_one_set_of_rows(live_server, http_project):
    events = [make_event(http_project, trace_id="t-concurrent") for _ in range(50)]
    body = envelope(http_project, events)
    answers: list[dict] = []
    barrier = threading.Barrier(8)

    def client():
        barrier.wait()
        status, _headers, answer = send(live_server, body)
        assert status == 200
        answers.append(json.loads(answer))

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(answers) == 8
    assert sum(a["accepted"] for a in answers) == 50
    assert sum(a["duplicates"] for a in answers) == 7 * 50
    stored = {str(e) for e in FeedbackEvent.objects.values_list("event_id", flat=True)}
    assert stored == {e["event_id"] for e in events}


@pytest.mark.postgres
def test_postgres_unreachable_is_503_and_the_retry_is_stored(live_server, http_project):
    """A real outage: the server's next connection goes to a port where nothing listens."""
    first = make_event(http_project)
    assert json.loads(send(live_server, envelope(http_project, [first]))[2])["accepted"] == 1

    settings_dict = connection.settings_dict
    real_port = settings_dict["PORT"]
    lost = make_event(http_project)
    try:
        settings_dict["PORT"] = "1"  # nothing listens on port 1
        status, headers, answer = send(live_server, envelope(http_project, [lost]))
    finally:
        settings_dict["PORT"] = real_port
    assert status == 503
    assert json.loads(answer)["error"]["code"] == "unavailable"
    assert int(headers["Retry-After"]) > 0

    status, _headers, answer = send(live_server, envelope(http_project, [lost]))
    assert (status, json.loads(answer)["accepted"]) == (200, 1)
    assert FeedbackEvent.objects.filter(event_id=uuid.UUID(lost["event_id"])).count() == 1
