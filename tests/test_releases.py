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
