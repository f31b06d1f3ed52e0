"""Feedback figures (internal/stats.py): the server API's GET stats and the dashboard, which
mean the same thing by satisfaction."""

from datetime import UTC, timedelta

import pytest
from django.utils import timezone

from feedback_loop.models import Project, ReviewStatus
from tests.factories import ErrorModeFactory, ReviewFactory, TraceFactory
from tests.test_api import event

pytestmark = pytest.mark.django_db


# -- GET /stats ----------------------------------------------------------------------------------


@pytest.fixture
def stats_set(project):
    now = timezone.now()
    t1 = TraceFactory(project=project, key="t1", model="model-a")
    t2 = TraceFactory(project=project, key="t2", model="model-b")
    day2, day1, day0 = now - timedelta(days=2), now - timedelta(days=1), now
    # t1 (model-a): two up, one down with a reason, a rating of 4, a comment.
    event(t1, value=1, user_id="u1", at=day2)
    event(t1, value=1, user_id="u6", at=day1)
    event(t1, value=-1, user_id="u2", reasons=["hallucination"], at=day1)
    event(t1, kind="rating", value=4, user_id="u3", at=day0)
    event(t1, kind="comment", value=None, comment="nice", user_id="u3", at=day0)
    # t2 (model-b): u1 first voted down (refusal), then changed to up; only the up counts.
    event(t2, value=-1, user_id="u1", reasons=["refusal"], at=day2)
    event(t2, value=1, user_id="u1", at=day1)
    event(t2, value=-1, user_id="u4", reasons=["hallucination", "format"], at=day0)
    event(t2, kind="rating", value=2, user_id="u2", reasons=["length"], at=day0)
    # Reasons on a positive vote are not error modes.
    event(t1, value=1, user_id="u7", reasons=["format"], at=day0)
    # Outside the default 30-day window.
    event(t1, value=-1, user_id="u5", reasons=["length"], at=now - timedelta(days=40))
    # A curator confirmed hallucination on t2.
    review = ReviewFactory(trace=t2, status=ReviewStatus.REVIEWED)
    review.error_modes.add(ErrorModeFactory(project=None, slug="hallucination-x"))
    review.error_modes.add(_builtin("hallucination"))
    # Another project's feedback is not counted.
    other, _secret = Project.create("Other")
    event(TraceFactory(project=other, model="model-a"), value=-1, reasons=["refusal"], user_id="z")
    return {"day2": day2, "day1": day1, "day0": day0}


def _builtin(slug):
    from feedback_loop.models import ErrorMode

    return ErrorMode.objects.get(project=None, slug=slug)


def _date(moment):
    return moment.astimezone(UTC).date().isoformat()


def test_stats_totals_and_kinds(api, stats_set):
    response = api.get("/stats")

    assert response.status_code == 200
    body = response.json()
    # Current votes: up by u1, u6, u7 on t1 and u1 on t2; down by u2 on t1 and u4 on t2.
    assert body["totals"] == {
        "events": 10,
        "thumbs_up": 4,
        "thumbs_down": 2,
        "satisfaction": round(4 / 6, 4),
        "rating_avg": 3.0,
    }
    assert body["by_kind"] == {"thumbs": 7, "rating": 2, "comment": 1}


def test_stats_by_day(api, stats_set):
    by_day = {row["date"]: row for row in api.get("/stats").json()["by_day"]}

    day2, day1, day0 = (_date(stats_set[d]) for d in ("day2", "day1", "day0"))
    assert list(by_day) == sorted(by_day)
    if len({day2, day1, day0}) == 3:
        # day2: u1's up on t1 (u1's down on t2 was replaced later)
        assert by_day[day2] == {
            "date": day2,
            "thumbs_up": 1,
            "thumbs_down": 0,
            "satisfaction": 1.0,
            "rating_avg": None,
        }
        assert by_day[day1] == {
            "date": day1,
            "thumbs_up": 2,
            "thumbs_down": 1,
            "satisfaction": round(2 / 3, 4),
            "rating_avg": None,
        }
        assert by_day[day0] == {
            "date": day0,
            "thumbs_up": 1,
            "thumbs_down": 1,
            "satisfaction": 0.5,
            "rating_avg": 3.0,
        }
    assert sum(row["thumbs_up"] for row in by_day.values()) == 4
    assert sum(row["thumbs_down"] for row in by_day.values()) == 2


def test_stats_by_error_mode_counts_reasons_on_current_negative_votes(api, stats_set):
    rows = api.get("/stats").json()["by_error_mode"]

    assert rows[0] == {"error_mode": "hallucination", "reported": 2, "confirmed": 1}
    assert {row["error_mode"]: (row["reported"], row["confirmed"]) for row in rows} == {
        "hallucination": (2, 1),
        "hallucination-x": (0, 1),
        "format": (1, 0),
        "length": (1, 0),
    }


def test_stats_by_model_uses_the_model_of_the_trace(api, stats_set):
    rows = api.get("/stats").json()["by_model"]

    assert rows == [
        {
            "model": "model-a",
            "thumbs_up": 3,
            "thumbs_down": 1,
            "satisfaction": 0.75,
            "rating_avg": 4.0,
        },
        {
            "model": "model-b",
            "thumbs_up": 1,
            "thumbs_down": 1,
            "satisfaction": 0.5,
            "rating_avg": 2.0,
        },
    ]


def test_stats_window_in_days(api, stats_set):
    wide = api.get("/stats", {"days": 60}).json()
    narrow = api.get("/stats", {"days": 1}).json()

    assert wide["totals"]["events"] == 11
    assert wide["totals"]["thumbs_down"] == 3
    assert {r["error_mode"]: r["reported"] for r in wide["by_error_mode"]}["length"] == 2
    # Only today's events (received within the last 24 hours).
    assert narrow["totals"]["events"] == 5
    assert (narrow["totals"]["thumbs_up"], narrow["totals"]["thumbs_down"]) == (1, 1)


def test_stats_group_votes_on_traces_without_a_model_in_one_row(api, project):
    TraceFactory(project=project, key="no-model", model="")
    event(trace_key="no-model", project=project, value=1, user_id="a")
    event(trace_key="never-registered", project=project, value=-1, user_id="b")

    rows = api.get("/stats").json()["by_model"]

    assert rows == [
        {"model": "", "thumbs_up": 1, "thumbs_down": 1, "satisfaction": 0.5, "rating_avg": None}
    ]


def test_stats_with_no_feedback(api, project):
    body = api.get("/stats").json()

    assert body["totals"] == {
        "events": 0,
        "thumbs_up": 0,
        "thumbs_down": 0,
        "satisfaction": None,
        "rating_avg": None,
    }
    assert (body["by_day"], body["by_kind"], body["by_error_mode"], body["by_model"]) == (
        [],
        {},
        [],
        [],
    )


@pytest.mark.parametrize(
    ("days", "message"),
    [("0", "From 1 to 365."), ("366", "From 1 to 365."), ("abc", "A whole number of days.")],
)
def test_stats_with_a_bad_window_is_400(api, project, days, message):
    response = api.get("/stats", {"days": days})

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"days": [message]}


def test_the_dashboard_and_the_api_agree_on_satisfaction(api, project, admin_client):
    """Thumbs up among end users' current thumbs votes: the API counts the votes cast in its
    window from the events, the dashboard the same votes from the traces' rollups."""
    from feedback_loop.internal.pipeline import process_traces

    a = TraceFactory(project=project, key="a")
    b = TraceFactory(project=project, key="b")
    hour = timezone.now() - timedelta(hours=1)
    event(a, value=1, user_id="u1", at=hour)
    event(a, value=1, user_id="u2", at=hour)
    event(a, value=-1, user_id="u3", at=hour)
    event(b, value=-1, user_id="u1", at=hour)
    event(b, value=1, user_id="u1", at=hour + timedelta(minutes=5))  # changed their mind
    event(b, value=-1, user_id="u4", at=hour)
    event(b, kind="rating", value=1, user_id="u5", at=hour)  # a rating is no thumbs vote
    process_traces([(project.pk, "a"), (project.pk, "b")])

    api_figure = api.get("/stats", {"days": "7"}).json()["totals"]["satisfaction"]
    assert api_figure == round(3 / 5, 4)
    page = admin_client.get(
        f"/admin/feedback_loop/trace/dashboard/?project={project.pk}&days=7&refresh=1"
    )
    assert page.context["satisfaction"] == round(100 * 3 / 5)
