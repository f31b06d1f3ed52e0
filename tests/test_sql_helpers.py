"""The pipeline's fast paths to the database (internal/sql.py) behave as the ORM calls they
replace: ``loaded`` as ``only()``, ``AnyOf`` as ``__in``, ``insert_rows`` as ``bulk_create``
ignoring conflicts or updating them. Run on SQLite (the ORM fallbacks) and PostgreSQL (the
arrays)."""

from datetime import timedelta

import pytest
from django.db import DEFAULT_DB_ALIAS, connection
from django.db.models import F
from django.db.models.signals import post_init
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from feedback_loop.internal.sql import AnyOf, insert_rows, loaded
from feedback_loop.models import CurrentVote, FeedbackEvent, Review, ReviewStatus, Trace
from tests.factories import FeedbackEventFactory, TraceFactory

pytestmark = pytest.mark.django_db


def test_loaded_gives_what_only_gives_and_loads_the_rest_on_access(project):
    events = FeedbackEventFactory.create_batch(
        3, project=project, trace_key="t1", comment="Wrong city."
    )
    made = []

    def count(sender, instance, **kwargs):
        made.append(instance)

    post_init.connect(count, sender=FeedbackEvent)
    try:
        rows = list(loaded(FeedbackEvent.objects.order_by("pk"), ("id", "trace_key", "kind")))
    finally:
        post_init.disconnect(count, sender=FeedbackEvent)
    assert rows == sorted(events, key=lambda e: e.pk)
    assert made == rows  # post_init once per row, as Model.__init__ sends it
    first = rows[0]
    assert (first.trace_key, first.kind) == ("t1", events[0].kind)
    with CaptureQueriesContext(connection) as queries:
        assert first.comment == "Wrong city."  # a field not read loads on access
    assert len(queries) == 1
    first.comment = "Wrong country."
    first.save(update_fields=["comment"])  # an UPDATE of the row, not a second row
    assert FeedbackEvent.objects.count() == 3
    assert FeedbackEvent.objects.get(pk=first.pk).comment == "Wrong country."


def test_any_of_matches_what_in_matches(project):
    events = FeedbackEventFactory.create_batch(5, project=project, trace_key="t1")
    wanted = [events[0].pk, events[3].pk, 10**12]  # and an id no row has
    found = FeedbackEvent.objects.filter(AnyOf(F("pk"), wanted)).order_by("pk")
    assert list(found) == [events[0], events[3]]
    assert not FeedbackEvent.objects.filter(AnyOf(F("pk"), [])).exists()
    by_key = FeedbackEvent.objects.filter(AnyOf(F("trace_key"), {"t1", "t2"}))
    assert by_key.count() == 5


def test_any_of_sends_one_array_on_postgresql_and_a_list_elsewhere(project, on_postgres):
    events = FeedbackEventFactory.create_batch(2, project=project)
    ids = [e.pk for e in events] + list(range(10**12, 10**12 + 498))  # 500 ids, 2 of rows
    with CaptureQueriesContext(connection) as queries:
        assert len(FeedbackEvent.objects.filter(AnyOf(F("pk"), ids))) == 2
    (query,) = queries
    if on_postgres:
        assert "= ANY(" in query["sql"] and " IN (" not in query["sql"]
    else:
        assert " IN (" in query["sql"]


def test_insert_rows_ignores_conflicts_and_takes_the_first_objects_defaults(project):
    traces = TraceFactory.create_batch(3, project=project)
    Review.objects.create(trace=traces[0], status=ReviewStatus.REVIEWED, notes="Seen.")
    insert_rows(Review, [Review(trace=t) for t in traces], vary=("trace",), using=DEFAULT_DB_ALIAS)
    reviews = {r.trace_id: r for r in Review.objects.all()}
    assert set(reviews) == {t.pk for t in traces}
    kept = reviews[traces[0].pk]
    assert (kept.status, kept.notes) == (ReviewStatus.REVIEWED, "Seen.")  # not overwritten
    for trace in traces[1:]:
        review = reviews[trace.pk]
        assert (review.status, review.notes, review.reviewer_id) == (ReviewStatus.PENDING, "", None)
        assert review.created_at is not None and review.updated_at is not None


def test_insert_rows_updates_the_conflicting_rows_when_asked(project):
    trace = TraceFactory(project=project)
    other = Trace.objects.create(project=project, key="other")
    when = timezone.now() - timedelta(hours=1)
    CurrentVote.objects.create(
        trace=trace, kind="thumbs", voter="u:ann", value=1, timestamp=when, event_id=1
    )
    votes = [
        CurrentVote(
            trace=trace, kind="thumbs", voter="u:ann", value=-1, timestamp=when, event_id=2
        ),
        CurrentVote(trace=other, kind="rating", voter="u:bob", value=4, timestamp=when, event_id=3),
    ]
    insert_rows(
        CurrentVote,
        votes,
        vary=("trace", "kind", "voter", "value", "timestamp", "event_id"),
        using=DEFAULT_DB_ALIAS,
        unique_fields=("trace", "kind", "voter"),
        update_fields=("value", "timestamp", "event_id"),
    )
    stored = {(v.trace_id, v.voter): (v.value, v.event_id) for v in CurrentVote.objects.all()}
    assert stored == {(trace.pk, "u:ann"): (-1, 2), (other.pk, "u:bob"): (4, 3)}


def test_loaded_gives_the_times_the_orm_gives_to_the_microsecond(project):
    """On PostgreSQL the times travel as microseconds since the epoch; they must come back as
    the same aware datetimes the ORM reads, None as None."""
    base = timezone.now().replace(microsecond=0)
    stamps = [
        base,
        base + timedelta(microseconds=1),
        base - timedelta(days=9000, microseconds=999999),
    ]
    for stamp in stamps:
        FeedbackEventFactory(project=project, timestamp=stamp)
    fields = ("id", "timestamp", "created_at", "processed_at")
    rows = list(loaded(FeedbackEvent.objects.order_by("pk"), fields))
    orm = list(FeedbackEvent.objects.order_by("pk").only(*fields))
    assert [r.timestamp for r in rows] == stamps == [e.timestamp for e in orm]
    assert [r.created_at for r in rows] == [e.created_at for e in orm]
    assert [r.processed_at for r in rows] == [None, None, None]
    assert all(r.timestamp.utcoffset() == timedelta(0) for r in rows)
