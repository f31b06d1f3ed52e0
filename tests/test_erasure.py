"""Erasing an end user's data: every copy of what they wrote or were shown goes, in live and
frozen datasets, reviews, pairs, unregistered traces and cached figures; nobody else's does."""

import pickle
import uuid
from datetime import timedelta
from pprint import pformat

import pytest
from django.apps import apps
from django.core.cache import cache
from django.db import models
from django.db.models.functions import Cast
from django.utils import timezone

from feedback_loop import exports, record_trace, sign_trace
from feedback_loop.evaluation import evaluate
from feedback_loop.internal.datasets import add_traces, count_items, freeze
from feedback_loop.internal.erasure import Forgotten, forget_user
from feedback_loop.internal.pipeline import process_events
from feedback_loop.models import (
    Dataset,
    DatasetKind,
    DatasetVersion,
    DatasetVersionItem,
    FeedbackEvent,
    PreferencePair,
    Review,
    Trace,
)
from tests.conftest import make_event

pytestmark = pytest.mark.django_db

ADMIN = "/admin/feedback_loop"
T0 = timezone.now() - timedelta(hours=1)


class Strings(dict):
    """Distinctive strings of one end user, by what they are: ``alice.edit`` and so on."""

    def __init__(self, who: str):
        super().__init__()
        self.who = who

    def __getattr__(self, name: str) -> str:
        return self.setdefault(name, f"{self.who}-{name}-q7Zx")


# -- what the database and the cache hold ------------------------------------------------------


def stored_text():
    """(table.column, value) for every char, text and JSON column of every table of the app,
    JSON cast to text by the database."""
    text_fields = (models.CharField, models.TextField, models.JSONField)
    for model in apps.get_app_config("feedback_loop").get_models(include_auto_created=True):
        fields = [f for f in model._meta.concrete_fields if isinstance(f, text_fields)]
        if not fields:
            continue
        casts = {f"_text_{f.attname}": Cast(f.attname, models.TextField()) for f in fields}
        for row in model._base_manager.annotate(**casts).values_list(*casts):
            for field, value in zip(fields, row, strict=True):
                if value:
                    yield f"{model._meta.db_table}.{field.column}", value


def cached_text():
    """(key, repr of the value) of every entry of the default cache."""
    backend = cache._cache if hasattr(cache, "_cache") else None
    if isinstance(backend, dict):  # LocMemCache: pickled values by key
        for key, value in list(backend.items()):
            yield key, repr(pickle.loads(value))
        return
    client = backend.get_client(None)  # RedisCache
    for key in client.scan_iter("*"):
        raw = client.get(key)
        yield str(key), repr(backend._serializer.loads(raw)) if raw is not None else ""


def found(strings) -> dict[str, set[str]]:
    """Where each of these strings is stored, in the database or the cache."""
    where: dict[str, set[str]] = {s: set() for s in strings}
    places = [*stored_text(), *(("cache " + key, value) for key, value in cached_text())]
    for place, value in places:
        for s in strings:
            if s in value or s in place:
                where[s].add(place)
    return where


# -- the world: two end users through every path -----------------------------------------------


def capture(project, post_events, user, trace_id, minutes, **fields):
    """One event through the capture endpoint, with a token bound to ``user``."""
    token = sign_trace(trace_id, project=project, user_id=user.user)
    stamp = (T0 + timedelta(minutes=minutes)).isoformat()
    event = make_event(
        project, trace_id=trace_id, token=token, timestamp=stamp, user_id=user.user, **fields
    )
    if event["kind"] not in ("thumbs", "rating"):
        event.pop("value")
    response = post_events(project, [event])
    assert response.status_code == 200, response.content
    assert response.json()["results"][0]["status"] == "accepted", response.content


def save_review_from_the_trace_page(admin_client, trace: Trace) -> str:
    """Open the trace's admin page and save the review form as prefilled; returns what the
    form held as the expected output."""
    url = f"{ADMIN}/trace/{trace.pk}/change/"
    formset = admin_client.get(url).context["inline_admin_formsets"][0].formset
    form = formset.forms[0]
    prefix = formset.prefix
    data = {
        f"{prefix}-TOTAL_FORMS": "1",
        f"{prefix}-INITIAL_FORMS": str(formset.initial_form_count()),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1",
        f"{prefix}-0-trace": str(trace.pk),
        f"{prefix}-0-status": "reviewed",
        f"{prefix}-0-expected_output": form.initial["expected_output"],
        f"{prefix}-0-notes": "checked",
        "_save": "Save",
    }
    if form.instance.pk:
        data[f"{prefix}-0-id"] = str(form.instance.pk)
    assert admin_client.post(url, data).status_code == 302
    return form.initial["expected_output"]


@pytest.fixture
def world(project, post_events, admin_client, django_capture_on_commit_callbacks):
    """Alice and Bob on the same project, traces and datasets."""
    alice, bob = Strings("alice"), Strings("bob")
    # Their own conversations, registered by the host, with the turns before each answer.
    for n in (1, 2):
        record_trace(
            project,
            getattr(alice, f"trace{n}"),
            input=alice.input,
            output=getattr(alice, f"output{n}"),
            model=alice.model,
            user_id=alice.user,
            session_id=alice.session,
            metadata={"topic": alice.trace_meta},
            messages=[
                {"role": "system", "content": "You are a careful assistant."},
                {"role": "user", "content": alice.first_turn},
                {"role": "assistant", "content": alice.first_answer},
                {"role": "user", "content": [{"type": "text", "text": alice.input}]},
            ],
        )
    record_trace(project, "shared", input=bob.input, output=bob.output, user_id=bob.user, model="m")
    record_trace(
        project, "bob-own", input=bob.input2, output=bob.output2, user_id=bob.user, model="m"
    )
    with django_capture_on_commit_callbacks(execute=True):
        # Alice likes one answer of her conversation and not the other (a session pair),
        # and corrects the first (an edit pair).
        capture(project, post_events, alice, alice.trace1, 0, session_id=alice.session)
        capture(project, post_events, alice, alice.trace2, 1, value=-1, session_id=alice.session)
        capture(project, post_events, alice, alice.trace1, 2, kind="edit", text=alice.own_edit)
        # Bob's conversation: Bob's edit and comment, then Alice's vote, copy and edit.
        capture(project, post_events, bob, "shared", 3, kind="edit", text=bob.edit)
        capture(project, post_events, bob, "shared", 4, value=-1, comment=bob.comment)
        capture(
            project,
            post_events,
            alice,
            "shared",
            5,
            value=-1,
            comment=alice.comment,
            metadata={"page": alice.event_meta},
            session_id=alice.session,
        )
        capture(project, post_events, alice, "shared", 6, kind="copy", text=alice.copied)
        capture(project, post_events, alice, "shared", 7, kind="edit", text=alice.edit)
        # Answers the host never registered: the pipeline makes traces of what the widget
        # says it showed, Alice first.
        capture(project, post_events, alice, "unreg-1", 8, value=-1, output=alice.shown1)
        capture(project, post_events, bob, "unreg-1", 9, value=-1, output=bob.shown1)
        capture(
            project, post_events, bob, "unreg-1", 10, kind="edit", text=bob.edit1, output=bob.shown1
        )
        capture(project, post_events, alice, "unreg-2", 11, value=-1, output=alice.shown2)
        capture(project, post_events, bob, "unreg-2", 12, value=1)
        capture(project, post_events, bob, "bob-own", 13, kind="edit", text=bob.edit2)
    assert Trace.objects.get(key="unreg-1").output == alice.shown1

    shared = Trace.objects.get(key="shared")
    assert save_review_from_the_trace_page(admin_client, shared) == alice.edit
    # A reviewer's answer in review mode keeps its own copy (a Verdict).
    answer = {"review": shared.review.pk, "status": "reviewed", "notes": "checked"}
    answer["expected_output"] = alice.edit
    assert admin_client.post(f"{ADMIN}/trace/review/", answer).status_code == 302
    assert shared.review.verdicts.get().expected_output == alice.edit

    every_trace = Trace.objects.values_list("pk", flat=True)
    datasets = {}
    for kind in DatasetKind.values:
        datasets[kind] = Dataset.objects.create(project=project, name=kind, kind=kind)
        add_traces(datasets[kind], every_trace)
        freeze(datasets[kind], note="v1")
    # An experiment on the regression set whose answers repeat what the users wrote.
    regression = datasets["regression"]
    echo = evaluate(regression, _echo, scorers=["exact"], version=regression.versions.get())
    assert echo.results.filter(output__contains=alice.edit).exists()
    assert datasets["regression"].items.filter(expected_output=alice.edit).exists()
    assert datasets["golden"].items.filter(expected_output=alice.shown2).exists()
    assert datasets["preference"].items.filter(rejected=alice.shown1).exists()
    assert admin_client.get(f"{ADMIN}/trace/dashboard/").status_code == 200
    assert admin_client.get(f"{ADMIN}/trace/").status_code == 200
    return alice, bob


def _echo(item) -> str:
    return f"{item.input} {item.expected_output}"


def test_erasing_a_user_leaves_none_of_their_text_anywhere(world, client, secret):
    alice, bob = world
    before = found([*alice.values(), *bob.values()])
    assert all(before.values()), [s for s, where in before.items() if not where]
    assert any(place.startswith("cache") for place in before[alice.model])

    url = f"/feedback/api/v1/users/{alice.user}"
    headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    preview = client.get(url, **headers).json()
    done = client.delete(url, **headers)
    assert done.status_code == 200
    assert done.json() == {**preview, "deleted": True}

    left = {s: sorted(where) for s, where in found(alice.values()).items() if where}
    assert not left, pformat(left)
    survived = found(bob.values())
    assert all(survived.values()), [s for s, where in survived.items() if not where]
    # Bob's copies on the same traces and in the same datasets, live and frozen, are kept.
    for text in (bob.edit, bob.edit1, bob.edit2):
        assert "feedback_loop_datasetitem.expected_output" in survived[text] or (
            "feedback_loop_datasetitem.chosen" in survived[text]
        )
        assert {
            "feedback_loop_datasetversionitem.expected_output",
            "feedback_loop_datasetversionitem.chosen",
        } & survived[text]
    assert "feedback_loop_trace.output" in survived[bob.shown1]
    assert "feedback_loop_preferencepair.rejected" in survived[bob.shown1]
    review = Review.objects.get(trace__key="shared")
    assert (review.status, review.expected_output, review.notes) == ("reviewed", "", "checked")
    for version in DatasetVersion.objects.all():
        assert version.erased_items > 0
        assert version.items.count() == version.item_count - version.erased_items
    assert Trace.objects.get(key="unreg-1").output == bob.shown1
    assert Trace.objects.get(key="unreg-2").output == ""


def test_the_preview_counts_what_the_erasure_removes_and_changes_nothing(world, client, secret):
    alice, _bob = world
    url = f"/feedback/api/v1/users/{alice.user}"
    headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    stored, cached = sorted(stored_text()), sorted(cached_text())
    preview = client.get(url, **headers).json()
    assert (sorted(stored_text()), sorted(cached_text())) == (stored, cached)
    assert preview == {
        "user_id": alice.user,
        "deleted": False,
        "events": 8,
        "traces": 2,  # her conversation
        "pairs": 4,  # session and edit pair of it, her edit of Bob's, Bob's edit of her answer
        "dataset_items": 11,
        "version_items": 11,
        "reviews_cleared": 2,  # the review of "shared" and its reviewer's verdict
        "traces_cleared": 2,  # unreg-1 and unreg-2
        # Items of unreg-1 and unreg-2 kept for Bob's texts, live and frozen, whose model's
        # answer was what Alice's widget showed.
        "answers_cleared": 6,
        "traces_updated": 3,
    }
    assert client.delete(url, **headers).json() == {**preview, "deleted": True}
    assert client.get(url, **headers).json() == {
        **preview,
        **dict.fromkeys(Forgotten().as_dict(), 0),
    }


def test_frozen_versions_keep_their_item_count_and_show_the_erased_items(
    world, project, admin_client, client, secret
):
    alice, _bob = world
    forget_user(project, alice.user)
    version = DatasetVersion.objects.get(dataset__name="golden")
    assert (version.item_count, version.erased_items, version.items.count()) == (6, 4, 2)

    page = admin_client.get(f"{ADMIN}/dataset/{version.dataset_id}/change/").content.decode()
    assert "Items erased" in page
    page = admin_client.get(f"{ADMIN}/datasetversion/{version.pk}/change/").content.decode()
    assert "Items erased" in page and ">4<" in page
    listing = admin_client.get(f"{ADMIN}/datasetversion/").content.decode()
    assert "Items erased" in listing

    headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    detail = client.get(f"/feedback/api/v1/datasets/{version.dataset_id}", **headers).json()
    assert detail["versions"] == [
        {
            "number": 1,
            "note": "v1",
            "item_count": 6,
            "erased_items": 4,
            "created_at": detail["versions"][0]["created_at"],
        }
    ]
    assert count_items(version.dataset, version) == 2
    assert len("".join(exports.stream(version.dataset, "jsonl", version)).splitlines()) == 2


# -- the rules, one at a time ------------------------------------------------------------------


def add(project, trace_id, user_id="", minutes=0, kind="thumbs", **fields):
    return FeedbackEvent.objects.create(
        project=project,
        event_id=uuid.uuid4(),
        trace_key=trace_id,
        kind=kind,
        user_id=user_id,
        timestamp=T0 + timedelta(minutes=minutes),
        **fields,
    )


def run(project):
    process_events(project.events.values_list("pk", flat=True))


def frozen_texts(dataset) -> list[str]:
    return sorted(
        DatasetVersionItem.objects.filter(version__dataset=dataset).values_list(
            "expected_output", flat=True
        )
    )


def test_a_one_word_edit_takes_only_its_own_copies(project):
    for name in ("t1", "t2", "t3"):
        record_trace(project, name, input=f"Is {name} right?", output=f"Perhaps {name} is.")
    add(project, "t1", "alice", kind="edit", text="Yes")
    add(project, "t2", "bob", kind="edit", text="Yes")
    add(project, "t3", "alice", kind="edit", text="Yes")
    add(project, "t3", "carol", kind="edit", text="Yes", minutes=1)
    run(project)
    dataset = Dataset.objects.create(project=project, name="R")
    add_traces(dataset, Trace.objects.values_list("pk", flat=True))
    version = freeze(dataset)
    assert frozen_texts(dataset) == ["Yes", "Yes", "Yes"]

    report = forget_user(project, "alice")

    # Bob's "Yes" on t2 is his; on t3, Carol wrote "Yes" too, so that copy is hers as well.
    left = dataset.items.values_list("trace__key", "expected_output")
    assert sorted(left) == [("t2", "Yes"), ("t3", "Yes")]
    assert frozen_texts(dataset) == ["Yes", "Yes"]
    version.refresh_from_db()
    assert (version.item_count, version.erased_items) == (3, 1)
    assert (report.dataset_items, report.version_items) == (1, 1)
    assert sorted(PreferencePair.objects.values_list("trace__key", "user_id")) == [
        ("t2", "bob"),
        ("t3", "carol"),
    ]


def test_a_review_loses_only_an_expected_output_that_was_their_edit(project):
    for name in ("edited", "written"):
        record_trace(project, name, input="Q", output=f"The {name} answer.")
        add(project, name, "alice", kind="edit", text="Alice's answer.")
        add(project, name, "alice", value=-1)
    run(project)
    Review.objects.filter(trace__key="edited").update(
        status="reviewed", expected_output="Alice's answer.", notes="from the edit"
    )
    Review.objects.filter(trace__key="written").update(
        status="reviewed", expected_output="The curator's answer.", notes="typed"
    )

    assert forget_user(project, "alice").reviews_cleared == 1

    reviews = Review.objects.order_by("trace__key")
    assert list(reviews.values_list("trace__key", "status", "expected_output", "notes")) == [
        ("edited", "reviewed", "", "from the edit"),
        ("written", "reviewed", "The curator's answer.", "typed"),
    ]


def test_an_unregistered_trace_is_made_again_from_the_events_left_on_it(project):
    add(project, "alice-first", "alice", output="What Alice saw.", session_id="sa")
    add(project, "alice-first", "bob", 1, value=1, output="What Bob saw.", session_id="sb")
    add(project, "bob-first", "bob", output="What Bob saw first.", session_id="sb")
    add(project, "bob-first", "alice", minutes=1, output="What Alice saw later.")
    add(project, "alice-only", "alice", output="Only Alice saw this.")
    add(project, "alice-only-no-output", "alice")
    run(project)
    assert Trace.objects.get(key="alice-first").user_id == "alice"

    report = forget_user(project, "alice")

    traces = Trace.objects.order_by("key")
    assert list(traces.values_list("key", "output", "session_id", "user_id")) == [
        ("alice-first", "What Bob saw.", "sb", "bob"),
        ("bob-first", "What Bob saw first.", "sb", "bob"),
    ]
    assert (report.traces, report.traces_cleared, report.traces_updated) == (2, 1, 2)
    assert Trace.objects.get(key="alice-first").thumbs_up == 1


def test_a_session_pair_made_with_their_vote_goes(project):
    record_trace(project, "good", input="Q", output="A good answer.")
    record_trace(project, "bad", input="Q", output="A bad answer.")
    add(project, "good", "", value=1, session_id="s1")  # an anonymous vote of the session
    add(project, "bad", "alice", value=-1, session_id="s1", minutes=1)
    run(project)
    assert PreferencePair.objects.get().user_id == ""

    assert forget_user(project, "alice").pairs == 1
    assert not PreferencePair.objects.exists()


def test_erasure_drops_the_cached_dashboards(project, admin_client):
    record_trace(project, "t", input="Q", output="A", model="alices-model", user_id="alice")
    add(project, "t", "alice", value=-1, minutes=50)
    run(project)
    assert "alices-model" in admin_client.get(f"{ADMIN}/trace/dashboard/").content.decode()
    admin_client.get(f"{ADMIN}/trace/dashboard/", {"project": project.pk, "days": 7})
    keys = [key for key, _value in cached_text() if "dashboard" in key]
    # The two windows' figures, and beside them what their sections keep (releases, themes,
    # agreement).
    sections = (":releases:", ":themes", ":agreement")
    figures = [key for key in keys if not any(section in key for section in sections)]
    assert len(figures) == 2, keys

    forget_user(project, "alice", dry_run=True)
    assert [key for key, _value in cached_text() if "dashboard" in key] == keys

    forget_user(project, "alice")
    assert not [key for key, value in cached_text() if "alices-model" in value]
    page = admin_client.get(f"{ADMIN}/trace/dashboard/").content.decode()
    assert "alices-model" not in page and "No traces with feedback in this window." in page


def test_their_own_conversation_goes_with_everything_on_it(project):
    record_trace(project, "mine", input="Alice asks.", output="To Alice.", user_id="alice")
    add(project, "mine", "alice", value=-1)
    add(project, "mine", "bob", value=1, comment="Bob saw Alice's answer.", output="To Alice.")
    run(project)
    # One more that the pipeline has not linked yet: it must not bring the trace back.
    add(project, "mine", "carol", value=1, output="To Alice.")
    Review.objects.filter(trace__key="mine").update(expected_output="x", notes="n")
    dataset = Dataset.objects.create(project=project, name="R", kind=DatasetKind.GOLDEN)
    add_traces(dataset, Trace.objects.values_list("pk", flat=True))
    version = freeze(dataset)

    report = forget_user(project, "alice")

    assert (report.events, report.traces, report.dataset_items, report.version_items) == (
        3,
        1,
        1,
        1,
    )
    assert not FeedbackEvent.objects.exists() and not Trace.objects.exists()
    assert not Review.objects.exists() and not dataset.items.exists()
    version.refresh_from_db()
    assert (version.item_count, version.erased_items, version.items.count()) == (1, 1, 0)


def test_erasure_in_small_batches_finds_the_same(world, project, monkeypatch):
    alice, _bob = world
    whole = forget_user(project, alice.user, dry_run=True)
    monkeypatch.setattr("feedback_loop.internal.erasure._BATCH", 1)
    assert forget_user(project, alice.user) == whole
    assert not any(found(alice.values()).values())
