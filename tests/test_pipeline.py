"""The processing pipeline, run in this process (Celery's eager mode or a direct call): what a
curator and a training job later see for given feedback."""

import json
import logging
import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from feedback_loop import handoff, record_trace
from feedback_loop.internal.datasets import apply_rule
from feedback_loop.internal.erasure import forget_user
from feedback_loop.internal.pipeline import process_events
from feedback_loop.internal.retention import apply_retention
from feedback_loop.models import (
    Dataset,
    DatasetItem,
    DatasetKind,
    ErrorMode,
    FeedbackEvent,
    PreferencePair,
    Review,
    Trace,
)
from feedback_loop.tasks import sweep
from tests.conftest import celery_broker, make_event

pytestmark = pytest.mark.django_db

T0 = timezone.now() - timedelta(hours=1)


def add(project, trace_id="t1", kind="thumbs", seconds=0, **fields):
    """Store one event as capture would, ``seconds`` after T0 by the user's clock."""
    return FeedbackEvent.objects.create(
        project=project,
        event_id=uuid.uuid4(),
        trace_key=trace_id,
        kind=kind,
        timestamp=T0 + timedelta(seconds=seconds),
        **fields,
    )


def run(project):
    return process_events(project.events.values_list("pk", flat=True))


def trace(project, trace_id="t1") -> Trace:
    return Trace.objects.get(project=project, key=trace_id)


def suggested(t: Trace) -> set[str]:
    return set(t.suggested_error_modes.values_list("slug", flat=True))


# -- hand-off from capture ---------------------------------------------------------------------


def test_capture_hands_the_batch_to_the_pipeline_once_it_is_committed(
    project, post_events, django_capture_on_commit_callbacks
):
    events = [
        make_event(
            project,
            trace_id="a1",
            kind="thumbs",
            value=-1,
            reasons=["format"],
            output="The answer as shown",
            user_id="u1",
        ),
        make_event(project, trace_id="a1", kind="comment", comment="not a table", user_id="u1"),
    ]
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post_events(project, events)
    assert response.json()["accepted"] == 2
    assert len(callbacks) == 1  # one task for the batch, not one per event
    t = trace(project, "a1")
    assert not t.registered and t.output == "The answer as shown" and t.user_id == "u1"
    assert (t.sentiment, t.thumbs_down, t.comment_count) == ("negative", 1, 1)
    assert suggested(t) == {"format"}
    assert Review.objects.get(trace=t).status == "pending"
    stored = FeedbackEvent.objects.filter(project=project)
    assert all(e.processed_at for e in stored) and set(t.events) == set(stored)


def test_a_batch_of_only_duplicates_queues_nothing(
    project, post_events, django_capture_on_commit_callbacks
):
    event = make_event(project)
    with django_capture_on_commit_callbacks(execute=True) as first:
        post_events(project, [event])
    with django_capture_on_commit_callbacks(execute=True) as again:
        assert post_events(project, [event]).json()["duplicates"] == 1
    assert (len(first), len(again)) == (1, 0)


@override_settings(FEEDBACK_LOOP={"ENQUEUE_ON_CAPTURE": False})
def test_with_enqueueing_off_only_the_sweeper_processes(
    project, post_events, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        post_events(project, [make_event(project)])
    assert callbacks == []
    assert FeedbackEvent.objects.get().processed_at is None
    assert sweep.apply(kwargs={"older_than": 0}).get() == 1
    assert FeedbackEvent.objects.get().processed_at is not None


def test_a_broker_that_is_down_costs_capture_nothing_and_the_sweeper_catches_up(
    project, post_events, django_capture_on_commit_callbacks, caplog, monkeypatch
):
    monkeypatch.setattr(handoff, "_paused_until", 0.0)
    # A real connection attempt, to a port where nothing listens.
    with celery_broker("redis://127.0.0.1:9/0"), caplog.at_level(logging.WARNING):
        with django_capture_on_commit_callbacks(execute=True):
            response = post_events(project, [make_event(project, trace_id="x")])
        assert response.status_code == 200 and response.json()["accepted"] == 1
        assert handoff.flush()  # the publish happens in the background
        assert "Connection refused" in caplog.text
        assert "the sweeper will queue them" in caplog.text
        # Within the pause, capture does not even try the broker.
        assert handoff.send([1]) is False
    assert FeedbackEvent.objects.get().processed_at is None
    assert sweep.apply(kwargs={"older_than": 0}).get() == 1
    assert trace(project, "x").thumbs_up == 1


def test_the_sweeper_leaves_recent_events_to_their_own_task(project):
    add(project)
    assert sweep.apply().get() == 0  # younger than SWEEP_AFTER_SECONDS
    FeedbackEvent.objects.update(created_at=timezone.now() - timedelta(minutes=5))
    assert sweep.apply().get() == 1
    assert sweep.apply().get() == 0


# -- rollups -----------------------------------------------------------------------------------


def test_the_latest_vote_of_each_user_counts(project):
    add(project, value=1, user_id="u1", seconds=1)
    add(project, value=-1, user_id="u1", seconds=2)  # u1 changed their mind
    add(project, value=1, user_id="u2", seconds=3)
    add(project, value=1, session_id="s9", seconds=4)  # anonymous user, by session
    add(project, value=0, session_id="s9", seconds=5)  # ... who retracted
    add(project, value=-1, seconds=6)  # neither: counts on its own
    add(project, value=-1, seconds=7)
    run(project)
    t = trace(project)
    assert (t.thumbs_up, t.thumbs_down) == (1, 3)
    assert t.sentiment == "mixed"
    assert t.score == pytest.approx(-0.5)
    assert t.last_signal_at == T0 + timedelta(seconds=7)


def test_votes_are_ordered_by_the_users_clock_not_by_arrival(project):
    add(project, value=-1, user_id="u1", seconds=10)
    add(project, value=1, user_id="u1", seconds=5)  # arrived later, cast earlier
    run(project)
    assert trace(project).sentiment == "negative"


def test_ratings_counts_and_sentiment(project):
    add(project, kind="rating", value=5, user_id="a")
    add(project, kind="rating", value=4, user_id="b")
    add(project, kind="rating", value=2, user_id="b", seconds=1)
    add(project, kind="copy", metadata={"length": 10})
    add(project, kind="copy")
    add(project, kind="regenerate")
    add(project, kind="abandon")
    add(project, kind="comment", comment="hm")
    add(project, kind="edit", text="better")
    add(project, kind="custom", name="shared")
    run(project)
    t = trace(project)
    assert (t.rating_count, t.rating_avg) == (2, 3.5)
    assert t.score == pytest.approx((1 + -0.5) / 2)
    assert (t.copy_count, t.regenerate_count, t.abandon_count) == (2, 1, 1)
    assert (t.comment_count, t.edit_count) == (1, 1)
    assert t.sentiment == "mixed"  # votes decide: one good rating, one bad


@pytest.mark.parametrize(
    ("kinds", "expected"),
    [
        (["copy"], "positive"),
        (["edit"], "negative"),
        (["regenerate"], "negative"),
        (["abandon"], "negative"),
        (["copy", "edit"], "mixed"),
        (["custom"], "none"),
    ],
)
def test_without_votes_implicit_signals_decide(project, kinds, expected):
    for kind in kinds:
        add(project, kind=kind, text="x" if kind == "edit" else "", name="n")
    run(project)
    assert trace(project).sentiment == expected


def test_votes_outweigh_implicit_signals(project):
    add(project, kind="edit", text="changed")
    add(project, value=1, user_id="u")
    run(project)
    assert trace(project).sentiment == "positive"


def test_running_twice_or_after_new_events_gives_what_the_events_say(project):
    add(project, value=1, user_id="u1")
    run(project)
    run(project)
    assert trace(project).thumbs_up == 1
    add(project, value=1, user_id="u2")
    add(project, value=1, user_id="u2", seconds=1)
    run(project)
    run(project)
    assert trace(project).thumbs_up == 2


def test_a_registered_trace_keeps_its_content_and_gets_its_events_linked(project):
    record_trace(project, "r1", input="Q", output="A", model="m1")
    event = add(project, trace_id="r1", value=-1, output="something else")
    run(project)
    t = trace(project, "r1")
    assert (t.registered, t.output, t.model, t.thumbs_down) == (True, "A", "m1", 1)
    event.refresh_from_db()
    assert event.processed_at and list(t.events) == [event]


def test_events_are_processed_once_and_a_rerun_skips_them(project, django_assert_num_queries):
    pks = [add(project, value=1, user_id=f"u{i}").pk for i in range(3)]
    assert process_events(pks) == 3
    with django_assert_num_queries(1):
        assert process_events(pks) == 0


# -- triage ------------------------------------------------------------------------------------

LONG = (
    "Paris is the capital of France. It has been the capital for centuries, and it is "
    "also the largest city of the country, with about two million people in the city proper."
)


def test_triage_uses_the_reasons_of_current_negative_votes(project):
    add(project, value=-1, user_id="u1", reasons=["hallucination", "length"])
    add(project, value=-1, user_id="u2", reasons=["unknown-slug"], seconds=1)
    run(project)
    assert suggested(trace(project)) == {"hallucination", "length"}


def test_project_error_modes_are_suggested_too(project):
    ErrorMode.objects.create(project=project, slug="tone", name="Wrong tone")
    add(project, value=-1, reasons=["tone"])
    run(project)
    assert suggested(trace(project)) == {"tone"}


@pytest.mark.parametrize(
    "output",
    [
        "I'm sorry, but I can't help with that request.",
        "As an AI language model, I cannot provide medical advice.",
        "I can\u2019t assist with that.",
    ],
)
def test_a_refusal_is_recognised_in_the_output(project, output):
    record_trace(project, "t1", input="Q", output=output)
    add(project, value=-1)
    run(project)
    assert suggested(trace(project)) == {"refusal"}


def test_an_edit_that_cuts_most_of_the_answer_suggests_length(project):
    record_trace(project, "t1", input="Capital of France?", output=LONG)
    add(project, kind="edit", text="Paris.")
    run(project)
    assert suggested(trace(project)) == {"length"}


@pytest.mark.parametrize(
    ("output", "edited"),
    [
        (
            "First step, then the second step, then done",
            "- First step\n- then the second step\n- then done",
        ),
        ('{"name": "Ada", "born": 1815', '{"name": "Ada", "born": 1815}'),
        ("print('hi')", "```python\nprint('hi')\n```"),
        ("# Title\nSome text here", "Title\n\nSome text here"),
    ],
)
def test_an_edit_that_only_changes_structure_suggests_format(project, output, edited):
    record_trace(project, "t1", input="Q", output=output)
    add(project, kind="edit", text=edited)
    run(project)
    assert suggested(trace(project)) == {"format"}


def test_an_edit_that_rewrites_the_content_suggests_neither_format_nor_length(project):
    record_trace(project, "t1", input="Capital of France?", output=LONG)
    add(project, kind="edit", text=LONG.replace("two million", "2.1 million"))
    run(project)
    t = trace(project)
    assert t.sentiment == "negative" and suggested(t) == set()
    assert Review.objects.filter(trace=t).exists()


def test_suggestions_go_when_the_trace_turns_positive(project):
    add(project, value=-1, user_id="u", reasons=["format"])
    run(project)
    assert suggested(trace(project)) == {"format"}
    add(project, value=1, user_id="u", seconds=5)
    run(project)
    t = trace(project)
    assert t.sentiment == "positive" and suggested(t) == set()


def fixed_classifier(trace, events):
    return ["hallucination", "no-such-mode"] if len(events) > 1 else ["refusal"]


def broken_classifier(trace, events):
    raise RuntimeError("model endpoint down")


def test_a_custom_classifier_gets_the_trace_and_all_its_events(project):
    add(project, value=-1, user_id="u1")
    add(project, kind="comment", comment="bad")
    with override_settings(FEEDBACK_LOOP={"TRIAGE_CLASSIFIER": f"{__name__}.fixed_classifier"}):
        run(project)
    assert suggested(trace(project)) == {"hallucination"}


def test_a_failing_classifier_fails_the_trace_and_is_logged(project, caplog):
    # Tried again until it works or is a dead letter (tests/test_failures.py), rather than
    # rolled up without its suggestions for good.
    add(project, value=-1)
    with (
        override_settings(FEEDBACK_LOOP={"TRIAGE_CLASSIFIER": broken_classifier}),
        caplog.at_level(logging.ERROR, "feedback_loop.pipeline"),
    ):
        assert run(project) == 0
    assert "Processing trace t1 failed" in caplog.text and "model endpoint down" in caplog.text
    assert project.events.get().processed_at is None


def test_only_negative_and_mixed_traces_enter_the_review_queue(project):
    add(project, trace_id="good", value=1)
    add(project, trace_id="bad", value=-1)
    add(project, trace_id="both", value=1, user_id="a")
    add(project, trace_id="both", value=-1, user_id="b")
    run(project)
    run(project)
    queued = set(Review.objects.values_list("trace__key", flat=True))
    assert queued == {"bad", "both"}


# -- preference pairs --------------------------------------------------------------------------


def test_an_edit_makes_one_pair_of_the_users_version_over_the_models(project):
    record_trace(project, "t1", input="Capital of France?", output=LONG)
    add(project, kind="edit", text="Paris.", user_id="u1")
    add(project, kind="edit", text="  Paris. ", user_id="u2", seconds=1)  # same, by whitespace
    run(project)
    run(project)
    pair = PreferencePair.objects.get()
    assert (pair.source, pair.prompt, pair.chosen, pair.rejected) == (
        "edit",
        "Capital of France?",
        "Paris.",
        LONG,
    )
    assert pair.user_id == "u1" and pair.trace == trace(project)


def test_a_whitespace_only_edit_makes_no_pair(project):
    record_trace(project, "t1", input="Q", output="One  two\nthree")
    add(project, kind="edit", text="One two three\n")
    run(project)
    assert not PreferencePair.objects.exists()


def test_an_edit_of_an_unregistered_trace_uses_the_output_shown(project):
    add(project, kind="edit", text="new text", output="old text")
    run(project)
    pair = PreferencePair.objects.get()
    assert (pair.chosen, pair.rejected, pair.prompt) == ("new text", "old text", "")


def test_a_regenerate_then_thumbs_up_pairs_the_new_answer_over_the_old(project):
    record_trace(project, "old", input="Q", output="first try")
    add(project, trace_id="old", kind="regenerate")
    record_trace(project, "new", input="Q", output="second try", regenerated_from="old")
    add(project, trace_id="new", value=1)
    run(project)
    run(project)
    pair = PreferencePair.objects.get()
    assert (pair.source, pair.chosen, pair.rejected, pair.prompt) == (
        "regenerate",
        "second try",
        "first try",
        "Q",
    )
    assert pair.rejected_trace == trace(project, "old")


def test_a_regenerated_answer_that_was_copied_counts_as_accepted(project):
    record_trace(project, "old", input="Q", output="first try")
    record_trace(project, "new", input="Q", output="second try", regenerated_from="old")
    add(project, trace_id="new", kind="copy")
    run(project)
    assert PreferencePair.objects.get().chosen == "second try"


def test_a_regenerated_answer_nobody_liked_makes_no_pair(project):
    record_trace(project, "old", input="Q", output="first try")
    record_trace(project, "new", input="Q", output="second try", regenerated_from="old")
    add(project, trace_id="new", value=-1)
    run(project)
    assert not PreferencePair.objects.exists()


@pytest.mark.parametrize("old_first", [True, False])
def test_the_widgets_regenerate_metadata_links_answers_in_either_order(project, old_first):
    record_trace(project, "old", input="Q", output="first try")
    record_trace(project, "new", input="Q", output="second try")
    # One token-bound voter on both answers: the link is proven (see test_voters.py).
    regen = add(
        project, trace_id="old", kind="regenerate", metadata={"new_trace_id": "new"}, voter="u:1"
    )
    vote = add(project, trace_id="new", value=1, metadata={"regenerated_from": "old"}, voter="u:1")
    first, second = (regen, vote) if old_first else (vote, regen)
    process_events([first.pk])
    process_events([second.pk])
    assert trace(project, "new").regenerated_from == trace(project, "old")
    assert PreferencePair.objects.get().source == "regenerate"


def test_the_regenerate_link_alone_is_enough_when_processed_separately(project):
    record_trace(project, "old", input="Q", output="first try")
    record_trace(project, "new", input="Q", output="second try")
    vote = add(project, trace_id="new", value=1, voter="u:1")
    process_events([vote.pk])  # no link known yet
    assert not PreferencePair.objects.exists()
    regen = add(
        project, trace_id="old", kind="regenerate", metadata={"new_trace_id": "new"}, voter="u:1"
    )
    process_events([regen.pk])
    assert PreferencePair.objects.get().chosen == "second try"


def test_opposite_votes_on_two_answers_to_one_input_in_a_session_make_a_pair(project):
    record_trace(project, "a", input="Name a colour", output="Blue")
    record_trace(project, "b", input="Name a  colour", output="Seven")
    record_trace(project, "c", input="Something else", output="No")
    add(project, trace_id="a", value=1, session_id="s1")
    add(project, trace_id="b", value=-1, session_id="s1")
    add(project, trace_id="c", value=-1, session_id="s1")  # another input
    add(project, trace_id="b", value=-1, session_id="s2")  # another session
    run(project)
    run(project)
    pair = PreferencePair.objects.get()
    assert (pair.source, pair.chosen, pair.rejected, pair.session_id) == (
        "session",
        "Blue",
        "Seven",
        "s1",
    )


def test_session_votes_processed_in_separate_batches_still_pair_once(project):
    record_trace(project, "a", input="Q", output="good")
    record_trace(project, "b", input="Q", output="bad")
    up = add(project, trace_id="a", value=1, session_id="s1")
    process_events([up.pk])
    down = add(project, trace_id="b", value=-1, session_id="s1")
    process_events([down.pk])
    process_events([up.pk, down.pk])
    assert PreferencePair.objects.count() == 1


# -- dataset rules -----------------------------------------------------------------------------


def test_a_rule_adds_new_matching_traces_never_twice(project):
    dataset = Dataset.objects.create(
        project=project,
        name="Negatives",
        rule={"filters": {"sentiment": "negative", "model": "m1"}},
    )
    record_trace(project, "a", input="Q1", output="A1", model="m1")
    record_trace(project, "b", input="Q2", output="A2", model="m2")
    record_trace(project, "c", input="Q3", output="A3", model="m1")
    add(project, trace_id="a", value=-1)
    add(project, trace_id="b", value=-1)
    add(project, trace_id="c", value=1, user_id="u")
    add(project, trace_id="a", kind="edit", text="A1 fixed", seconds=1)
    run(project)
    assert apply_rule(dataset) == 1
    assert apply_rule(dataset) == 0
    item = DatasetItem.objects.get()
    assert (item.trace.key, item.input, item.expected_output) == ("a", "Q1", "A1 fixed")
    # c turns negative later and is added on the next run; a is not added again.
    add(project, trace_id="c", value=-1, user_id="u", seconds=10)
    run(project)
    assert apply_rule(dataset) == 1
    assert sorted(dataset.items.values_list("trace__key", flat=True)) == ["a", "c"]


def test_a_preference_rule_adds_the_pairs_of_matching_traces(project):
    dataset = Dataset.objects.create(
        project=project,
        name="DPO",
        kind=DatasetKind.PREFERENCE,
        rule={"filters": {"has_edit": True}},
    )
    record_trace(project, "t1", input="Q", output="long answer")
    add(project, kind="edit", text="short")
    run(project)
    assert apply_rule(dataset) == 1
    item = dataset.items.get()
    assert (item.input, item.chosen, item.rejected) == ("Q", "short", "long answer")
    assert item.pair == PreferencePair.objects.get()


def test_sampling_keeps_about_the_rate_and_the_same_traces_every_run(project):
    dataset = Dataset.objects.create(
        project=project, name="Sample", kind=DatasetKind.GOLDEN, rule={"sample_rate": 0.25}
    )
    Trace.objects.bulk_create(
        Trace(project=project, key=f"t{i}", input="q", output=f"a{i}") for i in range(400)
    )
    added = apply_rule(dataset)
    assert 60 <= added <= 140
    dataset.rule_checked_at = None  # look at every trace again
    assert apply_rule(dataset) == 0
    assert all(i.expected_output == i.trace.output for i in dataset.items.select_related("trace"))


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"filters": {"colour": "red"}}, "Unknown filters: colour"),
        ({"filters": {"sentiment": "grumpy"}}, "sentiment"),
        ({"sample_rate": 0}, "sample_rate must be"),
        ({"filters": [], "x": 1}, "Unknown rule keys: x"),
        ("negative", "A rule is an object"),
    ],
)
def test_a_bad_rule_is_refused_with_a_reason(project, rule, message):
    dataset = Dataset(project=project, name="D", rule=rule)
    with pytest.raises(ValidationError, match=message):
        dataset.full_clean()


# -- retention and forgetting a user -----------------------------------------------------------


def test_retention_deletes_old_traces_in_batches_but_keeps_dataset_and_recent_ones(project):
    project.retention_days = 30
    project.save()
    old = timezone.now() - timedelta(days=40)
    for name in ("old1", "old2", "old3", "kept-in-dataset", "recent-signal", "new"):
        record_trace(project, name, input="q", output="a")
    Trace.objects.exclude(key="new").update(created_at=old)
    for name in ("old1", "old2", "old3", "kept-in-dataset"):
        add(project, trace_id=name, value=-1)
    add(project, trace_id="recent-signal", value=1)
    run(project)
    FeedbackEvent.objects.exclude(trace_key="recent-signal").update(timestamp=old, created_at=old)
    for t in Trace.objects.exclude(key__in=["recent-signal", "new"]):
        t.last_signal_at = old
        t.save()
    dataset = Dataset.objects.create(project=project, name="Keep")
    DatasetItem.objects.create(dataset=dataset, trace=trace(project, "kept-in-dataset"))
    add(project, trace_id="never-processed", value=1).__class__.objects.filter(
        trace_key="never-processed"
    ).update(created_at=old)

    with override_settings(FEEDBACK_LOOP={"RETENTION_BATCH_SIZE": 2}):
        deleted = apply_retention(project)
    assert deleted == {"traces": 3, "events": 4}
    assert set(Trace.objects.values_list("key", flat=True)) == {
        "kept-in-dataset",
        "recent-signal",
        "new",
    }
    assert set(FeedbackEvent.objects.values_list("trace_key", flat=True)) == {
        "kept-in-dataset",
        "recent-signal",
    }


def test_without_retention_days_nothing_is_deleted(project):
    record_trace(project, "t", input="q", output="a")
    Trace.objects.update(created_at=timezone.now() - timedelta(days=4000))
    assert apply_retention(project) == {"traces": 0, "events": 0}


@pytest.fixture
def two_users(project):
    record_trace(project, "mine", input="my question", output="answer", user_id="alice")
    record_trace(project, "shared", input="q", output="long answer", user_id="bob")
    add(project, trace_id="mine", kind="edit", text="my fix", user_id="alice")
    add(project, trace_id="shared", value=-1, user_id="alice", comment="my private note")
    add(project, trace_id="shared", kind="edit", text="alice's version", user_id="alice")
    add(project, trace_id="shared", value=1, user_id="bob")
    run(project)
    dataset = Dataset.objects.create(project=project, name="DPO", kind=DatasetKind.PREFERENCE)
    from feedback_loop.internal.datasets import add_traces

    add_traces(dataset, Trace.objects.values_list("pk", flat=True))
    assert dataset.items.count() == 2
    return project


def test_forgetting_a_user_deletes_their_data_and_recomputes_the_rest(two_users):
    project = two_users
    before = trace(project, "shared")
    assert (before.thumbs_up, before.thumbs_down, before.comment_count) == (1, 1, 1)
    report = forget_user(project, "alice")
    assert report.as_dict() == {
        "events": 3,
        "traces": 1,
        "pairs": 2,
        "dataset_items": 2,
        "version_items": 0,
        "reviews_cleared": 0,
        "traces_cleared": 0,
        "answers_cleared": 0,
        "traces_updated": 1,
    }
    assert not FeedbackEvent.objects.filter(user_id="alice").exists()
    assert not Trace.objects.filter(key="mine").exists()
    assert not PreferencePair.objects.exists() and not DatasetItem.objects.exists()
    after = trace(project, "shared")
    assert (after.thumbs_up, after.thumbs_down, after.comment_count, after.edit_count) == (
        1,
        0,
        0,
        0,
    )
    assert after.sentiment == "positive"


def test_the_forget_command_has_a_dry_run(two_users, capsys):
    project = two_users
    call_command("feedback_loop_forget_user", "alice", "--project", project.public_key, "--dry-run")
    out = capsys.readouterr().out
    assert "Would delete 3 events, 1 traces, 2 preference pairs, 2 dataset items and 0 " in out
    assert FeedbackEvent.objects.filter(user_id="alice").count() == 3
    call_command("feedback_loop_forget_user", "alice", "--project", project.public_key)
    assert "Deleted 3 events" in capsys.readouterr().out
    assert not FeedbackEvent.objects.filter(user_id="alice").exists()


def test_the_forget_command_names_an_unknown_project(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No project has the public key 'pk_nope'"):
        call_command("feedback_loop_forget_user", "alice", "--project", "pk_nope")


def test_the_api_previews_and_deletes_a_users_data(two_users, client, secret):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    url = "/feedback/api/v1/users/alice"
    preview = client.get(url, **headers)
    assert preview.status_code == 200
    assert preview.json() == {
        "user_id": "alice",
        "deleted": False,
        "events": 3,
        "traces": 1,
        "pairs": 2,
        "dataset_items": 2,
        "version_items": 0,
        "reviews_cleared": 0,
        "traces_cleared": 0,
        "answers_cleared": 0,
        "traces_updated": 1,
    }
    done = client.delete(url, **headers)
    assert done.status_code == 200 and done.json()["deleted"] is True
    assert client.get(url, **headers).json()["events"] == 0
    public = client.delete(url, HTTP_AUTHORIZATION=f"Bearer {two_users.public_key}")
    assert public.status_code == 401
    assert json.loads(public.content)["error"]["message"].startswith("A public key cannot")


def test_the_traces_api_links_a_regeneration_and_the_pipeline_pairs_it(project, client, secret):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    traces = [
        {"trace_id": "old", "input": "Q", "output": "first try"},
        {"trace_id": "new", "input": "Q", "output": "second try", "regenerated_from": "old"},
    ]
    response = client.post(
        "/feedback/api/v1/traces", {"traces": traces}, content_type="application/json", **headers
    )
    assert response.status_code == 200
    detail = client.get("/feedback/api/v1/traces/new", **headers).json()
    assert detail["regenerated_from"] == "old"
    add(project, trace_id="new", value=1)
    run(project)
    assert PreferencePair.objects.get().rejected == "first try"


@pytest.mark.parametrize(
    ("trace", "message"),
    [
        ({"trace_id": "x", "regenerated_from": "x"}, "cannot be regenerated from itself: ['x']"),
        ({"trace_id": "x", "regenerated_from": "ghost"}, "does not have: ['ghost']"),
    ],
)
def test_the_traces_api_refuses_a_bad_regeneration_link(project, client, secret, trace, message):
    response = client.post(
        "/feedback/api/v1/traces",
        {"traces": [trace]},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    assert response.status_code == 409
    assert message in response.content.decode()
    assert not Trace.objects.exists()  # nothing of a refused batch is stored
