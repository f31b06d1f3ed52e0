"""No 500 for bad input: malformed page cursors, an ambiguous trace id, bodies nested past any
sane depth, errors that must not be readable by another site, origins that are not origins.
Each answer is a 4xx JSON ``{"error": {"code", "message"}}`` that says what to do."""

import base64
import json
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import OperationalError, connection
from django.utils import timezone

from feedback_loop.models import Dataset, Project, Trace
from feedback_loop.origins import origin_allowed, validate_allowlist
from tests.conftest import EVENTS_URL, make_event
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
def test_a_malformed_cursor_is_a_404_that_says_to_start_again(
    client, project, secret, path, cursor
):
    FeedbackEventFactory(project=project, trace_key=TraceFactory(project=project).key)
    response = client.get(f"{API}{path}", {"cursor": cursor}, **bearer(secret))
    assert_error(response, 404, "invalid_cursor", "start again without cursor")


@pytest.mark.parametrize("path", ["/traces", "/events"])
def test_every_cursor_the_api_gives_out_still_reads_both_ways(client, project, secret, path):
    # Rows sharing an instant make cursors with an offset; previous links make reversed ones.
    now = timezone.now()
    for n in range(7):
        trace = TraceFactory(project=project, created_at=now - timedelta(hours=n // 3))
        FeedbackEventFactory(project=project, trace_key=trace.key, created_at=trace.created_at)
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
    TraceFactory(project=project, key="same", output="ours")
    TraceFactory(project=other, key="same", output="theirs")
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


@pytest.mark.parametrize(("depth", "code"), [(64, "invalid"), (65, "parse_error")])
def test_a_body_may_nest_64_levels(client, project, secret, depth, code):
    body = "[" * depth + "]" * depth  # parsed at 64 (then refused: not an object), not at 65
    response = client.post(f"{API}/traces", body, content_type="application/json", **bearer(secret))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


def test_metadata_nested_a_few_levels_is_stored_and_read_back(client, project, secret):
    metadata = json.loads(_nested(50))
    body = {"traces": [{"trace_id": "n", "metadata": metadata}]}
    response = client.post(
        f"{API}/traces", json.dumps(body), content_type="application/json", **bearer(secret)
    )
    assert response.status_code == 200, response.content
    assert client.get(f"{API}/traces/n", **bearer(secret)).json()["metadata"] == metadata


# -- capture: CORS only once the project is known and allows the origin ------------------------

ORIGIN = "https://chat.example.com"


@pytest.fixture
def listed(project):
    project.allowed_origins = ORIGIN
    project.save()
    return project


def _post(client, body, **extra):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(
        EVENTS_URL, data=data, content_type="text/plain", HTTP_ORIGIN=ORIGIN, **extra
    )


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("{not json", 400, "invalid_json"),
        ('{"events": "none"}', 400, "invalid_envelope"),
        ({"key": "pk_unknown", "events": [{}]}, 401, "invalid_key"),
        ({"events": [{}]}, 401, "missing_key"),
        ({"key": "sk_secret", "events": [{}]}, 401, "invalid_key"),
    ],
)
def test_errors_before_the_project_is_known_are_not_readable_cross_origin(
    client, listed, body, status, code
):
    response = _post(client, body)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert "Access-Control-Allow-Origin" not in response
    assert "Access-Control-Allow-Credentials" not in response


def test_an_unsupported_media_type_is_not_readable_cross_origin(client, listed):
    body = json.dumps({"key": listed.public_key, "events": [make_event(listed)]})
    response = client.post(EVENTS_URL, body, content_type="text/csv", HTTP_ORIGIN=ORIGIN)
    assert response.status_code == 415
    assert "Access-Control-Allow-Origin" not in response


def test_too_many_events_is_readable_by_the_widget_of_an_allowed_origin(client, listed, settings):
    settings.FEEDBACK_LOOP = {"MAX_BATCH_SIZE": 2}
    response = _post(client, {"key": listed.public_key, "events": [make_event(listed)] * 3})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_many_events"
    assert response["Access-Control-Allow-Origin"] == ORIGIN


@pytest.mark.parametrize("key_in", ["body", "header", "nowhere"])
def test_a_body_over_the_limit_is_readable_when_its_key_allows_the_origin(
    client, listed, settings, key_in
):
    # The widget puts the key first in its body: a 413 can name the project without reading on.
    settings.FEEDBACK_LOOP = {"MAX_BODY_BYTES": 1000}
    envelope = {"events": [make_event(listed, comment="x" * 2000)]}
    headers = {}
    if key_in == "body":
        envelope = {"key": listed.public_key, **envelope}
    elif key_in == "header":
        headers["HTTP_X_FEEDBACK_KEY"] = listed.public_key
    response = _post(client, envelope, **headers)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"
    if key_in == "nowhere":
        assert "Access-Control-Allow-Origin" not in response
    else:
        assert response["Access-Control-Allow-Origin"] == ORIGIN


def test_a_body_over_the_limit_is_not_readable_by_an_origin_its_key_refuses(
    client, listed, settings
):
    settings.FEEDBACK_LOOP = {"MAX_BODY_BYTES": 1000}
    body = {"key": listed.public_key, "events": [make_event(listed, comment="x" * 2000)]}
    response = client.post(
        EVENTS_URL, json.dumps(body), content_type="text/plain", HTTP_ORIGIN="https://evil.io"
    )
    assert response.status_code == 413
    assert "Access-Control-Allow-Origin" not in response


def test_throttled_is_readable_by_the_widget_of_an_allowed_origin(client, listed, settings):
    settings.FEEDBACK_LOOP = {"THROTTLE_RATE": "1/min"}
    answers = [_post(client, {"key": listed.public_key, "events": [make_event(listed)]})]
    answers.append(_post(client, {"key": listed.public_key, "events": [make_event(listed)]}))
    assert [a.status_code for a in answers] == [200, 429]
    assert all(a["Access-Control-Allow-Origin"] == ORIGIN for a in answers)
    assert answers[1]["Retry-After"]


def _fail_every_query(execute, sql, params, many, context):
    raise OperationalError("server closed the connection unexpectedly")


def test_storage_unavailable_is_readable_by_the_widget_once_its_project_is_known(client, listed):
    _post(client, {"key": listed.public_key, "events": [make_event(listed)]})  # cached now
    with connection.execute_wrapper(_fail_every_query):
        response = _post(client, {"key": listed.public_key, "events": [make_event(listed)]})
    assert response.status_code == 503
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert response["Retry-After"]


# -- origins -------------------------------------------------------------------------------------

NOT_ORIGINS = [
    "https://evil.com\\.example.org",  # urlsplit keeps the backslash in the host
    "https://evil.com@app.example.org",  # user info
    "https://app.example.org@evil.com",
    "https://evil.com%2f.example.org",
    "https://evil .example.org",
    "https://evil\t.example.org",  # urlsplit drops tabs and newlines anywhere
    "https://[evil.example.org",
    "https://[::1]",
    "https://\u212aiosk.example.org",  # KELVIN SIGN, which lower() turns into "k"
    "https://k\u0131osk.example.org",
    "https://app.example.org?x=1",
    "https://app.example.org#x",
    "https://app.example.org/path",
    "https://app.example.org:0",
    "https://app.example.org:65536",
    "https://app.example.org:99999",
    "https://app.example.org:" + "4" * 5000,
    "https://app.example.org:+443",
    "https://app.example.org:4_43",
    "https://app.example.org:\u0664\u0664\u0663",  # ARABIC-INDIC DIGITS
    "https://app.example.org: 443",
    "app.example.org:99999",
    "app.example.org:0",
    "app.example.org:+443",
    "app.example.org:\u0664\u0664\u0663",
]
ORIGIN_ALLOWLISTS = [["*.example.org"], ["https://*.example.org"], ["https://app.example.org"]]


@pytest.mark.parametrize("entry", NOT_ORIGINS)
def test_an_allowlist_entry_that_is_not_an_origin_is_refused(entry):
    with pytest.raises(ValidationError, match="Not an origin"):
        Project.create("P", allowed_origins=entry)


@pytest.mark.parametrize("allowlist", ORIGIN_ALLOWLISTS, ids=str)
# A wildcard is an allowlist entry, never a browser's origin.
@pytest.mark.parametrize(
    "origin", [o for o in NOT_ORIGINS if "://" in o] + ["https://*.example.org"]
)
def test_an_origin_header_that_is_not_an_origin_matches_nothing(client, project, allowlist, origin):
    assert not origin_allowed(origin, allowlist)
    project.allowed_origins = "\n".join(allowlist)
    project.save()
    body = json.dumps({"key": project.public_key, "events": [make_event(project)]})
    response = client.post(EVENTS_URL, body, content_type="text/plain", HTTP_ORIGIN=origin)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in response
    preflight = client.options(EVENTS_URL, HTTP_ORIGIN=origin)
    assert preflight.status_code == 403
    assert "Access-Control-Allow-Origin" not in preflight


@pytest.mark.parametrize(
    ("entry", "origin"),
    [
        ("https://app.example.org:0443", "https://app.example.org"),
        ("https://app.example.org", "https://app.example.org:0443"),
        ("https://app.example.org:443", "https://APP.example.org:00443"),
        ("app.example.org:0443", "https://app.example.org"),
        ("http://localhost:08000", "http://localhost:8000"),
        ("https://*.example.org:0443", "https://a.example.org:443"),
        ("https://app.example.org/", "https://app.example.org"),
    ],
)
def test_ports_with_leading_zeros_are_the_same_port(client, entry, origin):
    validate_allowlist(entry)
    assert origin_allowed(origin, [entry])
    project, _secret = Project.create("Zeros", allowed_origins=entry)
    body = json.dumps({"key": project.public_key, "events": [make_event(project)]})
    response = client.post(EVENTS_URL, body, content_type="text/plain", HTTP_ORIGIN=origin)
    assert response.status_code == 200, response.content
    assert response["Access-Control-Allow-Origin"] == origin  # the header as the browser sent it


# -- found by sweeping every operation with hostile values ---------------------------------------


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/traces", "created_after"),
        ("/traces", "signal_before"),
        ("/traces", "has_edit"),
        ("/traces", "reviewed"),
        ("/events", "created_before"),
        ("/events", "current"),
    ],
)
@pytest.mark.parametrize("value", ["%", "100%", "%s", "%(x)s"])
def test_a_filter_value_with_a_percent_sign_is_a_400_quoting_it(
    client, project, secret, path, name, value
):
    # django-filter formats each message with "%": one quoting the value was a TypeError.
    response = client.get(f"{API}{path}", {name: value}, **bearer(secret))
    assert response.status_code == 400, response.content
    [message] = response.json()["error"]["fields"][name]
    assert repr(value) in message


def test_an_error_quoting_a_lone_surrogate_is_valid_json(client, project, secret):
    # The answer quotes the request's "\ud800", which UTF-8 cannot encode: a 500 while rendering.
    body = '{"name": "D", "kind": "\\ud800"}'
    response = client.post(
        f"{API}/datasets", body, content_type="application/json", **bearer(secret)
    )
    assert response.status_code == 400
    assert "\ud800" in response.json()["error"]["fields"]["kind"][0]
    assert not Dataset.objects.exists()


@pytest.mark.parametrize("event_id", ["\ud800", "\udfff\ud800", "a\udc00"])
def test_an_event_id_with_a_lone_surrogate_is_rejected_in_valid_json(client, project, event_id):
    event = {**make_event(project), "event_id": event_id}
    body = json.dumps({"key": project.public_key, "events": [event]})
    response = client.post(EVENTS_URL, body, content_type="text/plain")
    assert response.status_code == 200
    [result] = response.json()["results"]
    assert result["event_id"] == event_id
    assert result["status"] == "rejected" and result["error"]["field"] == "event_id"


# -- found by Schemathesis (FL_EXPLORE=1): answers the OpenAPI document does not allow ----------


@pytest.mark.parametrize("path", ["/traces", "/datasets"])
@pytest.mark.parametrize("key", ["\t", " ", "\u3000"])
def test_a_blank_project_key_is_another_project_not_an_empty_one(
    client, project, secret, path, key
):
    # The document asks for a non-empty string; DRF trimmed "\t" and answered "may not be blank".
    body = {"project": key, "traces": [{"trace_id": "t"}], "name": "D"}
    response = client.post(
        f"{API}{path}", json.dumps(body), content_type="application/json", **bearer(secret)
    )
    assert_error(response, 403, "permission_denied", "another project")


@pytest.mark.parametrize(
    ("path", "name"), [("/stats", "days"), ("/datasets/{pk}/export?format=jsonl", "version")]
)
def test_an_empty_number_parameter_is_a_400_not_ignored(client, project, secret, path, name):
    # DRF reads a query string like an HTML form, where an empty field means "not given".
    dataset = Dataset.objects.create(project=project, name="D")
    response = client.get(f"{API}{path.format(pk=dataset.pk)}", {name: ""}, **bearer(secret))
    assert response.status_code == 400, response.content
    assert name in response.json()["error"]["fields"]


# -- the README's claim: filters are strict, never quietly ignored ------------------------------


@pytest.mark.parametrize(
    ("path", "query", "unknown", "known"),
    [
        ("/traces", {"sentimnt": "negative"}, "sentimnt", "sentiment"),
        ("/events", {"kind": "thumbs", "trace": "t-1"}, "trace", "trace_id"),
        ("/stats", {"day": "7"}, "day", "days"),
        ("/traces/t-1", {"include": "events"}, "include", "project"),
        ("/datasets/{pk}/export", {"format": "jsonl", "versoin": "1"}, "versoin", "version"),
    ],
)
def test_an_unknown_query_parameter_is_a_400_listing_the_known_ones(
    client, project, secret, path, query, unknown, known
):
    dataset = Dataset.objects.create(project=project, name="D")
    response = client.get(f"{API}{path.format(pk=dataset.pk)}", query, **bearer(secret))
    error = assert_error(response, 400, "unknown_parameter", repr(unknown), known)
    assert "Known parameters:" in error["message"]


def test_pagination_and_project_parameters_are_known(client, project, secret):
    query = {"page_size": "5", "project": project.public_key, "sentiment": "negative"}
    assert client.get(f"{API}/traces", query, **bearer(secret)).status_code == 200


@pytest.mark.parametrize("value", ["2026-12-01", "2026-12", "12/01/2026", "1700000000"])
def test_a_date_without_a_time_is_a_400_not_midnight(client, project, secret, value):
    response = client.get(f"{API}/traces", {"created_after": value}, **bearer(secret))
    assert response.status_code == 400, response.content
    [message] = response.json()["error"]["fields"]["created_after"]
    assert "2026-11-24T10:00:00Z" in message


@pytest.mark.parametrize("value", ["2026-12-01T00:00:00Z", "2026-12-01T10:00", "2026-12-01 10:00"])
def test_a_date_and_time_is_a_filter(client, project, secret, value):
    response = client.get(f"{API}/traces", {"created_after": value}, **bearer(secret))
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("path", ["/traces", "/events", "/stats", "/datasets"])
def test_a_nul_in_a_query_parameter_is_a_400_naming_it(client, project, secret, path):
    # Found by Schemathesis' negative checks: ?project=a%00b was answered 200.
    response = client.get(f"{API}{path}", {"project": "pk_a\x00b"}, **bearer(secret))
    assert response.status_code == 400, response.content
    assert "NUL" in response.json()["error"]["fields"]["project"][0]


HUGE = 2**70  # beyond any database's integer


@pytest.mark.parametrize(
    "method, path, params",
    [
        ("get", "/experiments", {"dataset": HUGE}),
        ("get", "/experiments/{experiment}/compare", {"baseline": HUGE}),
        ("get", "/datasets/{dataset}/export", {"format": "jsonl", "version": HUGE}),
        ("post", "/experiments", {"dataset": HUGE}),
        ("post", "/experiments", {"dataset": "{dataset}", "version": HUGE}),
        ("post", "/experiments", {"dataset": "{dataset}", "baseline": HUGE}),
    ],
)
def test_an_id_beyond_the_database_integer_is_a_400_naming_it(
    api, project, settings, method, path, params
):
    import feedback_loop
    from tests.factories import DatasetItemFactory

    task = "tests.test_api_experiments:answer"
    settings.FEEDBACK_LOOP = {**getattr(settings, "FEEDBACK_LOOP", {}), "EVAL_TASKS": [task]}
    dataset = Dataset.objects.create(project=project, name="d")
    DatasetItemFactory(dataset=dataset, input="Capital of France?", expected_output="Paris")
    experiment = feedback_loop.evaluate(dataset, lambda item: "Paris", scorers=["exact"])
    path = path.format(dataset=dataset.pk, experiment=experiment.pk)
    params = {k: dataset.pk if v == "{dataset}" else v for k, v in params.items()}
    body = {"task": task, "scorers": ["exact"], **params} if method == "post" else params

    response = getattr(api, method)(path, body)

    assert response.status_code == 400, response.content
    named = next(k for k, v in params.items() if v == HUGE)
    assert named in response.json()["error"]["fields"], response.json()
