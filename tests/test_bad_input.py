"""No 500 for bad input: malformed page cursors, an ambiguous trace id, bodies nested past any
sane depth, errors that must not be readable by another site, origins that are not origins.
Each answer is a 4xx JSON ``{"error": {"code", "message"}}`` that says what to do."""

import base64
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import FeedbackEventFactory, TraceFactory

pytestmark = pytest.mark.django_db

API = "/feedback/api/v1"


def bearer(key):
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


def b64(text: str | bytes) -> str:
    return base64.b64encode(text if isinstance(text, bytes) else text.encode()).decode()


def assert_error(response, status: int, code: str, *words: str):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"code", "message"} and error["code"] == code, error
    for word in words:
        assert word in error["message"], error["message"]
    return error


# -- page cursors ------------------------------------------------------------------------------

CURSORS = {
    "garbage": "garbage",
    "outside the base64 alphabet": "!!!",  # DRF skipped the characters: the first page
    "bad padding": "cD0",
    "not ascii": "é",
    "bytes that are not text": b64(b"\xff\xfe\x00"),
    "not a query string": b64("just some words"),
    "an unknown field": b64("x=1"),
    "a repeated field": b64("o=1&o=2"),
    "a negative offset": b64("o=-1"),
    "an offset that is not a number": b64("o=ten"),
    "a huge offset": b64("o=" + "9" * 30),  # DRF capped it and answered an empty page
    "an offset of 5000 digits": b64("o=" + "9" * 5000),
    "a direction that is not 0 or 1": b64("r=yes"),
    "a position that is not a timestamp": b64("p=notatime"),
    "a position with an impossible month": b64("p=2026-13-01T00:00:00%2B00:00"),
    "a position with a NUL": b64("p=2026-01-01%00"),
    "a position of year 99999": b64("p=99999-01-01T00:00:00%2B00:00"),
    "a position after year 9999 in UTC": b64("p=9999-12-31T23:59:59-14:00"),
    "a position before year 1 in UTC": b64("p=0001-01-01T00:00:00%2B14:00"),
    "a position without a time zone": b64("p=2026-01-01T00:00:00"),
}


@pytest.mark.parametrize("path", ["/traces", "/events"])
@pytest.mark.parametrize("cursor", list(CURSORS.values()), ids=list(CURSORS))
def test_a_malformed_cursor_is_a_400_that_says_to_start_again(
    client, project, secret, path, cursor
):
    FeedbackEventFactory(project=project, trace_key=TraceFactory(project=project).trace_id)
    response = client.get(f"{API}{path}", {"cursor": cursor}, **bearer(secret))
    assert_error(response, 400, "invalid_cursor", "start again without cursor")


@pytest.mark.parametrize("path", ["/traces", "/events"])
def test_every_cursor_the_api_gives_out_still_reads_both_ways(client, project, secret, path):
    # Rows sharing an instant make cursors with an offset; previous links make reversed ones.
    now = timezone.now()
    for n in range(7):
        trace = TraceFactory(project=project, created_at=now - timedelta(hours=n // 3))
        FeedbackEventFactory(project=project, trace_key=trace.trace_id, created_at=trace.created_at)
    forward, url = [], f"{API}{path}?page_size=2"
    while url:
        body = client.get(url, **bearer(secret)).json()
        forward.append(body["results"])
        last, url = body, body["next"]
    backward, url = [], last["previous"]
    while url:
        body = client.get(url, **bearer(secret)).json()
        backward.insert(0, body["results"])
        url = body["previous"]
    assert [len(page) for page in forward] == [2, 2, 2, 1]
    assert backward == forward[:-1]
