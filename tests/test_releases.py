"""Releases (issue 16): the release that produced each answer, recorded with the trace, filtered
on, exported; and two releases compared from the traces' rollups (internal/releases.py)."""

import json

import pytest
from django.core.checks import run_checks
from django.test import override_settings

from feedback_loop import record_trace
from feedback_loop.conf import validate
from feedback_loop.internal.datasets import add_traces, apply_rule
from feedback_loop.models import Dataset, DatasetKind, Trace
from tests.curation import ADMIN, add, listed, page, run

pytestmark = pytest.mark.django_db


# -- recording ----------------------------------------------------------------------------------


def test_record_trace_stores_the_release_and_keeps_it_when_left_out(project):
    trace = record_trace(project, "t1", input="q", output="a", release="v1.2.0")
    assert trace.release == "v1.2.0"
    again = record_trace(project, "t1", input="q", output="a2")
    assert again.release == "v1.2.0"  # None keeps what was stored
    moved = record_trace(project, "t1", input="q", output="a3", release="v1.3.0")
    assert moved.release == "v1.3.0"


def test_a_new_trace_without_a_release_gets_the_default_setting(project):
    assert record_trace(project, "none", input="q", output="a").release == ""
    with override_settings(FEEDBACK_LOOP={"DEFAULT_RELEASE": "abc1234"}):
        assert record_trace(project, "new", input="q", output="a").release == "abc1234"
        given = record_trace(project, "given", input="q", output="a", release="v9")
        assert given.release == "v9"
        # An existing trace keeps its release: the default is for new answers only.
        assert record_trace(project, "none", input="q", output="b").release == ""


def test_default_release_is_validated():
    assert validate({"DEFAULT_RELEASE": "abc1234"}) == []
    assert validate({"DEFAULT_RELEASE": None}) == []
    assert "DEFAULT_RELEASE" in validate({"DEFAULT_RELEASE": 42})[0]
    assert validate({"DEFAULT_RELEASE": "x" * 201})
    with override_settings(FEEDBACK_LOOP={"DEFAULT_RELEASE": ["v1"]}):
        assert any(
            m.id == "feedback_loop.E003" and "DEFAULT_RELEASE" in m.msg for m in run_checks()
        )


def test_post_traces_takes_a_release_and_the_list_shows_it(api):
    body = {
        "traces": [
            {"trace_id": "a", "input": "q", "output": "x", "release": "v2"},
            {"trace_id": "b", "input": "q", "output": "y"},
        ]
    }
    with override_settings(FEEDBACK_LOOP={"DEFAULT_RELEASE": "v1"}):
        assert api.post("/traces", body).status_code == 200
    assert api.get("/traces/a").json()["release"] == "v2"
    assert api.get("/traces/b").json()["release"] == "v1"
    bad = api.post("/traces", {"traces": [{"trace_id": "c", "release": 3}]})
    assert bad.status_code == 400
    long = api.post("/traces", {"traces": [{"trace_id": "c", "release": "v" * 201}]})
    assert long.status_code == 400


# -- filters, dataset rules, exports -------------------------------------------------------------


@pytest.fixture
def two_releases(project):
    for key, release in [("a1", "v1"), ("a2", "v1"), ("b1", "v2"), ("none", "")]:
        record_trace(project, key, input=f"q {key}", output=f"a {key}", release=release)
        add(project, key, value=-1, user_id=f"u-{key}")
    run(project)
    return project


def test_the_trace_list_filters_by_release(api, two_releases):
    keys = {t["trace_id"] for t in api.get("/traces", {"release": "v1"}).json()["results"]}
    assert keys == {"a1", "a2"}
    assert api.get("/traces", {"release": "v3"}).json()["results"] == []


def test_a_dataset_rule_by_release_adds_only_that_releases_answers(two_releases):
    dataset = Dataset.objects.create(
        project=two_releases,
        name="v2 failures",
        kind=DatasetKind.REGRESSION,
        rule={"filters": {"release": "v2", "sentiment": "negative"}},
    )
    assert apply_rule(dataset) == 1
    assert [item.trace.key for item in dataset.items.all()] == ["b1"]


def test_dataset_items_and_their_exports_carry_the_release(api, two_releases):
    dataset = Dataset.objects.create(project=two_releases, name="all", kind=DatasetKind.REGRESSION)
    add_traces(dataset, Trace.objects.filter(project=two_releases).values_list("pk", flat=True))
    by_trace = {item.metadata["trace_id"]: item.metadata for item in dataset.items.all()}
    assert {key: meta["release"] for key, meta in by_trace.items()} == {
        "a1": "v1",
        "a2": "v1",
        "b1": "v2",
        "none": "",
    }
    params = {"format": "jsonl", "keep_incomplete": "true"}  # items without an expected output
    response = api.get(f"/datasets/{dataset.pk}/export", params)
    rows = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert {row["metadata"]["release"] for row in rows} == {"v1", "v2", ""}


def test_preference_items_carry_the_release(project):
    from feedback_loop.models import PreferencePair

    trace = record_trace(project, "p", input="q", output="a", release="v7")
    PreferencePair.objects.create(
        project=project, trace=trace, prompt="q", chosen="good", rejected="bad", source="edit"
    )
    dataset = Dataset.objects.create(project=project, name="prefs", kind=DatasetKind.PREFERENCE)
    add_traces(dataset, [trace.pk])
    assert dataset.items.get().metadata["release"] == "v7"


# -- the review queue --------------------------------------------------------------------------


def test_the_queue_filters_by_release_and_the_trace_page_shows_it(admin_client, two_releases):
    everything = {"sentiment": "all", "review": "all"}
    response = admin_client.get(f"{ADMIN}/trace/", everything)
    text = page(response)
    assert " By release " in text
    assert text.index("release=v2") < text.index("release=v1")  # newest first
    narrowed = admin_client.get(f"{ADMIN}/trace/", {**everything, "release": "v1"})
    assert sorted(listed(narrowed)) == ["a1", "a2"]
    trace = Trace.objects.get(project=two_releases, key="b1")
    assert "v2" in page(admin_client.get(f"{ADMIN}/trace/{trace.pk}/change/"))


# -- comparing releases --------------------------------------------------------------------------


def seed(project, release, *, up=0, down=0, silent=0, days_ago=0, **with_signal):
    """Answers of ``release``: ``up`` with a thumbs up, ``down`` with a thumbs down, ``silent``
    with neither; ``regenerate_count=10`` gives the first 10 of them a regenerate, and so on."""
    from datetime import timedelta

    from django.utils import timezone

    from tests.factories import TraceFactory

    when = timezone.now() - timedelta(days=days_ago)
    traces = []
    for i in range(up + down + silent):
        counters = {name: int(i < n) for name, n in with_signal.items()}
        traces.append(
            TraceFactory(
                project=project,
                release=release,
                created_at=when,
                thumbs_up=int(i < up),
                thumbs_down=int(up <= i < up + down),
                sentiment="positive" if i < up else "negative" if i < up + down else "none",
                **counters,
            )
        )
    return traces


def by_name(comparison):
    return {figure.name: figure for figure in comparison.figures}


def test_compare_two_releases_with_known_counts(project):
    from datetime import timedelta

    from django.utils import timezone

    from feedback_loop.internal import releases
    from feedback_loop.internal.statistics import compare_rates

    seed(project, "v2", up=60, down=40, regenerate_count=10, copy_count=5, edit_count=3)
    seed(project, "v1", up=40, down=60, regenerate_count=30, copy_count=5, edit_count=3)
    seed(project, "v1", up=50, days_ago=40)  # outside the window
    seed(project, "v0", down=7)  # neither A nor B
    since = timezone.now() - timedelta(days=30)
    comparison = releases.compare(Trace.objects.all(), "v2", "v1", since=since)
    assert (comparison.answers_a, comparison.answers_b) == (100, 100)
    figures = by_name(comparison)
    satisfaction = figures["satisfaction"]
    assert satisfaction.difference == compare_rates(60, 100, 40, 100, higher_is_better=True)
    assert satisfaction.difference.verdict == "better"
    assert (satisfaction.a.hits, satisfaction.a.n, satisfaction.b.hits, satisfaction.b.n) == (
        60,
        100,
        40,
        100,
    )
    assert satisfaction.a.low < 0.6 < satisfaction.a.high
    # Fewer regenerates is better; copies, the same share, cannot tell a difference.
    assert figures["regenerate"].difference == compare_rates(
        10, 100, 30, 100, higher_is_better=False
    )
    assert figures["regenerate"].difference.verdict == "better"
    assert figures["copy"].difference.verdict == "can't tell yet"
    assert figures["copy"].difference.more_needed is None
    assert figures["edit"].unit == "answers" and satisfaction.unit == "votes"
    # The other way round, v1 is worse.
    backwards = by_name(releases.compare(Trace.objects.all(), "v1", "v2", since=since))
    assert backwards["satisfaction"].difference.verdict == "worse"
    assert backwards["regenerate"].difference.verdict == "worse"


def test_a_release_against_the_rest_and_the_error_modes(project):
    from datetime import timedelta

    from django.utils import timezone

    from feedback_loop.internal import releases
    from feedback_loop.models import ErrorMode, Review, ReviewStatus

    new = seed(project, "v2", up=1, down=4)
    seed(project, "v1", up=3, down=1)
    seed(project, "", up=2, silent=2)  # answers of no release are part of "the rest"
    hallucination = ErrorMode.objects.get(project=None, slug="hallucination")
    for trace in new[1:4]:
        trace.suggested_error_modes.add(hallucination)
    # Suggested and confirmed on the same answer: counted once.
    review = Review.objects.create(trace=new[1], status=ReviewStatus.REVIEWED)
    review.error_modes.add(hallucination)
    since = timezone.now() - timedelta(days=30)
    comparison = releases.compare(Trace.objects.all(), "v2", since=since)
    assert comparison.b is None
    assert (comparison.answers_a, comparison.answers_b) == (5, 8)
    figures = by_name(comparison)
    assert (figures["satisfaction"].b.hits, figures["satisfaction"].b.n) == (5, 6)
    mode = figures["hallucination"]
    assert (mode.kind, mode.a.hits, mode.a.n, mode.b.hits, mode.b.n) == ("error_mode", 3, 5, 0, 8)
    assert mode.higher_is_better is False
    # Newest first (v1's answers were recorded after v2's); no release is not one.
    assert releases.releases_seen(Trace.objects.all(), since) == ["v1", "v2"]
    assert releases.default_pair(["v3", "v2", "v1"]) == ("v3", "v2")
    assert releases.default_pair(["v3"]) == ("v3", None)
    assert releases.default_pair([]) == (None, None)


@pytest.mark.parametrize("seed_value", [1, 2, 3])
def test_answers_drawn_from_known_rates_give_the_expected_verdict(project, seed_value):
    """Releases whose true satisfaction is 75% and 50%, 300 votes each: the verdict is "better",
    and the interval of the difference holds the true 25 points."""
    import random
    from datetime import timedelta

    from django.utils import timezone

    from feedback_loop.internal import releases

    rng = random.Random(seed_value)
    for release, p in (("new", 0.75), ("old", 0.5)):
        ups = sum(rng.random() < p for _ in range(300))
        seed(project, release, up=ups, down=300 - ups)
    since = timezone.now() - timedelta(days=1)
    satisfaction = by_name(releases.compare(Trace.objects.all(), "new", "old", since=since))[
        "satisfaction"
    ]
    assert satisfaction.difference.verdict == "better"
    assert satisfaction.difference.low < 0.25 < satisfaction.difference.high


# -- GET stats/compare ------------------------------------------------------------------------


def test_the_compare_endpoint_answers_each_figure(api, project):
    seed(project, "v2", up=60, down=40)
    seed(project, "v1", up=40, down=60)
    response = api.get("/stats/compare", {"a": "v2", "b": "v1", "days": 7})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["a"], body["b"], body["answers"]) == ("v2", "v1", {"a": 100, "b": 100})
    first = body["figures"][0]
    assert first["name"] == "satisfaction" and first["verdict"] == "better"
    assert first["a"]["hits"] == 60 and first["b"]["n"] == 100
    assert first["low"] < 0.2 < first["high"] and first["difference"] == pytest.approx(0.2)
    assert [f["name"] for f in body["figures"][1:5]] == ["regenerate", "edit", "abandon", "copy"]
    # A release against itself: nothing to tell apart.
    same = api.get("/stats/compare", {"a": "v1", "b": "v1"}).json()
    assert {f["verdict"] for f in same["figures"]} == {"can't tell yet"}
    assert same["answers"] == {"a": 100, "b": 100}
    rest = api.get("/stats/compare", {"a": "v2"}).json()
    assert rest["b"] is None and rest["answers"] == {"a": 100, "b": 100}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "a"),
        ({"a": ""}, "a"),
        ({"a": "v1", "days": 0}, "days"),
    ],
)
def test_the_compare_endpoint_refuses_a_bad_query(api, params, field):
    response = api.get("/stats/compare", params)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_the_compare_endpoint_refuses_an_unknown_parameter(api):
    response = api.get("/stats/compare", {"a": "v1", "c": "v2"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_parameter"


def test_the_compare_endpoint_sees_only_the_keys_project(client, api, project):
    from feedback_loop.models import Project
    from tests.conftest import bearer

    other, other_secret = Project.create("Other")
    seed(project, "v2", up=3)
    seed(other, "v2", down=5)
    mine = api.get("/stats/compare", {"a": "v2"}).json()
    assert mine["figures"][0]["a"]["hits"] == 3 and mine["answers"]["a"] == 3
    theirs = client.get("/feedback/api/v1/stats/compare", {"a": "v2"}, **bearer(other_secret))
    assert theirs.json()["answers"]["a"] == 5
    assert theirs.json()["figures"][0]["a"]["hits"] == 0
    assert client.get("/feedback/api/v1/stats/compare", {"a": "v2"}).status_code == 401


# -- the dashboard's section ---------------------------------------------------------------------


def test_the_dashboard_compares_the_newest_release_with_the_one_before(admin_client, project):
    from datetime import timedelta

    from django.utils import timezone

    seed(project, "v1", up=40, down=60, regenerate_count=5)
    seed(project, "v2", up=60, down=40, regenerate_count=3)
    Trace.objects.filter(release="v1").update(created_at=timezone.now() - timedelta(days=2))
    text = page(admin_client.get(f"{ADMIN}/trace/dashboard/"))
    assert "Releases" in text
    assert '<option value="v2" selected>' in text  # A: the newest
    assert text.count('<option value="v1" selected>') == 1  # B: the one before
    assert "better" in text
    assert "can&#x27;t tell yet: about " in text and " more answers a side" in text
    assert 'aria-label="v2 against v1: each figure' in text  # the section's one chart
    assert "6.1 to 32.8 points" in text  # satisfaction's difference, from compare_rates
    # Against every other answer (an empty B), v1 against v2 (worse), cached apart.
    swapped = page(admin_client.get(f"{ADMIN}/trace/dashboard/", {"release_a": "v1"}))
    assert "worse" in swapped
    rest = page(admin_client.get(f"{ADMIN}/trace/dashboard/", {"release_a": "v1", "release_b": ""}))
    assert '<option value="" selected>' in rest


def test_the_dashboard_without_releases_says_how_to_record_them(admin_client, queue):
    text = page(admin_client.get(f"{ADMIN}/trace/dashboard/"))
    assert "No answers with a release in this window" in text
