"""The incremental pipeline (internal/increments.py) against the recompute path
(feedback_loop_rebuild_rollups): on randomised histories, delivered in random batches, some
twice, some again later, with the users' clocks out of order, both leave the same rollups,
current votes, suggestions, reviews and pairs, and those agree with the history counted here
by hand. And a batch reads its own events, not the trace's history."""

import random
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from django.db.models.signals import post_init
from django.test import override_settings
from django.utils import timezone

from feedback_loop.internal.pipeline import process_events, process_traces
from feedback_loop.internal.rollup import ROLLUP_FIELDS
from feedback_loop.models import CurrentVote, FeedbackEvent, PreferencePair, Review, Trace

pytestmark = pytest.mark.django_db

T0 = timezone.now() - timedelta(days=1)
TRACES = ["a", "b", "c", "d"]
VOTERS = ["u:ann", "u:bob", "s:s1", "cu:carl", "cs:s2"]
OUTPUT = "The capital of Australia is Sydney, a city of five million people."
EDITS = [
    "The capital of Australia is Canberra.",
    "- The capital of Australia is Sydney\n- a city of five million people.",
    "Canberra.",
]


def history(seed: int) -> list[dict]:
    """Events as the widget and the host send them, in the order they arrive."""
    rng = random.Random(seed)
    events = []
    for _ in range(rng.randint(40, 120)):
        kind = rng.choice(
            ["thumbs"] * 4 + ["rating"] * 3 + ["comment", "edit", "copy", "regenerate", "abandon"]
        )
        event = {
            "trace_key": rng.choice(TRACES),
            "kind": kind,
            "voter": rng.choice(VOTERS),
            # the user's clock: anywhere in the hour, whatever the order of arrival
            "timestamp": T0 + timedelta(seconds=rng.randint(0, 3600)),
            "session_id": rng.choice(["s1", "s2"]),
        }
        if kind == "thumbs":
            event["value"] = rng.choice([1, 1, -1, -1, 0])
            if event["value"] < 0 and rng.random() < 0.5:
                event["reasons"] = [rng.choice(["hallucination", "format", "too_long"])]
        elif kind == "rating":
            event["value"] = rng.randint(1, 5)
        elif kind == "comment":
            event["comment"] = rng.choice(["wrong city", "fine", "way too long"])
        elif kind == "edit":
            event["text"] = rng.choice(EDITS)
        if rng.random() < 0.2:
            event["comment"] = "also a comment"
        events.append(event)
    return events


def deliver(project, events: list[dict], seed: int) -> None:
    """Store the events in random batches, each processed once, twice, or again later."""
    rng = random.Random(seed + 1000)
    sent: list[list[int]] = []
    start = 0
    while start < len(events):
        size = rng.randint(1, 15)
        batch = [
            FeedbackEvent.objects.create(project=project, event_id=uuid.uuid4(), **fields).pk
            for fields in events[start : start + size]
        ]
        start += size
        sent.append(batch)
        if rng.random() < 0.2:
            continue  # its message is late: delivered with a later one
        late = [pk for earlier in sent[:-1] for pk in earlier] if rng.random() < 0.3 else []
        process_events(batch + late)
        if rng.random() < 0.3:
            process_events(batch)  # delivered twice
    process_events(FeedbackEvent.objects.values_list("pk", flat=True))


def snapshot(project) -> dict:
    traces = Trace.objects.filter(project=project).order_by("key")
    return {
        "rollups": {t["key"]: t for t in traces.values("key", *ROLLUP_FIELDS)},
        "votes": set(
            CurrentVote.objects.values_list("trace__key", "kind", "voter", "value", "event_id")
        ),
        "suggested": {
            t.key: set(t.suggested_error_modes.values_list("slug", flat=True)) for t in traces
        },
        "reviews": set(Review.objects.values_list("trace__key", flat=True)),
        "pairs": set(PreferencePair.objects.values_list("dedupe_key", flat=True)),
    }


def counted_by_hand(events: list[dict]) -> dict[str, dict]:
    """Each trace's votes and counters straight from the history: a voter's latest vote of a
    kind (by the clock, then arrival) counts, every other event counts once."""
    latest: dict[tuple, tuple] = {}
    counts: dict[str, Counter] = {key: Counter() for key in TRACES}
    for arrival, event in enumerate(events):
        key = event["trace_key"]
        if event["kind"] in ("thumbs", "rating"):
            slot = (key, event["kind"], event["voter"])
            mark = (event["timestamp"], arrival, event["value"])
            latest[slot] = max(latest.get(slot, mark), mark)
        elif event["kind"] != "comment":
            counts[key][f"{event['kind']}_count"] += 1
        counts[key]["comment_count"] += bool(event.get("comment"))
    for (key, kind, _voter), (_when, _arrival, value) in latest.items():
        if kind == "thumbs" and value:
            counts[key]["thumbs_up" if value > 0 else "thumbs_down"] += 1
        elif kind == "rating":
            counts[key]["rating_count"] += 1
            counts[key]["rating_sum"] += value
    return counts


@pytest.mark.parametrize("seed", range(6))
def test_incremental_and_rebuilt_rollups_agree_on_a_random_history(project, seed):
    for key in TRACES[:3]:  # the fourth answer is never registered: made from its events
        Trace.objects.create(project=project, key=key, input="Capital of Australia?", output=OUTPUT)
    events = history(seed)
    with override_settings(
        FEEDBACK_LOOP={"PROCESS_CHUNK_TRACES": random.Random(seed).choice([1, 2, 200])}
    ):
        deliver(project, events, seed)
    incremental = snapshot(project)

    by_hand = counted_by_hand(events)
    for key, trace in incremental["rollups"].items():
        for field in ("thumbs_up", "thumbs_down", "rating_count", "rating_sum", "comment_count"):
            assert trace[field] == by_hand[key][field], (key, field)
        for kind in ("edit", "copy", "regenerate", "abandon"):
            assert trace[f"{kind}_count"] == by_hand[key][f"{kind}_count"], (key, kind)
    assert any(t["sentiment"] in ("negative", "mixed") for t in incremental["rollups"].values())
    assert incremental["votes"] and incremental["reviews"]

    # Damage everything the rebuild writes, so that it cannot pass by leaving things alone.
    Trace.objects.update(
        thumbs_up=0, thumbs_down=9, rating_count=0, rating_sum=0, ratings_high=0, ratings_low=3,
        comment_count=0, edit_count=0, copy_count=5, regenerate_count=0, abandon_count=0,
        sentiment="none", score=None, rating_avg=None, strength=0, last_signal_at=None,
    )  # fmt: skip
    CurrentVote.objects.all().delete()
    Trace.suggested_error_modes.through.objects.all().delete()
    process_traces(list(Trace.objects.values_list("project_id", "key")))

    assert snapshot(project) == incremental


def loaded_events():
    """Counts the feedback events Django builds from rows while it is active."""
    seen = Counter()

    def count(sender, **kwargs):
        seen["events"] += 1

    post_init.connect(count, sender=FeedbackEvent, weak=False)
    return seen, lambda: post_init.disconnect(count, sender=FeedbackEvent)


def test_a_batch_reads_its_own_events_not_the_trace_history(project):
    Trace.objects.create(project=project, key="busy", input="Q?", output=OUTPUT)
    for n in range(300):  # a long, negative history (triage runs on it)
        FeedbackEvent.objects.create(
            project=project, event_id=uuid.uuid4(), trace_key="busy", kind="thumbs",
            value=-1 if n % 3 else 1, voter=f"u:{n}", timestamp=T0 + timedelta(seconds=n),
        )  # fmt: skip
    process_events(FeedbackEvent.objects.values_list("pk", flat=True))
    new = FeedbackEvent.objects.create(
        project=project, event_id=uuid.uuid4(), trace_key="busy", kind="thumbs", value=1,
        voter="u:1", timestamp=T0 + timedelta(hours=2),
    )  # fmt: skip

    seen, stop = loaded_events()
    try:
        with override_settings(FEEDBACK_LOOP={"TRIAGE_EVENTS": 20}):
            process_events([new.pk])
    finally:
        stop()

    # The new event, and the newest 20 for triage: not the 300 before them.
    assert seen["events"] <= 1 + 20
    trace = Trace.objects.get(key="busy")
    assert (trace.thumbs_up, trace.thumbs_down) == (101, 199)  # u:1 changed their mind
    assert trace.sentiment == "mixed" and Review.objects.filter(trace=trace).exists()
