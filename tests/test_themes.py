"""Themes in the comments of negative traces (issue 16, item 4): the clustering on planted
themes, the trend against the window before, a custom THEME_EMBEDDER, the dashboard's section
(and without scikit-learn) and the queue's theme filter."""

import random
import sys
from collections import Counter

import pytest
from django.test import override_settings

from feedback_loop.conf import validate
from feedback_loop.internal import clusters, themes
from feedback_loop.internal.deferred import scope_of
from feedback_loop.models import Sentiment, Trace
from tests.curation import ADMIN, add, listed, page

DAY = 24 * 60  # minutes

PLANTED = {
    "format": [
        "the JSON is broken",
        "wrong format, I asked for JSON",
        "not valid JSON",
        "JSON format is wrong",
        "invalid JSON output",
        "format should be JSON",
        "returned markdown instead of JSON",
        "the JSON format again",
    ],
    "length": [
        "way too long",
        "too verbose",
        "answer far too long",
        "verbose and too long",
        "too long, shorten it",
        "so verbose",
        "too long to read",
        "long winded and verbose",
    ],
    "refusal": [
        "it refused to answer",
        "refused a simple question",
        "refused again",
        "why refused",
        "refused to help",
        "just refused",
        "refused for no reason",
        "it refused to do it",
    ],
}
KEYS = ("json", "long", "refused")
NOISE = [
    *[
        "honestly",
        "really",
        "today",
        "please",
        "ugh",
        "seriously",
        "hmm",
        "sigh",
        "again",
        "disappointing",
    ],
    *("come on", "the answer", "this model", "my question", "not great"),
]


def planted(per: int = 20, seed: int = 1) -> list[tuple[str, str]]:
    """(theme, comment): ``per`` comments of each planted theme, a phrasing between noise."""
    rng = random.Random(seed)
    rows = []
    for name, phrases in PLANTED.items():
        for _ in range(per):
            words = [rng.choice(NOISE), rng.choice(phrases), rng.choice(NOISE)]
            rng.shuffle(words)
            rows.append((name, " ".join(words)))
    rng.shuffle(rows)
    return rows


def groups(found, names) -> list[Counter]:
    return [Counter(names[i] for i in theme.members) for theme in found]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_three_planted_themes_come_back_as_those_three(seed):
    rows = planted(seed=seed)
    names = [name for name, _text in rows]
    found = clusters.find_themes([text for _name, text in rows], embedder=clusters.tfidf_embedder)
    assert len(found) == 3
    by_theme = {}
    for theme, members in zip(found, groups(found, names), strict=True):
        name, n = members.most_common(1)[0]
        assert n >= 0.9 * theme.count and n >= 18, members
        by_theme[name] = theme
    assert set(by_theme) == set(PLANTED)
    assert "json" in by_theme["format"].terms
    assert {"long", "verbose"} & set(by_theme["length"].terms)
    assert "refused" in by_theme["refusal"].terms
    for name, theme in by_theme.items():
        assert len(theme.representatives) == 3
        assert all(names[i] == name for i in theme.representatives)
        assert theme.label == ", ".join(theme.terms)


def test_a_corpus_too_small_or_of_stop_words_has_no_themes():
    assert clusters.find_themes(["too long"] * 3) == []
    assert clusters.find_themes(["the", "and it", "of", "to the", "is", "was"]) == []
    same = clusters.find_themes(["way too long"] * 10)
    assert [(t.count, t.label) for t in same] == [(10, "long, way")]


def test_the_previous_window_is_assigned_to_the_nearest_theme_and_gives_the_trend():
    rows = planted(seed=4)
    now = [text for _name, text in rows]
    before = [text for name, text in planted(seed=5) if name != "refusal"]
    before += [text for name, text in planted(seed=6) if name == "length"]
    found = clusters.find_themes(now, before)
    format_, length, refusal = (next(t for t in found if term in t.terms) for term in KEYS)
    # Each within a comment or two of what was planted: 20 now, and 20, 40 and 0 before.
    assert format_.count >= 19 and 19 <= format_.previous_count <= 21 and format_.trend == "flat"
    assert length.count >= 19 and length.previous_count >= 38 and length.trend == "down"
    assert refusal.count >= 19 and refusal.previous_count <= 1 and refusal.trend == "up"


def test_trend_needs_a_change_of_three_and_of_a_fifth():
    assert clusters.trend(5, 3) == "flat"  # +2
    assert clusters.trend(6, 3) == "up"
    assert clusters.trend(100, 90) == "flat"  # +10, a ninth
    assert clusters.trend(80, 100) == "down"
    assert clusters.trend(0, 0) == "flat"


def test_an_edit_counts_by_the_words_it_added_and_removed():
    summary = themes.edit_summary(
        "Sure! Here is the answer: Paris is the capital of France.", "Paris is the capital."
    )
    assert summary == "sure here answer of france"
    assert themes.edit_summary("Hello there", "Hello there friend, JSON please") == (
        "friend json please"
    )
    text = themes.text_of("edit", "use json", "a b json", "a b")
    assert text == "use json json"


CALLS = []


def keyword_embedder(texts):
    """A custom embedder: one axis per planted theme's keyword (and one for the rest)."""
    CALLS.append(len(texts))
    axes = (("json",), ("long", "verbose"), ("refused",))
    return [[float(any(w in text.lower() for w in words)) for words in axes] for text in texts]


def test_a_custom_theme_embedder_is_used():
    rows = planted(seed=7)
    CALLS.clear()
    with override_settings(FEEDBACK_LOOP={"THEME_EMBEDDER": "tests.test_themes.keyword_embedder"}):
        found = clusters.find_themes([text for _name, text in rows], ["why refused"])
    assert CALLS == [61]  # both windows at once
    names = [name for name, _text in rows]
    assert sorted(theme.count for theme in found) == [20, 20, 20]
    assert all(len(members) == 1 for members in groups(found, names))
    refusal = next(t for t in found if "refused" in t.terms)
    assert refusal.previous_count == 1


def test_an_embedder_must_return_one_row_per_text():
    with pytest.raises(ValueError, match="one row per text"):
        clusters.find_themes(["a b"] * 10, embedder=lambda texts: [[1.0, 0.0]])


def test_the_settings_are_checked():
    assert validate({"THEME_EMBEDDER": "tests.test_themes.keyword_embedder"}) == []
    assert "cannot import" in validate({"THEME_EMBEDDER": "tests.nowhere.embed"})[0]
    assert "positive integer" in validate({"THEME_MAX_COMMENTS": 0})[0]


# -- from the database: the windows, the dashboard, the queue ---------------------------------


def seed(project, rows, *, minutes=60, prefix="t", sentiment=Sentiment.NEGATIVE):
    """A trace per comment, negative, with a thumbs down carrying the comment."""
    for i, (_name, text) in enumerate(rows):
        key = f"{prefix}{i}"
        Trace.objects.create(project=project, key=key, output="An answer.", sentiment=sentiment)
        add(project, key, value=-1, comment=text, minutes=minutes + i)


def test_compute_reads_the_negative_traces_of_each_window(project):
    rows = planted(per=10, seed=8)
    seed(project, rows)
    seed(project, [r for r in planted(per=10, seed=9) if r[0] == "format"], minutes=40 * DAY,
         prefix="old")  # fmt: skip
    seed(project, [("x", "refused refused")] * 5, prefix="good", sentiment=Sentiment.POSITIVE)
    add(project, "nowhere", value=-1, comment="refused, no trace")
    # An edit of a negative trace counts by the words it changed.
    Trace.objects.create(project=project, key="edited", output="A very long answer, really.")
    Trace.objects.filter(key="edited").update(sentiment=Sentiment.MIXED)
    add(project, "edited", kind="edit", text="A long answer.")
    result = themes.compute(scope_of([project.pk]), 30)
    assert result["comments"] == 31 and result["previous_comments"] == 10
    assert themes.cached(scope_of([project.pk]), 30) == result
    assert themes.cached(scope_of([project.pk + 1]), 30) is None
    by_term = {
        term: next(t for t in result["themes"] if term in t["terms"])
        for term in ("json", "refused")
    }
    assert by_term["json"]["previous_count"] == 10 and by_term["json"]["trend"] == "flat"
    assert by_term["refused"]["trend"] == "up"
    traces = Trace.objects.filter(pk__in=by_term["refused"]["trace_ids"])
    assert {t.sentiment for t in traces} == {Sentiment.NEGATIVE}
    assert by_term["refused"]["trace_count"] == len(traces) == by_term["refused"]["count"]
    assert len(by_term["refused"]["representatives"]) == 3
    # Another project's scope sees none of it.
    assert themes.compute(scope_of([project.pk + 1]), 30)["comments"] == 0


def test_the_dashboard_shows_the_themes_and_the_queue_filters_by_one(admin_client, project):
    rows = planted(seed=2)
    seed(project, rows)
    # Celery runs eagerly in the tests: the first view queues the task, which runs at once.
    text = page(admin_client.get(f"{ADMIN}/trace/dashboard/"))
    assert "Themes in negative comments" in text
    result = themes.cached("all", 30)
    assert result is not None and len(result["themes"]) == 3
    refused = next(t for t in result["themes"] if "refused" in t["terms"])
    assert refused["label"] in text
    assert refused["representatives"][0] in text
    link = f"?theme={refused['id']}&amp;sentiment=all&amp;review=all"
    assert link in text
    response = admin_client.get(
        f"{ADMIN}/trace/", {"theme": refused["id"], "sentiment": "all", "review": "all"}
    )
    keys = {f"t{i}" for i, (name, _text) in enumerate(rows) if name == "refusal"}
    assert set(listed(response)) == keys
    assert refused["label"] in page(response)  # the filter's choice, selected
    # A theme no longer kept shows no trace (not every trace).
    gone = admin_client.get(f"{ADMIN}/trace/", {"theme": "0123456789-0", "review": "all"})
    assert listed(gone) == []
    assert "a theme no longer kept" in page(gone)


def test_the_dashboard_says_computing_until_the_task_ran(admin_client, project, monkeypatch):
    queued = []
    from feedback_loop.tasks import refresh_themes

    monkeypatch.setattr(refresh_themes, "apply_async", lambda *a, **kw: queued.append(a))
    seed(project, planted(seed=3))
    text = page(admin_client.get(f"{ADMIN}/trace/dashboard/", {"days": "7"}))
    assert "Computing the themes" in text
    page(admin_client.get(f"{ADMIN}/trace/dashboard/", {"days": "7"}))
    assert queued == [(("all", 7),)]  # once, not on every view
    # The periodic task refreshes what was asked for, and all projects over 30 days.
    assert set(themes.wanted()) == {("all", 30), ("all", 7)}
    assert refresh_themes.run() == {"all:30": 3, "all:7": 3}
    text = page(admin_client.get(f"{ADMIN}/trace/dashboard/", {"days": "7"}))
    assert "Computing the themes" not in text and "60 comments as of" in text


def test_the_dashboard_explains_how_to_install_scikit_learn(admin_client, project, monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # as if not installed
    assert not themes.available()
    text = page(admin_client.get(f"{ADMIN}/trace/dashboard/"))
    assert "Finding themes needs scikit-learn" in text
    assert "pip install &quot;django-feedback-loop[themes]&quot;" in text
    from feedback_loop.tasks import refresh_themes

    assert refresh_themes.run() == {}
