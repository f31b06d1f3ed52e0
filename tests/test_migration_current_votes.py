"""Migration 0019 on a site with history: the current votes and rating tallies are filled in
from the stored events, so the incremental pipeline then counts a changed vote as a change,
not as one more vote."""

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from feedback_loop.internal.pipeline import process_events
from feedback_loop.models import CurrentVote, FeedbackEvent, Trace

BEFORE = [("feedback_loop", "0018_full_text_search")]
AFTER = [("feedback_loop", "0019_incremental_rollups")]
T0 = timezone.now() - timedelta(hours=1)


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_the_migration_fills_current_votes_from_the_stored_events():
    old = migrate(BEFORE)
    try:
        Project = old.get_model("feedback_loop", "Project")
        OldTrace = old.get_model("feedback_loop", "Trace")
        OldEvent = old.get_model("feedback_loop", "FeedbackEvent")
        project = Project.objects.create(name="Before", public_key="pk_before", secret_key_hash="x")
        # as the recomputing pipeline left it: ann's latest thumbs up, bob's and cid's ratings
        OldTrace.objects.create(
            project=project, key="t", output="An answer.", thumbs_up=1, rating_count=2
        )
        history = [  # (voter, kind, value, seconds): ann changed her mind, by her clock
            ("u:ann", "thumbs", 1, 30),
            ("u:ann", "thumbs", -1, 10),
            ("u:bob", "rating", 4, 0),
            ("u:bob", "rating", 2, 20),
            ("u:cid", "rating", 5, 5),
        ]
        for voter, kind, value, seconds in history:
            OldEvent.objects.create(
                project=project, event_id=uuid.uuid4(), trace_key="t", kind=kind, value=value,
                voter=voter, timestamp=T0 + timedelta(seconds=seconds),
                processed_at=timezone.now(),
            )  # fmt: skip
    finally:
        migrate(AFTER)
        latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
        migrate(latest)

    votes = set(CurrentVote.objects.values_list("voter", "kind", "value"))
    assert votes == {("u:ann", "thumbs", 1), ("u:bob", "rating", 2), ("u:cid", "rating", 5)}
    trace = Trace.objects.get(key="t")
    assert (trace.rating_sum, trace.ratings_high, trace.ratings_low) == (7, 1, 1)

    # Ann changes her mind again: the trace moves by her change, not by a new voter.
    event = FeedbackEvent.objects.create(
        project_id=trace.project_id, event_id=uuid.uuid4(), trace_key="t", kind="thumbs",
        value=-1, voter="u:ann", timestamp=T0 + timedelta(minutes=5),
    )  # fmt: skip
    process_events([event.pk])
    trace.refresh_from_db()
    assert (trace.thumbs_up, trace.thumbs_down, trace.rating_count) == (0, 1, 2)
