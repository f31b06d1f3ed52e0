"""The capture endpoint, rule by rule, through the URLconf with Django's test client."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import OperationalError, connection
from django.test import Client, override_settings

from feedback_loop import sign_trace
from feedback_loop.models import FeedbackEvent, Project
from tests.conftest import EVENTS_URL, make_event

pytestmark = pytest.mark.django_db


def _raw(client, body, content_type="application/json", **extra):
    return client.post(EVENTS_URL, data=body, content_type=content_type, **extra)


# -- the happy path ----------------------------------------------------------------------------


def test_accepted_event_is_stored_with_every_field(project, post_events):
    event = make_event(
        project,
        kind="thumbs",
        value=-1,
        reasons=["hallucination", "format"],
        comment="made up a citation",
        session_id="s1",
        user_id="u1",
        metadata={"page": "/chat", "ab": ["x", 1]},
        timestamp="2026-11-20T10:00:00Z",
        output="The answer as shown",
    )
    response = post_events(project, [event])

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "accepted": 1,
        "duplicates": 0,
        "rejected": 0,
        "results": [{"event_id": event["event_id"], "status": "accepted"}],
    }
    row = FeedbackEvent.objects.get()
    assert row.project == project
    assert str(row.event_id) == event["event_id"]
    assert row.trace_key == "trace-1"
    assert (row.kind, row.value) == ("thumbs", -1)
    assert row.reasons == ["hallucination", "format"]
    assert row.comment == "made up a citation"
    assert (row.session_id, row.user_id) == ("s1", "u1")
    assert row.metadata == {"page": "/chat", "ab": ["x", 1]}
    assert row.timestamp == datetime(2026, 11, 20, 10, tzinfo=UTC)
    assert row.output == "The answer as shown"
    assert row.processed_at is None


def test_text_json_numbers_and_times_are_stored_exactly_as_sent(project, post_events):
    tricky = 'He said "no" \\ then {"a": [1]}\n\ttab \u2028 line, caf\u00e9, \U0001f600, \'quote\''
    event = make_event(
        project,
        kind="custom",
        name="shared \u00e9",
        value=0.1 + 0.2,
        comment=tricky,
        text=tricky,
        output=tricky,
        metadata={'cl\u00e9 "x"': [tricky, 1.5e-300, -0.0, True, None, {"n": 2**53}]},
        timestamp="2026-11-20T10:00:00.123456+05:30",
    )
    assert post_events(project, [event]).json()["accepted"] == 1
    row = FeedbackEvent.objects.get()
    assert (row.comment, row.text, row.output, row.name) == (
        tricky,
        tricky,
        tricky,
        "shared \u00e9",
    )
    assert row.value == 0.1 + 0.2
    assert row.metadata == {'cl\u00e9 "x"': [tricky, 1.5e-300, -0.0, True, None, {"n": 2**53}]}
    assert row.timestamp == datetime(2026, 11, 20, 4, 30, 0, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": "rating", "value": 4},
        {"kind": "comment", "comment": "Nice"},
        {"kind": "edit", "text": "The user's version"},
        {"kind": "regenerate", "metadata": {"new_trace_id": "t2"}},
        {"kind": "copy", "metadata": {"length": 12, "share": 0.25}},
        {"kind": "abandon"},
        {"kind": "custom", "name": "shared", "value": 0.5},
        {"kind": "thumbs", "value": 0},
    ],
)
def test_every_kind_is_accepted(project, post_events, fields):
    response = post_events(project, [make_event(project, **fields)])
    assert response.json()["accepted"] == 1, response.json()
    assert FeedbackEvent.objects.get().kind == fields["kind"]


def test_text_plain_body_is_accepted_for_send_beacon(project, client):
    body = json.dumps({"key": project.public_key, "events": [make_event(project)]})
    response = _raw(client, body, content_type="text/plain;charset=UTF-8")
    assert response.status_code == 200
    assert response.json()["accepted"] == 1


def test_key_may_come_in_the_header(project, post_events):
    response = post_events(project, [make_event(project)], key_in="header")
    assert response.json()["accepted"] == 1


def test_key_in_header_and_body_must_agree(project, client):
    body = json.dumps({"key": project.public_key, "events": [make_event(project)]})
    response = _raw(client, body, HTTP_X_FEEDBACK_KEY="pk_someone_else")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_envelope"


def test_batch_with_one_bad_event_rejects_only_that_event(project, post_events):
    good = make_event(project)
    bad = make_event(project, kind="thumbs", value=7)
    response = post_events(project, [good, bad])
    body = response.json()
    assert response.status_code == 200
    assert (body["accepted"], body["rejected"]) == (1, 1)
    assert body["results"][1] == {
        "event_id": bad["event_id"],
        "status": "rejected",
        "error": {
            "code": "invalid_field",
            "message": "value of a thumbs event must be 1, -1 or 0 (retract).",
            "field": "value",
        },
    }
    assert [str(e) for e in FeedbackEvent.objects.values_list("event_id", flat=True)] == [
        good["event_id"]
    ]


# -- idempotency -------------------------------------------------------------------------------


def test_repeat_answers_duplicate_and_stores_one_row(project, post_events):
    event = make_event(project)
    first = post_events(project, [event]).json()
    second = post_events(project, [event]).json()
    assert first["results"][0]["status"] == "accepted"
    assert second == {
        "accepted": 0,
        "duplicates": 1,
        "rejected": 0,
        "results": [{"event_id": event["event_id"], "status": "duplicate"}],
    }
    assert FeedbackEvent.objects.count() == 1


def test_repeat_inside_one_batch_is_a_duplicate(project, post_events):
    event = make_event(project)
    body = post_events(project, [event, dict(event), make_event(project)]).json()
    assert [r["status"] for r in body["results"]] == ["accepted", "duplicate", "accepted"]
    assert FeedbackEvent.objects.count() == 2


def test_same_event_id_in_two_projects_is_two_events(project, post_events):
    other, _secret = Project.create("Other")
    event_id = str(uuid.uuid4())
    post_events(project, [make_event(project, event_id=event_id)])
    body = post_events(other, [make_event(other, event_id=event_id)]).json()
    assert body["accepted"] == 1
    assert FeedbackEvent.objects.filter(event_id=event_id).count() == 2


def test_latest_vote_wins_and_earlier_votes_stay_as_history(project, post_events):
    up = make_event(project, value=1, user_id="u1", timestamp="2026-11-20T10:00:00Z")
    down = make_event(project, value=-1, user_id="u1", timestamp="2026-11-20T10:01:00Z")
    post_events(project, [up])
    post_events(project, [down])
    events = FeedbackEvent.objects.with_current().order_by("timestamp")
    assert [(e.value, e.is_current) for e in events] == [(1, False), (-1, True)]
    assert list(FeedbackEvent.objects.current().values_list("value", flat=True)) == [-1]


def test_an_older_vote_arriving_late_does_not_replace_the_newer_one(project, post_events):
    newer = make_event(project, value=-1, user_id="u1", timestamp="2026-11-20T10:05:00Z")
    older = make_event(project, value=1, user_id="u1", timestamp="2026-11-20T10:00:00Z")
    post_events(project, [newer])
    post_events(project, [older])  # an offline queue delivering late
    assert list(FeedbackEvent.objects.current().values_list("value", flat=True)) == [-1]


# -- keys and origins --------------------------------------------------------------------------


def test_missing_key_is_401(project, client):
    response = _raw(client, json.dumps({"events": [make_event(project)]}))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_key"


@pytest.mark.parametrize("key", ["pk_does_not_exist", "nonsense", 42, ["pk_x"]])
def test_unknown_key_is_401(project, client, key):
    response = _raw(client, json.dumps({"key": key, "events": [make_event(project)]}))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_key"
    assert FeedbackEvent.objects.count() == 0


def test_a_secret_key_in_a_page_is_refused_with_a_warning(project, secret, client):
    response = _raw(client, json.dumps({"key": secret, "events": [make_event(project)]}))
    assert response.status_code == 401
    assert "never put it in a page" in response.json()["error"]["message"]


def test_inactive_project_is_401(project, post_events):
    project.is_active = False
    project.save()
    assert post_events(project, [make_event(project)]).status_code == 401


@pytest.mark.parametrize(
    ("allowlist", "origin", "allowed"),
    [
        ("https://chat.example.com", "https://chat.example.com", True),
        ("https://chat.example.com", "https://evil.example.com", False),
        ("https://chat.example.com", "http://chat.example.com", False),
        ("https://*.example.com", "https://a.b.example.com", True),
        ("https://*.example.com", "https://example.com.evil.io", False),
        ("*.example.com", "http://shop.example.com", True),
        ("http://localhost:8000", "http://localhost:8001", False),
        ("", "https://anything.io", True),
    ],
)
def test_origin_allowlist(project, post_events, allowlist, origin, allowed):
    project.allowed_origins = allowlist
    project.save()
    response = post_events(project, [make_event(project)], HTTP_ORIGIN=origin)
    if allowed:
        assert response.status_code == 200
        assert response["Access-Control-Allow-Origin"] == origin
    else:
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "origin_not_allowed"
        assert "Access-Control-Allow-Origin" not in response
        assert FeedbackEvent.objects.count() == 0
    assert "Access-Control-Allow-Credentials" not in response


def test_requests_without_origin_header_are_server_side_and_allowed(project, post_events):
    project.allowed_origins = "https://chat.example.com"
    project.save()
    assert post_events(project, [make_event(project)]).json()["accepted"] == 1


@pytest.mark.parametrize(
    ("origin", "secure", "allowed"),
    [
        ("http://testserver", False, True),  # the site's own chat page
        ("http://testserver:80", False, True),
        ("https://testserver", True, True),
        ("https://testserver", False, False),  # another scheme is another origin
        ("http://testserver:8080", False, False),
        ("http://testserver.evil.io", False, False),
    ],
)
def test_the_sites_own_origin_is_always_allowed(project, client, origin, secure, allowed):
    """The README's `--origin https://chat.example.com` must not block the site's own page."""
    project.allowed_origins = "https://chat.example.com"
    project.save()
    response = client.post(
        EVENTS_URL,
        {"key": project.public_key, "events": [make_event(project)]},
        content_type="application/json",
        HTTP_ORIGIN=origin,
        secure=secure,
    )
    assert response.status_code == (200 if allowed else 403)
    assert FeedbackEvent.objects.count() == (1 if allowed else 0)


def test_preflight_allows_listed_origin_without_credentials(project, client):
    project.allowed_origins = "https://chat.example.com"
    project.save()
    response = client.options(
        EVENTS_URL,
        HTTP_ORIGIN="https://chat.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type,x-feedback-key",
    )
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == "https://chat.example.com"
    assert "POST" in response["Access-Control-Allow-Methods"]
    assert "X-Feedback-Key" in response["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in response
    assert "Origin" in response["Vary"]


def test_preflight_refuses_origin_no_project_allows(project, client):
    project.allowed_origins = "https://chat.example.com"
    project.save()
    response = client.options(
        EVENTS_URL, HTTP_ORIGIN="https://evil.io", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST"
    )
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response


def test_preflight_with_key_checks_that_projects_list(project, client):
    project.allowed_origins = "https://chat.example.com"
    project.save()
    Project.create("Open", allowed_origins="")  # allows any origin, but is not this key
    response = client.options(
        f"{EVENTS_URL}?key={project.public_key}",
        HTTP_ORIGIN="https://evil.io",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
    )
    assert response.status_code == 403


def test_no_cookies_read_and_no_csrf_token_needed(project, client):
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.cookies["sessionid"] = "whatever"
    csrf_client.cookies["csrftoken"] = "x" * 32
    body = json.dumps({"key": project.public_key, "events": [make_event(project)]})
    response = csrf_client.post(EVENTS_URL, data=body, content_type="application/json")
    assert response.status_code == 200
    assert response.json()["accepted"] == 1
    assert not response.cookies


# -- tokens ------------------------------------------------------------------------------------


def _reject(post_events, project, event):
    body = post_events(project, [event]).json()
    assert body["rejected"] == 1, body
    assert FeedbackEvent.objects.count() == 0
    return body["results"][0]["error"]


def test_missing_token_is_rejected(project, post_events):
    event = make_event(project)
    del event["token"]
    assert _reject(post_events, project, event)["code"] == "missing_token"


def test_tampered_token_is_rejected(project, post_events):
    event = make_event(project)
    event["token"] = event["token"][:-2] + ("AA" if event["token"][-2:] != "AA" else "BB")
    error = _reject(post_events, project, event)
    assert error == {
        "code": "invalid_token",
        "message": "token signature does not verify.",
        "field": "token",
    }


def test_token_of_another_trace_is_rejected(project, post_events):
    event = make_event(project, trace_id="trace-1", token=sign_trace("trace-2", project=project))
    error = _reject(post_events, project, event)
    assert (error["code"], error["message"]) == (
        "invalid_token",
        "token was issued for another trace_id.",
    )


def test_token_of_another_project_is_rejected(project, post_events):
    other, _secret = Project.create("Other")
    event = make_event(project, token=sign_trace("trace-1", project=other))
    error = _reject(post_events, project, event)
    assert error["message"] == "token was issued for another project."


def test_expired_token_is_rejected(project, post_events):
    event = make_event(project, token=sign_trace("trace-1", project=project, max_age=-1))
    assert _reject(post_events, project, event)["code"] == "token_expired"


def test_user_bound_token_fills_and_enforces_the_user(project, post_events):
    token = sign_trace("trace-1", project=project, user_id="u1")
    assert post_events(project, [make_event(project, token=token)]).json()["accepted"] == 1
    assert FeedbackEvent.objects.get().user_id == "u1"
    response = post_events(project, [make_event(project, token=token, user_id="u2")])
    error = response.json()["results"][0]["error"]
    assert (error["code"], error["message"]) == (
        "invalid_token",
        "token was issued for another user_id.",
    )


def test_project_without_required_tokens_accepts_tokenless_events(project, post_events):
    project.require_token = False
    project.save()
    event = make_event(project)
    del event["token"]
    assert post_events(project, [event]).json()["accepted"] == 1
    # A token that is sent is still checked.
    forged = post_events(project, [make_event(project, token="forged")]).json()
    assert forged["results"][0]["error"]["code"] == "invalid_token"


# -- envelope and size limits ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"", 400, "invalid_json"),
        (b"{not json", 400, "invalid_json"),
        (b"[]", 400, "invalid_envelope"),
        (b'"events"', 400, "invalid_envelope"),
        (b'{"key": "pk_x"}', 400, "invalid_envelope"),
        (b'{"key": "pk_x", "events": {}}', 400, "invalid_envelope"),
        (b'{"key": "pk_x", "events": []}', 400, "invalid_envelope"),
        (b"\xff\xfe{}", 400, "invalid_encoding"),
        (b'{"events": [1], "key": "\x00"}', 400, "invalid_json"),
        (b"[" * 100_000 + b"]" * 100_000, 400, "invalid_json"),
        (b'{"events": [' + b"9" * 5000 + b"]}", 400, "invalid_json"),
    ],
    ids=[
        "empty",
        "not-json",
        "list",
        "string",
        "no-events",
        "events-object",
        "no-event",
        "invalid-utf8",
        "raw-nul",
        "deep-nesting",
        "huge-integer",
    ],
)
def test_malformed_envelope_is_400_with_a_reason(client, db, body, status, code):
    response = _raw(client, body)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "text/html",
        "application/json; charset=latin-1",
    ],
)
def test_wrong_content_type_is_415(project, client, content_type):
    body = json.dumps({"key": project.public_key, "events": [make_event(project)]})
    response = client.generic("POST", EVENTS_URL, body, content_type=content_type)
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_compressed_body_is_415_not_a_decompression(project, client):
    response = client.generic(
        "POST",
        EVENTS_URL,
        b"\x1f\x8b\x08\x00",
        content_type="application/json",
        HTTP_CONTENT_ENCODING="gzip",
    )
    assert response.status_code == 415


def test_batch_limit(project, post_events):
    with override_settings(FEEDBACK_LOOP={"MAX_BATCH_SIZE": 3}):
        ok = post_events(project, [make_event(project) for _ in range(3)])
        too_many = post_events(project, [make_event(project) for _ in range(4)])
    assert ok.json()["accepted"] == 3
    assert too_many.status_code == 413
    assert too_many.json()["error"]["code"] == "too_many_events"
    assert FeedbackEvent.objects.count() == 3


def test_ten_thousand_event_batch_is_refused_whole(project, client):
    events = [{"event_id": str(uuid.uuid4()), "kind": "thumbs"} for _ in range(10_000)]
    body = json.dumps({"key": project.public_key, "events": events})
    response = _raw(client, body)
    assert response.status_code == 413
    assert response.json()["error"]["code"] in ("too_many_events", "body_too_large")
    assert FeedbackEvent.objects.count() == 0


def test_body_over_the_limit_is_413(project, client):
    event = make_event(project, comment="x" * 3000)
    body = json.dumps({"key": project.public_key, "events": [event]})
    with override_settings(FEEDBACK_LOOP={"MAX_BODY_BYTES": 2000}):
        response = _raw(client, body)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"


@pytest.mark.parametrize(
    ("fields", "field", "message_part"),
    [
        ({"event_id": "not-a-uuid"}, "event_id", "UUID"),
        ({"event_id": 5}, "event_id", "UUID"),
        ({"trace_id": "", "token": "x"}, "trace_id", "empty"),
        ({"trace_id": "t" * 129, "token": "x"}, "trace_id", "at most 128"),
        ({"trace_id": ["t"], "token": "x"}, "trace_id", "string"),
        ({"kind": "like"}, "kind", "must be one of"),
        ({"kind": None}, "kind", "must be one of"),
        ({"value": "1"}, "value", "number"),
        ({"value": True}, "value", "number"),
        ({"value": 2}, "value", "1, -1 or 0"),
        ({"kind": "rating", "value": 6}, "value", "1 to 5"),
        ({"kind": "rating", "value": 3.5}, "value", "whole number"),
        ({"kind": "rating", "value": None}, "value", "1 to 5"),
        ({"kind": "custom", "name": "n", "value": 1e999}, "value", "number"),
        ({"reasons": "hallucination"}, "reasons", "list"),
        ({"reasons": [1]}, "reasons", "list"),
        ({"reasons": ["r"] * 11}, "reasons", "more than 10"),
        ({"reasons": ["r" * 65]}, "reasons", "at most 64"),
        ({"comment": "x" * 4001}, "comment", "at most 4000"),
        ({"comment": 12}, "comment", "string"),
        ({"comment": "bad\x00byte"}, "comment", "NUL"),
        ({"comment": "lone \ud800 surrogate"}, "comment", "surrogate"),
        ({"kind": "comment"}, "comment", "required"),
        ({"kind": "edit"}, "text", "required"),
        ({"kind": "edit", "text": ""}, "text", "empty"),
        ({"kind": "custom"}, "name", "required"),
        ({"text": "y" * 65_537}, "text", "at most 65536"),
        ({"metadata": ["a"]}, "metadata", "object"),
        ({"metadata": {"k": "v" * 9000}}, "metadata", "at most 8192"),
        (
            {"metadata": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {}}}}}}}}}},
            "metadata",
            "deeper",
        ),
        ({"metadata": {"k\x00": 1}}, "metadata", "NUL"),
        ({"metadata": {"n": float("nan")}}, "metadata", "not finite"),
        ({"session_id": "s" * 129}, "session_id", "at most 128"),
        ({"user_id": 7}, "user_id", "string"),
        ({"timestamp": "yesterday"}, "timestamp", "ISO 8601"),
        ({"timestamp": 1732442400}, "timestamp", "ISO 8601"),
        ({"timestamp": "1999-12-31T23:59:59Z"}, "timestamp", "2000"),
        ({"output": "o" * 65_537}, "output", "at most 65536"),
    ],
)
def test_bad_field_rejects_the_event_naming_the_field(
    project, post_events, fields, field, message_part
):
    event = make_event(project, **fields)
    response = post_events(project, [event])
    assert response.status_code == 200
    result = response.json()["results"][0]
    assert result["status"] == "rejected"
    assert result["error"]["field"] == field
    assert result["error"]["code"] in ("invalid_field", "missing_field")
    assert message_part in result["error"]["message"]
    assert FeedbackEvent.objects.count() == 0


def test_event_that_is_not_an_object_is_rejected(project, post_events):
    body = post_events(project, ["thumbs up", None, make_event(project)]).json()
    assert [r["status"] for r in body["results"]] == ["rejected", "rejected", "accepted"]
    assert body["results"][0]["error"]["code"] == "invalid_event"


def test_injection_strings_are_stored_as_inert_text(project, post_events):
    hostile = "'); DROP TABLE feedback_loop_feedbackevent; -- <script>alert(1)</script>"
    event = make_event(
        project, kind="comment", comment=hostile, session_id=hostile[:128], metadata={hostile: 1}
    )
    assert post_events(project, [event]).json()["accepted"] == 1
    row = FeedbackEvent.objects.get()
    assert row.comment == hostile
    assert row.metadata == {hostile: 1}


def test_unknown_fields_are_ignored(project, post_events):
    event = make_event(project, sdk="widget/0.1", extra={"nested": True})
    assert post_events(project, [event]).json()["accepted"] == 1


def test_future_timestamp_is_clamped_to_now(project, post_events):
    future = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    post_events(project, [make_event(project, timestamp=future)])
    row = FeedbackEvent.objects.get()
    assert row.timestamp <= row.created_at + timedelta(seconds=1)


def test_naive_timestamp_is_read_as_utc(project, post_events):
    post_events(project, [make_event(project, timestamp="2026-11-20T10:00:00")])
    assert FeedbackEvent.objects.get().timestamp == datetime(2026, 11, 20, 10, tzinfo=UTC)


# -- throttling and outages --------------------------------------------------------------------


@override_settings(FEEDBACK_LOOP={"THROTTLE_RATE": "3/min"})
def test_throttled_per_key_and_address_with_retry_after(project, post_events):
    answers = [post_events(project, [make_event(project)]).status_code for _ in range(3)]
    throttled = post_events(project, [make_event(project)])
    other_address = post_events(project, [make_event(project)], REMOTE_ADDR="10.9.9.9")
    assert answers == [200, 200, 200]
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "throttled"
    assert 1 <= int(throttled["Retry-After"]) <= 60
    assert other_address.status_code == 200
    assert FeedbackEvent.objects.count() == 4


def _fail_every_query(execute, sql, params, many, context):
    raise OperationalError("server closed the connection unexpectedly")


@pytest.mark.parametrize("project_cached", [False, True])
def test_database_outage_is_503_with_retry_after_never_success(
    project, post_events, project_cached
):
    if project_cached:
        post_events(project, [make_event(project)])  # the project is now in the process cache
    before = FeedbackEvent.objects.count()
    with connection.execute_wrapper(_fail_every_query):
        response = post_events(project, [make_event(project)])
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unavailable"
    assert int(response["Retry-After"]) > 0
    assert FeedbackEvent.objects.count() == before
    # Once the database answers again, the client's retry is accepted.
    assert post_events(project, [make_event(project)]).json()["accepted"] == 1


def test_a_large_configured_batch_is_stored_whole(project, post_events):
    # Over SQLite's rows per statement, and one long array per column on PostgreSQL.
    events = [make_event(project, kind="copy", metadata={"n": n}) for n in range(1200)]
    big = {"MAX_BATCH_SIZE": 1200, "MAX_BODY_BYTES": 10**7, "MAX_EVENTS_PER_VOTER": 2000}
    with override_settings(FEEDBACK_LOOP=big):
        body = post_events(project, events).json()
        again = post_events(project, [*events[:10], make_event(project)]).json()
    assert body["accepted"] == 1200
    assert (again["accepted"], again["duplicates"]) == (1, 10)
    assert FeedbackEvent.objects.count() == 1201
    stored = FeedbackEvent.objects.filter(kind="copy").values_list("metadata__n", flat=True)
    assert sorted(stored) == list(range(1200))
