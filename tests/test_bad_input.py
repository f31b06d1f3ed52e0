"""No 500 for bad input: malformed page cursors, an ambiguous trace id, bodies nested past any
sane depth, errors that must not be readable by another site, origins that are not origins.
Each answer is a 4xx JSON ``{"error": {"code", "message"}}`` that says what to do."""

import base64
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from feedback_loop.models import Dataset, Project, Trace
from tests.factories import FeedbackEventFactory, TraceFactory, UserFactory

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


# -- one trace id in two projects ----------------------------------------------------------------


def test_a_trace_id_in_two_projects_asks_a_staff_session_to_name_the_project(client, project):
    other, _secret = Project.create("Other")
    TraceFactory(project=project, trace_id="same", output="ours")
    TraceFactory(project=other, trace_id="same", output="theirs")
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    ambiguous = client.get(f"{API}/traces/same")
    named = client.get(f"{API}/traces/same", {"project": other.public_key})

    error = assert_error(ambiguous, 400, "ambiguous_trace_id", "?project=pk_")
    assert project.public_key in error["message"] and other.public_key in error["message"]
    assert named.status_code == 200
    assert named.json()["output"] == "theirs"


# -- deeply nested bodies ----------------------------------------------------------------------


def _nested(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


def _bodies(dataset_pk: int, deep: str):
    """Every JSON operation of the server API, with ``deep`` where a JSON value goes."""
    return [
        ("/traces", '{"traces": [{"trace_id": "d", "metadata": {"m": ' + deep + "}}]}"),
        ("/traces", '{"traces": [{"trace_id": "d", "input": ' + deep + "}]}"),
        ("/traces", '{"traces": ' + deep + "}"),
        ("/traces", deep),
        ("/datasets", '{"name": "deep", "rule": {"filters": {"model": ' + deep + "}}}"),
        ("/datasets", '{"name": "deep", "rule": ' + deep + "}"),
        (f"/datasets/{dataset_pk}/traces", '{"filters": {"model": ' + deep + "}}"),
        (f"/datasets/{dataset_pk}/traces", '{"trace_ids": [' + deep + "]}"),
        (f"/datasets/{dataset_pk}/versions", '{"note": ' + deep + "}"),
    ]


@pytest.mark.parametrize("depth", [100_000, 600], ids=["100k deep", "600 deep"])
@pytest.mark.parametrize("shape", ["objects", "lists"])
@pytest.mark.parametrize("case", range(9))
def test_a_deeply_nested_body_is_a_400_on_every_json_operation(
    client, project, secret, depth, shape, case
):
    dataset = Dataset.objects.create(project=project, name="D")
    deep = _nested(depth) if shape == "objects" else "[" * depth + "]" * depth
    path, body = _bodies(dataset.pk, deep)[case]
    response = client.post(f"{API}{path}", body, content_type="application/json", **bearer(secret))
    assert_error(response, 400, "parse_error", "nested deeper than")
    assert not Trace.objects.exists() and Dataset.objects.count() == 1


def test_metadata_nested_a_few_levels_is_stored_and_read_back(client, project, secret):
    metadata = json.loads(_nested(50))
    body = {"traces": [{"trace_id": "n", "metadata": metadata}]}
    response = client.post(
        f"{API}/traces", json.dumps(body), content_type="application/json", **bearer(secret)
    )
    assert response.status_code == 200, response.content
    assert client.get(f"{API}/traces/n", **bearer(secret)).json()["metadata"] == metadata
