"""Segments (issue 16): satisfaction broken down by a metadata key (internal/segments.py), alone
and in the release comparison, in the API and on the dashboard, with the intervals and verdicts
of the whole; the same answers on SQLite and PostgreSQL."""

from datetime import timedelta

import pytest
from django.utils import timezone

from feedback_loop.internal import segments
from feedback_loop.internal.statistics import compare_rates, wilson
from feedback_loop.models import Project, Trace
from tests.conftest import bearer
from tests.curation import ADMIN, page
from tests.factories import TraceFactory
from tests.test_access import ALL, staff

pytestmark = pytest.mark.django_db


def answers(project, metadata, *, up=0, down=0, silent=0, release="", **with_signal):
    """Answers with ``metadata``, created and last signalled now: ``up`` with a thumbs up,
    ``down`` with a thumbs down, ``silent`` with neither; ``regenerate_count=4`` gives the
    first 4 a regenerate."""
    now = timezone.now()
    for i in range(up + down + silent):
        TraceFactory(
            project=project,
            metadata=metadata,
            release=release,
            created_at=now,
            last_signal_at=now,
            thumbs_up=int(i < up),
            thumbs_down=int(up <= i < up + down),
            sentiment="positive" if i < up else "negative" if i < up + down else "none",
            **{name: int(i < n) for name, n in with_signal.items()},
        )


def by_value(found):
    return {(s.group, s.value): s for s in found}


@pytest.fixture
def features(project):
    answers(project, {"feature": "search", "plan": "pro"}, up=30, down=10, regenerate_count=4)
    answers(project, {"feature": "chat"}, up=5, down=15, silent=5)
    answers(project, {"feature": "docs"}, up=2)
    answers(project, {"plan": "free"}, up=3, down=3)  # no feature
    answers(project, {"feature": None}, up=1)  # null reads as no value, as IS NULL does
    return project


# -- the figures -------------------------------------------------------------------------------


def test_satisfaction_per_value_with_wilson_intervals(features):
    found = segments.breakdown(Trace.objects.all(), segments.parse_key("metadata.feature"))
    # The values by answers, then the traces without one.
    assert [(s.group, s.value, s.answers) for s in found] == [
        ("value", "search", 40),
        ("value", "chat", 25),
        ("value", "docs", 2),
        ("none", None, 7),
    ]
    search, chat = found[0], found[1]
    assert (search.satisfaction.hits, search.satisfaction.n, search.satisfaction.rate) == (
        30,
        40,
        0.75,
    )
    assert (search.satisfaction.low, search.satisfaction.high) == wilson(30, 40)
    assert (chat.satisfaction.hits, chat.satisfaction.n, chat.satisfaction.rate) == (5, 20, 0.25)
    assert (chat.satisfaction.low, chat.satisfaction.high) == wilson(5, 20)
    none = found[3]
    assert (none.satisfaction.hits, none.satisfaction.n) == (4, 7)
    # A signal's rate is per answer: 4 of search's 40 answers were regenerated.
    assert search.signals["regenerate"].rate == 0.1
    assert (search.signals["regenerate"].low, search.signals["regenerate"].high) == wilson(4, 40)
    assert chat.signals["regenerate"].rate == 0.0


def test_beyond_the_top_values_the_rest_is_other(features):
    found = segments.breakdown(Trace.objects.all(), segments.parse_key("metadata.feature"), limit=1)
    assert [(s.group, s.value, s.answers) for s in found] == [
        ("value", "search", 40),
        ("other", None, 27),  # chat and docs together
        ("none", None, 7),
    ]
    other = found[1].satisfaction
    assert (other.hits, other.n) == (7, 22)
    assert (other.low, other.high) == wilson(7, 22)


def test_numbers_booleans_and_nested_keys_read_as_text_on_both_databases(project):
    answers(project, {"tier": 2, "beta": True, "user": {"locale": "fr"}}, up=3)
    answers(project, {"tier": "2", "beta": False, "user": {"locale": "de"}}, down=2)
    answers(project, {"tier": 2.5, "beta": "true", "user": {}}, up=1, down=1)
    answers(project, {"tier": [1, 2], "beta": {"on": 1}}, up=1)
    traces = Trace.objects.all()

    def rates(key):
        found = segments.breakdown(traces, segments.parse_key(key))
        return {s.value: (s.satisfaction.hits, s.satisfaction.n) for s in found}

    # Compared as text: the number 2 and the string "2" are one value.
    assert rates("metadata.tier") == {"2": (3, 5), "2.5": (1, 2), "[…]": (1, 1)}
    assert rates("metadata.beta") == {"true": (4, 5), "false": (0, 2), "{…}": (1, 1)}
    assert rates("metadata.user.locale") == {"fr": (3, 3), "de": (0, 2), None: (2, 3)}


@pytest.mark.parametrize(
    "key",
    [
        "metadata.a'--",
        "metadata.a' OR 1=1 --",
        'metadata."a b"',
        "",
        "   ",
        "metadata",
        "metadata.",
        "metadata.-a",
        "metadata.a b",
        "metadata.a)",
        "feature",
        "scores.correctness",
        "created_at",
        "metadata." + "a" * 1000,
        "metadata.a\x00",
        "metadata.\ud800",
    ],
)
def test_a_key_that_is_not_a_metadata_path_is_refused_by_name(key):
    with pytest.raises(ValueError) as refused:
        segments.parse_key(key)
    message = str(refused.value)
    if key.strip():
        assert repr(key[:40] + "…" if len(key) > 40 else key) in message
    assert "metadata.plan" in message  # says what a key looks like


def test_a_good_key_names_its_path():
    key = segments.parse_key("metadata.user.locale")
    assert (key.path, key.name) == (("user", "locale"), "user.locale")
    assert segments.parse_key("metadata.plan-2").path == ("plan-2",)
    with pytest.raises(ValueError, match=r"did you mean metadata\.plan"):
        segments.parse_key("plan")


# -- releases by segment -----------------------------------------------------------------------


@pytest.fixture
def two_releases(project):
    # Search: the same in both; chat: the new release is clearly worse.
    answers(project, {"feature": "search"}, up=30, down=10, release="v2")
    answers(project, {"feature": "search"}, up=30, down=10, release="v1")
    answers(project, {"feature": "chat"}, up=5, down=15, release="v2")
    answers(project, {"feature": "chat"}, up=15, down=5, release="v1")
    answers(project, {}, up=2, release="v2")
    answers(project, {"feature": "chat"}, down=9, release="v0")  # neither A nor B
    return project


def test_each_segment_compares_satisfaction_with_newcombe_and_a_verdict(two_releases):
    since = timezone.now() - timedelta(days=1)
    key = segments.parse_key("metadata.feature")
    found = segments.compare(Trace.objects.all(), key, "v2", "v1", since=since)
    assert [(s.group, s.value, s.answers_a, s.answers_b) for s in found] == [
        ("value", "search", 40, 40),
        ("value", "chat", 20, 20),
        ("none", None, 2, 0),
    ]
    search, chat, none = found
    assert chat.satisfaction.difference == compare_rates(5, 20, 15, 20)
    assert chat.satisfaction.difference.verdict == "worse"
    assert (chat.satisfaction.a.low, chat.satisfaction.a.high) == wilson(5, 20)
    assert (chat.satisfaction.b.low, chat.satisfaction.b.high) == wilson(15, 20)
    assert search.satisfaction.difference.verdict == "can't tell yet"
    assert none.satisfaction.b.n == 0 and none.satisfaction.difference.verdict == "can't tell yet"
    # Against the rest, v0's chat answers are on B's side.
    rest = segments.compare(Trace.objects.all(), key, "v2", since=since)
    assert [(s.value, s.answers_b) for s in rest] == [("search", 40), ("chat", 29), (None, 0)]
    assert rest[1].satisfaction.difference == compare_rates(5, 20, 15, 29)
    # A release against itself: the same answers on both sides.
    same = segments.compare(Trace.objects.all(), key, "v1", "v1", since=since)
    assert {s.satisfaction.difference.verdict for s in same} == {"can't tell yet"}


def test_the_compare_endpoint_breaks_down_by_a_key(api, two_releases):
    plain = api.get("/stats/compare", {"a": "v2", "b": "v1"}).json()
    assert "segments" not in plain
    response = api.get("/stats/compare", {"a": "v2", "b": "v1", "by": "metadata.feature"})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["by"] == "metadata.feature"
    assert body["figures"] == plain["figures"]  # the overall comparison is unchanged
    chat = body["segments"][1]
    assert (chat["group"], chat["value"], chat["answers"]) == ("value", "chat", {"a": 20, "b": 20})
    figure = chat["satisfaction"]
    assert figure["verdict"] == "worse"
    assert (figure["a"]["hits"], figure["a"]["n"], figure["b"]["hits"]) == (5, 20, 15)
    assert figure["difference"] == pytest.approx(-0.5)
    expected = compare_rates(5, 20, 15, 20)
    assert (figure["low"], figure["high"]) == pytest.approx((expected.low, expected.high))
    assert [(s["group"], s["value"]) for s in body["segments"]] == [
        ("value", "search"),
        ("value", "chat"),
        ("none", None),
    ]


@pytest.mark.parametrize(
    "key", ["metadata.a'--", "", "metadata." + "a" * 1000, "plan", "metadata.a;DROP"]
)
def test_the_compare_endpoint_refuses_a_bad_key_naming_it(api, two_releases, key):
    response = api.get("/stats/compare", {"a": "v2", "by": key})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    message = error["fields"]["by"][0]
    assert key[:40] in message and "metadata.plan" in message


def test_segments_count_only_the_callers_projects(client, api, project):
    other, other_secret = Project.create("Other")
    answers(project, {"feature": "search"}, up=3, release="v2")
    answers(other, {"feature": "search"}, down=5, release="v2")
    answers(other, {"feature": "their-secret"}, down=1, release="v2")
    mine = api.get("/stats/compare", {"a": "v2", "by": "metadata.feature"}).json()
    assert [(s["value"], s["answers"]["a"]) for s in mine["segments"]] == [("search", 3)]
    theirs = client.get(
        "/feedback/api/v1/stats/compare",
        {"a": "v2", "by": "metadata.feature"},
        **bearer(other_secret),
    ).json()
    assert [(s["value"], s["answers"]["a"]) for s in theirs["segments"]] == [
        ("search", 5),
        ("their-secret", 1),
    ]
    # A curator of the first project, on the API and on the dashboard.
    client.force_login(staff(perms=ALL, projects=[project]))
    seen = client.get(
        "/feedback/api/v1/stats/compare", {"a": "v2", "by": "metadata.feature"}
    ).json()
    assert [(s["value"], s["answers"]["a"]) for s in seen["segments"]] == [("search", 3)]
    dashboard = page(client.get(f"{ADMIN}/trace/dashboard/", {"by": "metadata.feature"}))
    assert "Satisfaction by feature" in dashboard
    assert "their-secret" not in dashboard


# -- the dashboard -----------------------------------------------------------------------------


def _percent(share):
    return round(100 * share, 1)


def test_the_dashboard_shows_satisfaction_by_the_chosen_key(admin_client, features):
    text = page(admin_client.get(f"{ADMIN}/trace/dashboard/", {"by": "metadata.feature"}))
    assert "Satisfaction by feature" in text
    assert 'aria-label="Satisfaction by feature: each value' in text  # the chart
    low, high = wilson(30, 40)
    assert "75.0%</td>" in text and f"{_percent(low)}% to {_percent(high)}%" in text
    low, high = wilson(5, 20)
    assert "25.0%</td>" in text and f"{_percent(low)}% to {_percent(high)}%" in text
    assert ">(none)</td>" in text
    assert ">10.0%</td>" in text  # search's regenerate rate
    # Without ?by= there is no such section; a bad key says what is wrong with it.
    plain = page(admin_client.get(f"{ADMIN}/trace/dashboard/"))
    assert "Satisfaction by" not in plain
    bad = page(admin_client.get(f"{ADMIN}/trace/dashboard/", {"by": "metadata.a'--"}))
    assert 'class="errornote"' in bad and "is not a metadata key" in bad


def test_the_dashboard_keeps_the_breakdown_a_minute_unless_refreshed(admin_client, features):
    url = f"{ADMIN}/trace/dashboard/"
    before = page(admin_client.get(url, {"by": "metadata.plan"}))
    assert ">pro</td>" in before and ">enterprise</td>" not in before
    answers(features, {"plan": "enterprise"}, up=50)
    assert ">enterprise</td>" not in page(admin_client.get(url, {"by": "metadata.plan"}))
    fresh = page(admin_client.get(url, {"by": "metadata.plan", "refresh": 1}))
    assert ">enterprise</td>" in fresh


def test_the_releases_section_breaks_down_by_the_key(admin_client, two_releases):
    text = page(
        admin_client.get(
            f"{ADMIN}/trace/dashboard/",
            {"release_a": "v2", "release_b": "v1", "by": "metadata.feature"},
        )
    )
    assert "Break down by" in text
    assert 'aria-label="Satisfaction by feature, v2 against v1: 95% intervals"' in text
    expected = compare_rates(5, 20, 15, 20)
    low, high = _percent(expected.low), _percent(expected.high)
    assert f"{low} to {high} points" in text  # chat's difference
    assert "25.0% (5/20)" in text and "75.0% (15/20)" in text
