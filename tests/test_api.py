"""The server API: secret-key and staff-session access, trace upserts, lists, stats, schema."""

import hashlib
import json
from datetime import UTC, timedelta

import pytest
from django.db import OperationalError
from django.test import override_settings
from django.utils import timezone
from openapi_spec_validator import validate

from feedback_loop.models import Project, ReviewStatus, Sentiment, Trace
from feedback_loop.tokens import TokenError, verify_token
from tests.conftest import API, Api, bearer
from tests.factories import (
    ErrorModeFactory,
    FeedbackEventFactory,
    ReviewFactory,
    TraceFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def other_project_with_secret(db):
    return Project.create("Other project")


def event(trace=None, *, project=None, at=None, **fields):
    """A stored feedback event on ``trace`` (or on a bare trace id), received at ``at``."""
    if trace is not None:
        fields.setdefault("project", trace.project)
        fields.setdefault("trace_key", trace.key)
    elif project is not None:
        fields["project"] = project
    at = at or timezone.now()
    fields.setdefault("timestamp", at)
    return FeedbackEventFactory(created_at=at, **fields)


def ids(response):
    return [row["event_id"] for row in response.json()["results"]]


def trace_ids(response):
    return [row["trace_id"] for row in response.json()["results"]]


# -- authentication ------------------------------------------------------------------------------


def test_secret_key_of_the_project_reads_its_events(api, project):
    trace = TraceFactory(project=project, key="t-1")
    stored = event(trace, value=-1)

    response = api.get("/events")

    assert response.status_code == 200
    (row,) = response.json()["results"]
    assert row["event_id"] == str(stored.event_id)
    assert row["trace_id"] == "t-1"
    assert row["value"] == -1


def test_public_key_as_bearer_is_401_saying_public_keys_cannot_read(client, project):
    response = client.get(f"{API}/events", **bearer(project.public_key))

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="feedback_loop"'
    error = response.json()["error"]
    assert error["code"] == "authentication_failed"
    assert "public key cannot read" in error["message"]
    assert "secret key" in error["message"]


@pytest.mark.parametrize("path", ["/events", "/traces", "/stats"])
def test_unknown_secret_key_is_401(client, project, path):
    response = client.get(f"{API}{path}", **bearer("sk_not_a_key_of_any_project"))

    assert response.status_code == 401
    assert response.json()["error"] == {
        "code": "authentication_failed",
        "message": "No active project has this secret key.",
    }


def test_secret_key_of_an_inactive_project_is_401(client, project, secret):
    project.is_active = False
    project.save()

    response = client.get(f"{API}/traces", **bearer(secret))

    assert response.status_code == 401
    assert response.json()["error"]["message"] == "No active project has this secret key."


def test_bearer_with_extra_parts_is_401_showing_the_expected_form(client, secret):
    response = client.get(f"{API}/events", HTTP_AUTHORIZATION=f"Bearer {secret} extra")

    assert response.status_code == 401
    assert "Authorization: Bearer sk_" in response.json()["error"]["message"]


@pytest.mark.parametrize("path", ["/events", "/traces", "/stats"])
def test_no_credentials_is_401(client, project, path):
    response = client.get(f"{API}{path}")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_staff_session_reads_every_project_or_the_one_named(client, project):
    other, _secret = Project.create("Other")
    event(TraceFactory(project=project, key="mine"))
    event(TraceFactory(project=other, key="theirs"))
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    everything = client.get(f"{API}/events")
    only_other = client.get(f"{API}/events", {"project": other.public_key})

    assert everything.status_code == 200
    assert sorted(row["trace_id"] for row in everything.json()["results"]) == ["mine", "theirs"]
    assert [row["trace_id"] for row in only_other.json()["results"]] == ["theirs"]
    assert only_other.json()["results"][0]["project"] == other.public_key


def test_logged_in_user_who_is_not_staff_is_403(client, project):
    event(TraceFactory(project=project))
    client.force_login(UserFactory(is_staff=False))

    for path in ("/events", "/traces", "/stats"):
        response = client.get(f"{API}{path}")
        assert response.status_code == 403, path
        assert response.json()["error"]["code"] == "permission_denied"
        assert "secret key" in response.json()["error"]["message"]


def test_inactive_staff_user_cannot_read(client, project):
    user = UserFactory(is_staff=True)
    client.force_login(user)
    user.is_active = False
    user.save()

    assert client.get(f"{API}/events").status_code == 401


def test_secret_key_sees_only_its_own_project(client, project, secret, other_project_with_secret):
    other, other_secret = other_project_with_secret
    mine = TraceFactory(project=project, key="mine", model="m-mine")
    theirs = TraceFactory(project=other, key="theirs", model="m-theirs")
    # The same trace id in both projects stays apart too.
    TraceFactory(project=other, key="mine", model="m-other-mine")
    event(mine, value=1)
    event(theirs, value=-1)
    event(trace_key="mine", project=other, value=-1)

    mine_api, their_api = Api(client, secret), Api(client, other_secret)

    assert trace_ids(mine_api.get("/traces")) == ["mine"]
    assert mine_api.get("/traces").json()["results"][0]["model"] == "m-mine"
    assert [r["value"] for r in mine_api.get("/events").json()["results"]] == [1]
    assert sorted(trace_ids(their_api.get("/traces"))) == ["mine", "theirs"]
    stats = mine_api.get("/stats").json()
    assert stats["totals"]["thumbs_up"] == 1
    assert stats["totals"]["thumbs_down"] == 0
    # Naming the other project does not widen a secret key's view.
    assert trace_ids(mine_api.get("/traces", {"project": other.public_key})) == ["mine"]


def test_trace_detail_is_the_projects_own_trace(client, project, secret, other_project_with_secret):
    other, _other_secret = other_project_with_secret
    TraceFactory(project=project, key="abc", input="Where is my order?")
    TraceFactory(project=other, key="secret-trace")
    api = Api(client, secret)

    found = api.get("/traces/abc")
    missing = api.get("/traces/secret-trace")

    assert found.status_code == 200
    assert found.json()["input"] == "Where is my order?"
    assert missing.status_code == 404


# -- POST /traces --------------------------------------------------------------------------------


def test_post_traces_creates_them_and_answers_tokens(api, project):
    response = api.post(
        "/traces",
        {
            "traces": [
                {
                    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
                    "input": "How do I reset my password?",
                    "output": "Open Settings, then Security.",
                    "model": "gpt-x",
                    "session_id": "s-1",
                    "user_id": "u-1",
                    "metadata": {"latency_ms": 812},
                },
                {"trace_id": "t-2", "input": "Hi", "output": "Hello!"},
            ]
        },
    )

    assert response.status_code == 200
    results = response.json()["results"]
    assert [(r["trace_id"], r["created"]) for r in results] == [
        ("4bf92f3577b34da6a3ce929d0e0e4736", True),
        ("t-2", True),
    ]
    assert all(set(r) == {"trace_id", "token", "created"} for r in results)
    trace = Trace.objects.get(project=project, key="4bf92f3577b34da6a3ce929d0e0e4736")
    assert (trace.input, trace.output, trace.model) == (
        "How do I reset my password?",
        "Open Settings, then Security.",
        "gpt-x",
    )
    assert (trace.session_id, trace.user_id, trace.metadata) == ("s-1", "u-1", {"latency_ms": 812})
    assert trace.registered is True
    assert Trace.objects.filter(project=project).count() == 2


def test_post_traces_again_updates_and_keeps_fields_not_sent(api, project):
    first = api.post(
        "/traces",
        {
            "traces": [
                {
                    "trace_id": "t-1",
                    "input": "Question",
                    "output": "First answer",
                    "model": "gpt-x",
                    "metadata": {"a": 1},
                }
            ]
        },
    )
    assert first.json()["results"][0]["created"] is True

    second = api.post("/traces", {"traces": [{"trace_id": "t-1", "output": "Second answer"}]})

    assert second.status_code == 200
    assert second.json()["results"][0]["trace_id"] == "t-1"
    assert second.json()["results"][0]["created"] is False
    trace = Trace.objects.get(project=project, key="t-1")
    assert trace.output == "Second answer"
    assert (trace.input, trace.model, trace.metadata) == ("Question", "gpt-x", {"a": 1})
    assert Trace.objects.filter(project=project).count() == 1


def test_post_traces_updates_a_trace_the_widget_created_and_keeps_its_feedback(api, project):
    TraceFactory(
        project=project,
        key="t-1",
        registered=False,
        output="as shown",
        thumbs_down=3,
        sentiment=Sentiment.NEGATIVE,
    )

    response = api.post("/traces", {"traces": [{"trace_id": "t-1", "input": "the prompt"}]})

    assert response.json()["results"][0]["created"] is False
    trace = Trace.objects.get(project=project, key="t-1")
    assert trace.registered is True
    assert (trace.input, trace.output) == ("the prompt", "as shown")
    assert (trace.thumbs_down, trace.sentiment) == (3, Sentiment.NEGATIVE)


def test_tokens_from_post_traces_verify_for_that_project_trace_and_user(
    api, project, other_project_with_secret
):
    other, _secret = other_project_with_secret
    response = api.post(
        "/traces", {"traces": [{"trace_id": "t-1"}, {"trace_id": "t-2", "user_id": "end-user-7"}]}
    )
    tokens = {r["trace_id"]: r["token"] for r in response.json()["results"]}

    assert verify_token(tokens["t-1"], project_pk=project.pk, trace_id="t-1").user_id is None
    bound = verify_token(tokens["t-2"], project_pk=project.pk, trace_id="t-2")
    assert bound.user_id == "end-user-7"
    with pytest.raises(TokenError) as wrong_trace:
        verify_token(tokens["t-1"], project_pk=project.pk, trace_id="t-2")
    assert wrong_trace.value.code == "invalid_token"
    with pytest.raises(TokenError) as wrong_project:
        verify_token(tokens["t-1"], project_pk=other.pk, trace_id="t-1")
    assert wrong_project.value.code == "invalid_token"


def test_post_traces_over_the_batch_limit_is_400_and_stores_nothing(api, project):
    traces = [{"trace_id": f"t-{n}"} for n in range(3)]

    with override_settings(FEEDBACK_LOOP={"MAX_TRACE_BATCH_SIZE": 2}):
        response = api.post("/traces", {"traces": traces})
        at_limit = api.post("/traces", {"traces": traces[:2]})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["fields"] == {"traces": ["At most 2 traces per request."]}
    assert at_limit.status_code == 200
    assert sorted(Trace.objects.values_list("key", flat=True)) == ["t-0", "t-1"]


@pytest.mark.parametrize(
    ("trace", "field", "message"),
    [
        ({"trace_id": "x" * 200}, "trace_id", "no more than 128 characters"),
        ({"trace_id": ""}, "trace_id", "may not be blank"),
        ({"trace_id": "t-1", "input": "a\x00b"}, "input", "Null characters are not allowed"),
        ({"trace_id": "t-1", "output": "ok\x00"}, "output", "Null characters are not allowed"),
        ({"trace_id": "t-1", "model": "m" * 201}, "model", "no more than 200 characters"),
        ({"trace_id": "t-1", "metadata": ["not", "a", "dict"]}, "metadata", "dictionary"),
    ],
)
def test_post_traces_with_a_bad_field_is_400_naming_it(api, project, trace, field, message):
    response = api.post("/traces", {"traces": [{"trace_id": "fine"}, trace]})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    (problem,) = error["fields"]["traces"]["1"][field]
    assert message in problem
    assert not Trace.objects.exists()


@pytest.mark.parametrize(
    "body",
    [{}, {"traces": []}, {"traces": "t-1"}, {"traces": [{"input": "no id"}]}],
)
def test_post_traces_with_a_malformed_body_is_400(api, project, body):
    response = api.post("/traces", body)

    assert response.status_code == 400
    assert "traces" in response.json()["error"]["fields"]
    assert not Trace.objects.exists()


def test_post_traces_with_invalid_json_is_400(client, secret):
    response = client.post(
        f"{API}/traces", "{not json", content_type="application/json", **bearer(secret)
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_post_traces_naming_another_project_with_a_secret_key_is_403(
    api, project, other_project_with_secret
):
    other, _secret = other_project_with_secret

    response = api.post("/traces", {"project": other.public_key, "traces": [{"trace_id": "t"}]})

    assert response.status_code == 403
    assert response.json()["error"]["message"] == "This secret key belongs to another project."
    assert not Trace.objects.exists()


def test_staff_session_must_name_the_project_to_post_traces(client, project):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    def post(body):
        return client.post(f"{API}/traces", json.dumps(body), content_type="application/json")

    unnamed = post({"traces": [{"trace_id": "t-1"}]})
    unknown = post({"project": "pk_nope", "traces": [{"trace_id": "t-1"}]})
    named = post({"project": project.public_key, "traces": [{"trace_id": "t-1"}]})

    assert unnamed.status_code == 400
    assert unnamed.json()["error"]["fields"] == {
        "project": ["Staff sessions must name the project."]
    }
    assert unknown.status_code == 400
    assert unknown.json()["error"]["fields"] == {"project": ["No project has this key."]}
    assert named.status_code == 200
    token = named.json()["results"][0]["token"]
    assert verify_token(token, project_pk=project.pk, trace_id="t-1").user_id is None
    assert list(Trace.objects.values_list("project_id", "key")) == [(project.pk, "t-1")]


# -- GET /events and /traces: rows ---------------------------------------------------------------


def test_event_rows_carry_the_contract_fields(api, project):
    trace = TraceFactory(project=project, key="host-trace-42")
    stored = event(
        trace,
        kind="thumbs",
        value=-1,
        reasons=["hallucination"],
        comment="made up a citation",
        session_id="s1",
        user_id="u1",
    )

    body = api.get("/events").json()

    assert set(body) >= {"results", "next"}
    assert body["next"] is None
    (row,) = body["results"]
    assert row["event_id"] == str(stored.event_id)
    assert row["trace_id"] == "host-trace-42"
    assert row["kind"] == "thumbs"
    assert row["value"] == -1
    assert row["reasons"] == ["hallucination"]
    assert row["comment"] == "made up a citation"
    assert (row["session_id"], row["user_id"]) == ("s1", "u1")
    assert row["project"] == project.public_key
    assert row["created_at"].startswith(stored.created_at.astimezone(UTC).date().isoformat())
    assert row["is_current"] is True


def test_trace_rows_carry_trace_id_sentiment_and_counts(api, project):
    trace = TraceFactory(
        project=project,
        key="host-trace-7",
        sentiment=Sentiment.MIXED,
        score=0.25,
        thumbs_up=3,
        thumbs_down=1,
        rating_count=2,
        rating_avg=4.5,
        edit_count=1,
        regenerate_count=2,
        copy_count=5,
        comment_count=1,
        abandon_count=0,
    )
    ReviewFactory(trace=trace, status=ReviewStatus.REVIEWED)

    body = api.get("/traces").json()

    assert set(body) >= {"results", "next"}
    (row,) = body["results"]
    assert row["trace_id"] == "host-trace-7"
    assert row["sentiment"] == "mixed"
    assert row["score"] == 0.25
    counts = {
        name: row[name]
        for name in (
            "thumbs_up",
            "thumbs_down",
            "rating_count",
            "rating_avg",
            "edit_count",
            "regenerate_count",
            "copy_count",
            "comment_count",
            "abandon_count",
        )
    }
    assert counts == {
        "thumbs_up": 3,
        "thumbs_down": 1,
        "rating_count": 2,
        "rating_avg": 4.5,
        "edit_count": 1,
        "regenerate_count": 2,
        "copy_count": 5,
        "comment_count": 1,
        "abandon_count": 0,
    }
    assert row["review_status"] == "reviewed"


# -- GET /events: filters ------------------------------------------------------------------------


@pytest.fixture
def event_set(project):
    """Events on two traces, labelled; returns {label: event_id}."""
    now = timezone.now()
    a = TraceFactory(project=project, key="t-a", model="model-a")
    b = TraceFactory(project=project, key="t-b", model="model-b")
    ReviewFactory(trace=a, status=ReviewStatus.REVIEWED)
    ReviewFactory(trace=b, status=ReviewStatus.PENDING)
    user_a = {"user_id": "u1", "session_id": "s1"}
    user_b = {"user_id": "u2", "session_id": "s2"}
    events = {
        "down_a_old": event(a, kind="thumbs", value=-1, at=now - timedelta(days=4), **user_a),
        "up_a": event(a, kind="thumbs", value=1, at=now - timedelta(days=3), **user_a),
        "down_b": event(
            b,
            kind="thumbs",
            value=-1,
            reasons=["hallucination", "format"],
            at=now - timedelta(days=2),
            **user_b,
        ),
        "rate5_a": event(a, kind="rating", value=5, at=now - timedelta(days=1), **user_a),
        "rate1_b": event(
            b, kind="rating", value=1, reasons=["length"], at=now - timedelta(hours=1), **user_b
        ),
        "edit_a": event(a, kind="edit", value=None, text="Better answer", at=now, **user_a),
    }
    # Another project's events never show up.
    other, _secret = Project.create("Other")
    event(TraceFactory(project=other, model="model-a"), value=1, user_id="u1", session_id="s1")
    return {label: str(e.event_id) for label, e in events.items()}


def _labels(response, event_set):
    assert response.status_code == 200, response.content
    by_id = {v: k for k, v in event_set.items()}
    return {by_id[event_id] for event_id in ids(response)}


def _iso(delta):
    return (timezone.now() - delta).isoformat()


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {"down_a_old", "up_a", "down_b", "rate5_a", "rate1_b", "edit_a"}),
        ({"kind": "thumbs"}, {"down_a_old", "up_a", "down_b"}),
        ({"kind": ["rating", "edit"]}, {"rate5_a", "rate1_b", "edit_a"}),
        ({"sentiment": "positive"}, {"up_a", "rate5_a"}),
        ({"sentiment": "negative"}, {"down_a_old", "down_b", "rate1_b"}),
        ({"score_min": "2"}, {"rate5_a"}),
        ({"score_max": "-1"}, {"down_a_old", "down_b"}),
        ({"score_min": "0", "score_max": "1"}, {"up_a", "rate1_b"}),
        ({"created_after": timedelta(days=1, hours=12)}, {"rate5_a", "rate1_b", "edit_a"}),
        ({"created_before": timedelta(days=2, hours=12)}, {"down_a_old", "up_a"}),
        ({"error_mode": "hallucination"}, {"down_b"}),
        ({"error_mode": "length"}, {"rate1_b"}),
        ({"error_mode": "refusal"}, set()),
        ({"model": "model-b"}, {"down_b", "rate1_b"}),
        ({"session_id": "s1"}, {"down_a_old", "up_a", "rate5_a", "edit_a"}),
        ({"user_id": "u2"}, {"down_b", "rate1_b"}),
        ({"has_edit": "true"}, {"down_a_old", "up_a", "rate5_a", "edit_a"}),
        ({"has_edit": "false"}, {"down_b", "rate1_b"}),
        ({"reviewed": "true"}, {"down_a_old", "up_a", "rate5_a", "edit_a"}),
        ({"reviewed": "false"}, {"down_b", "rate1_b"}),
        ({"current": "false"}, {"down_a_old"}),
        ({"current": "true"}, {"up_a", "down_b", "rate5_a", "rate1_b", "edit_a"}),
        ({"trace_id": "t-b"}, {"down_b", "rate1_b"}),
        ({"kind": "thumbs", "current": "true", "user_id": "u1"}, {"up_a"}),
    ],
)
def test_event_filters(api, event_set, params, expected):
    params = {k: _iso(v) if isinstance(v, timedelta) else v for k, v in params.items()}

    assert _labels(api.get("/events", params), event_set) == expected


def test_event_filter_with_an_unknown_choice_is_400(api, event_set):
    response = api.get("/events", {"kind": "telepathy"})

    assert response.status_code == 400
    assert "kind" in response.json()["error"]["fields"]


# -- GET /traces: filters ------------------------------------------------------------------------


@pytest.fixture
def trace_set(project):
    now = timezone.now()
    hallucination = ErrorModeFactory(project=None, slug="made-up", name="Made up")
    fmt = ErrorModeFactory(project=project, slug="bad-format", name="Bad format")
    pos = TraceFactory(
        project=project,
        key="t-pos",
        sentiment=Sentiment.POSITIVE,
        score=1.0,
        thumbs_up=2,
        model="model-a",
        session_id="s1",
        user_id="u1",
        created_at=now - timedelta(days=3),
    )
    neg = TraceFactory(
        project=project,
        key="t-neg",
        sentiment=Sentiment.NEGATIVE,
        score=-1.0,
        thumbs_down=1,
        model="model-b",
        session_id="s2",
        user_id="u2",
        created_at=now - timedelta(days=1),
    )
    mixed = TraceFactory(
        project=project,
        key="t-mixed",
        sentiment=Sentiment.MIXED,
        score=0.0,
        rating_count=1,
        model="model-a",
        created_at=now - timedelta(days=2),
    )
    TraceFactory(project=project, key="t-none", model="model-b", score=None, created_at=now)
    neg.suggested_error_modes.add(hallucination)
    # An edit the pipeline has not rolled up yet still counts.
    event(neg, kind="edit", value=None, text="fixed")
    ReviewFactory(trace=pos, status=ReviewStatus.PENDING)
    ReviewFactory(trace=mixed, status=ReviewStatus.REVIEWED).error_modes.add(fmt)
    other, _secret = Project.create("Other")
    TraceFactory(project=other, key="t-elsewhere", sentiment=Sentiment.NEGATIVE)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {"t-pos", "t-neg", "t-mixed", "t-none"}),
        ({"kind": "thumbs"}, {"t-pos", "t-neg"}),
        ({"kind": "rating"}, {"t-mixed"}),
        ({"kind": "edit"}, {"t-neg"}),
        ({"kind": "copy"}, set()),
        ({"sentiment": "negative"}, {"t-neg"}),
        ({"sentiment": ["positive", "mixed"]}, {"t-pos", "t-mixed"}),
        ({"sentiment": "none"}, {"t-none"}),
        ({"score_min": "0"}, {"t-pos", "t-mixed"}),
        ({"score_max": "0"}, {"t-neg", "t-mixed"}),
        ({"score_min": "-0.5", "score_max": "0.5"}, {"t-mixed"}),
        ({"created_after": timedelta(days=1, hours=12)}, {"t-neg", "t-none"}),
        ({"created_before": timedelta(days=1, hours=12)}, {"t-pos", "t-mixed"}),
        ({"error_mode": "made-up"}, {"t-neg"}),
        ({"error_mode": "bad-format"}, {"t-mixed"}),
        ({"model": "model-a"}, {"t-pos", "t-mixed"}),
        ({"session_id": "s1"}, {"t-pos"}),
        ({"user_id": "u2"}, {"t-neg"}),
        ({"has_edit": "true"}, {"t-neg"}),
        ({"has_edit": "false"}, {"t-pos", "t-mixed", "t-none"}),
        ({"reviewed": "true"}, {"t-mixed"}),
        ({"reviewed": "false"}, {"t-pos", "t-neg", "t-none"}),
        ({"model": "model-a", "reviewed": "false"}, {"t-pos"}),
    ],
)
def test_trace_filters(api, trace_set, params, expected):
    params = {k: _iso(v) if isinstance(v, timedelta) else v for k, v in params.items()}

    response = api.get("/traces", params)

    assert response.status_code == 200, response.content
    assert set(trace_ids(response)) == expected
    assert len(trace_ids(response)) == len(expected)  # no duplicates from joins


def test_trace_rows_list_suggested_and_confirmed_error_modes(api, trace_set):
    rows = {row["trace_id"]: row for row in api.get("/traces").json()["results"]}

    assert rows["t-neg"]["error_modes"] == {"suggested": ["made-up"], "confirmed": []}
    assert rows["t-mixed"]["error_modes"] == {"suggested": [], "confirmed": ["bad-format"]}
    assert rows["t-mixed"]["review_status"] == "reviewed"
    assert rows["t-none"]["review_status"] is None


# -- pagination ----------------------------------------------------------------------------------


def _follow(api, path, params):
    pages, response = [], api.get(path, params)
    while True:
        assert response.status_code == 200
        pages.append(response.json()["results"])
        next_url = response.json()["next"]
        if next_url is None:
            return pages
        assert len(pages) < 10, "pagination does not end"
        response = api.get(next_url)


def test_events_pages_follow_next_links_newest_first(api, project):
    now = timezone.now()
    trace = TraceFactory(project=project)
    made = [str(event(trace, at=now - timedelta(minutes=n)).event_id) for n in range(5)]

    pages = _follow(api, "/events", {"page_size": 2})

    assert [len(page) for page in pages] == [2, 2, 1]
    assert [row["event_id"] for page in pages for row in page] == made  # made newest first


def test_traces_pages_follow_next_links_newest_first(api, project):
    now = timezone.now()
    for n in range(5):
        TraceFactory(project=project, key=f"t-{n}", created_at=now - timedelta(hours=n))

    pages = _follow(api, "/traces", {"page_size": 2})

    assert [len(page) for page in pages] == [2, 2, 1]
    assert [row["trace_id"] for page in pages for row in page] == [f"t-{n}" for n in range(5)]


def test_pages_keep_filters_and_rows_received_in_the_same_instant(api, project):
    now = timezone.now()
    trace = TraceFactory(project=project)
    same_instant = {str(event(trace, at=now, kind="copy").event_id) for _ in range(4)}
    event(trace, at=now, kind="thumbs")

    pages = _follow(api, "/events", {"page_size": 3, "kind": "copy"})

    seen = [row["event_id"] for page in pages for row in page]
    assert [len(page) for page in pages] == [3, 1]
    assert sorted(seen) == sorted(same_instant)


def test_page_size_defaults_to_the_setting_and_is_bounded(api, project):
    trace = TraceFactory(project=project)
    for _ in range(5):
        event(trace)

    with override_settings(FEEDBACK_LOOP={"PAGE_SIZE": 2, "MAX_PAGE_SIZE": 3}):
        default = api.get("/events")
        largest = api.get("/events", {"page_size": 3})
        too_big = api.get("/events", {"page_size": 100})
        not_a_number = api.get("/events", {"page_size": "ten"})

    assert len(default.json()["results"]) == 2
    assert len(largest.json()["results"]) == 3
    assert largest.json()["next"] is not None
    assert too_big.status_code == not_a_number.status_code == 400
    assert too_big.json()["error"]["fields"]["page_size"] == [
        "A whole number from 1 to 3, not '100'."
    ]


# -- latest vote counts --------------------------------------------------------------------------


def _current_by_value(api, params=None):
    rows = api.get("/events", params).json()["results"]
    return sorted(
        (row["user_id"], row["session_id"], row["value"], row["is_current"]) for row in rows
    )


def test_a_users_later_vote_replaces_the_earlier_one(api, project):
    now = timezone.now()
    trace = TraceFactory(project=project)
    event(trace, value=1, user_id="u1", at=now - timedelta(minutes=2))
    event(trace, value=-1, user_id="u1", at=now - timedelta(minutes=1))
    event(trace, value=1, user_id="u2", at=now - timedelta(minutes=3))

    rows = api.get("/events").json()["results"]

    assert [(r["user_id"], r["value"], r["is_current"]) for r in rows] == [
        ("u1", -1, True),
        ("u1", 1, False),
        ("u2", 1, True),
    ]
    current = api.get("/events", {"current": "true"}).json()["results"]
    assert sorted((r["user_id"], r["value"]) for r in current) == [("u1", -1), ("u2", 1)]


def test_the_later_vote_is_the_one_the_user_made_later_not_received_later(api, project):
    now = timezone.now()
    trace = TraceFactory(project=project)
    # Sent from an offline queue: received last, but made first.
    event(trace, value=-1, user_id="u1", at=now - timedelta(minutes=5))
    late = event(trace, value=1, user_id="u1", at=now)
    late.timestamp = now - timedelta(minutes=10)
    late.save()

    assert _current_by_value(api) == [("u1", "", -1, True), ("u1", "", 1, False)]


def test_anonymous_votes_without_user_or_session_are_each_current(api, project):
    now = timezone.now()
    trace = TraceFactory(project=project)
    event(trace, value=1, at=now - timedelta(minutes=2))
    event(trace, value=-1, at=now - timedelta(minutes=1))

    assert _current_by_value(api) == [("", "", -1, True), ("", "", 1, True)]


def test_session_identifies_the_voter_when_there_is_no_user_id(api, project):
    now = timezone.now()
    trace = TraceFactory(project=project)
    event(trace, value=1, session_id="s1", at=now - timedelta(minutes=2))
    event(trace, value=-1, session_id="s1", at=now - timedelta(minutes=1))
    event(trace, value=1, session_id="s2", at=now - timedelta(minutes=3))

    assert _current_by_value(api) == [
        ("", "s1", -1, True),
        ("", "s1", 1, False),
        ("", "s2", 1, True),
    ]


def test_a_users_vote_from_a_new_session_replaces_the_one_from_the_old_session(api, project):
    # The voter is the user id when there is one (the session is only a fallback).
    now = timezone.now()
    trace = TraceFactory(project=project)
    event(trace, value=1, user_id="u1", session_id="tab-1", at=now - timedelta(minutes=2))
    event(trace, value=-1, user_id="u1", session_id="tab-2", at=now - timedelta(minutes=1))

    assert _current_by_value(api) == [("u1", "tab-1", 1, False), ("u1", "tab-2", -1, True)]
    totals = api.get("/stats").json()["totals"]
    assert (totals["thumbs_up"], totals["thumbs_down"]) == (0, 1)


def test_a_rating_does_not_replace_a_thumbs_vote_and_other_kinds_stay_current(api, project):
    now = timezone.now()
    trace = TraceFactory(project=project)
    event(trace, kind="thumbs", value=1, user_id="u1", at=now - timedelta(minutes=3))
    event(trace, kind="rating", value=2, user_id="u1", at=now - timedelta(minutes=2))
    event(trace, kind="comment", value=None, comment="a", user_id="u1", at=now - timedelta(1))
    event(trace, kind="comment", value=None, comment="b", user_id="u1", at=now)

    rows = api.get("/events").json()["results"]

    assert {(r["kind"], r["is_current"]) for r in rows} == {
        ("thumbs", True),
        ("rating", True),
        ("comment", True),
    }
    assert len(rows) == 4


# -- schema --------------------------------------------------------------------------------------


def test_schema_is_a_valid_openapi_3_document_of_the_api(client):
    response = client.get(f"{API}/schema")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/")
    document = json.loads(response.content)
    validate(document)
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    assert {"get", "post"} <= set(paths[f"{API}/events"])
    assert {"get", "post"} <= set(paths[f"{API}/traces"])
    assert "get" in paths[f"{API}/stats"]
    assert not any(path.startswith("/admin") for path in paths)
    assert document["components"]["securitySchemes"]["secretKey"]["scheme"] == "bearer"
    stats_params = {p["name"] for p in paths[f"{API}/stats"]["get"].get("parameters", [])}
    assert {"days", "project"} <= stats_params


# -- database errors -----------------------------------------------------------------------------


def _raise_operational_error(*args, **kwargs):
    raise OperationalError("could not connect to server: Connection refused")


def test_database_error_while_listing_is_503_with_retry_after(api, project, monkeypatch):
    monkeypatch.setattr(Trace.objects, "all", _raise_operational_error)

    with override_settings(FEEDBACK_LOOP={"RETRY_AFTER_SECONDS": 17}):
        response = api.get("/traces")

    assert response.status_code == 503
    assert response["Retry-After"] == "17"
    assert response.json() == {
        "error": {"code": "unavailable", "message": "Storage is unavailable; retry later."}
    }


def test_database_error_while_storing_traces_is_503_and_nothing_is_half_stored(
    api, project, monkeypatch
):
    monkeypatch.setattr(Trace.objects, "bulk_create", _raise_operational_error)

    response = api.post("/traces", {"traces": [{"trace_id": "t-1"}]})

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "unavailable"
    monkeypatch.undo()
    assert not Trace.objects.exists()


def test_secret_key_is_stored_as_sha256(project, secret):
    # What the bearer check relies on: a digest lookup, not the key itself.
    assert project.secret_key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in {str(v) for v in Project.objects.values().get(pk=project.pk).values()}


def test_trace_ids_with_slashes_have_a_detail_page(api, project):
    TraceFactory(project=project, key="conv/42/answer-1")

    found = api.get("/traces/conv/42/answer-1")
    missing = api.get("/traces/conv/42/nope")

    assert found.status_code == 200
    assert found.json()["trace_id"] == "conv/42/answer-1"
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_the_api_root_is_an_index_of_the_endpoints_and_the_schema(client):
    from urllib.parse import urlsplit

    from django.urls import resolve

    response = client.get(f"{API}/")
    assert response.status_code == 200
    index = response.json()
    assert index["schema"] == f"http://testserver{API}/schema"
    assert client.get(index["schema"]).status_code == 200
    names = set()
    for entry in index["endpoints"].values():
        path = urlsplit(entry["url"]).path.replace("{trace_id}", "t-1").replace("{id}", "1")
        names.add(resolve(path.replace("{user_id}", "u-1")).url_name)
    assert names >= {"events", "traces", "trace-detail", "stats", "user-data", "datasets"}
    assert "not-found" not in names
    refused = client.post(f"{API}/")
    assert refused.status_code == 405 and refused.json()["error"]["code"] == "method_not_allowed"
