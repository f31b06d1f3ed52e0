"""The pipeline's cost per event on one trace that keeps receiving events (an answer shared
widely): ``--hot-events`` events (100,000) arrive on a single trace in batches of
PROCESS_BATCH_SIZE, each processed in this process as a worker would, and the bench compares
the last batches' processing time with the first ones'. Incremental rollups keep it flat (target:
within 1.5x); recomputing from every stored event made the 20,000th event cost 40 times the
first. Used by bench/pipeline.py, which gives the row."""

from __future__ import annotations

import random
import time
from datetime import timedelta
from statistics import median

from bench.capture import event_row, say

SAMPLE = 5  # batches at each end whose median is compared


def hot_trace(project, events: int) -> dict:
    from django.utils import timezone

    from feedback_loop.conf import app_settings
    from feedback_loop.internal.capture import insert_events
    from feedback_loop.internal.pipeline import process_events
    from feedback_loop.models import Trace

    size = app_settings.PROCESS_BATCH_SIZE
    rng = random.Random(11)
    Trace.objects.create(
        project=project,
        key="hot",
        input="What is the capital of Australia?",
        output="The capital of Australia is Sydney.",
    )
    start = timezone.now() - timedelta(hours=2)
    seconds: list[float] = []
    say(f"one trace receiving {events:,} events in batches of {size}...")
    for first in range(0, events, size):
        rows = [_event(rng, n, start) for n in range(first, min(first + size, events))]
        pks = list(insert_events(project.pk, rows, timezone.now()).values())
        began = time.perf_counter()
        process_events(pks)
        seconds.append(time.perf_counter() - began)
    trace = Trace.objects.get(project=project, key="hot")
    first_ms = median(seconds[:SAMPLE]) * 1000
    last_ms = median(seconds[-SAMPLE:]) * 1000
    return {
        "row": f"one trace, {events:,} events in batches of {size}",
        "events": events,
        "batches": len(seconds),
        "first_batch_ms": round(first_ms, 1),
        "last_batch_ms": round(last_ms, 1),
        "last_vs_first": round(last_ms / first_ms, 2),
        "thumbs": [trace.thumbs_up, trace.thumbs_down],
        "ratings": trace.rating_count,
    }


def _event(rng: random.Random, n: int, start) -> dict:
    """Votes by 20,000 voters who change their minds, ratings, copies, comments, edits."""
    voter = f"u{rng.randrange(20_000)}"
    row = event_row("hot", voter, f"s-{voter}", start + timedelta(milliseconds=n))
    roll = rng.random()
    if roll < 0.5:
        row.update(kind="thumbs", value=rng.choice((1, -1)))
        if row["value"] < 0 and roll < 0.1:
            row["reasons"] = ["hallucination"]
    elif roll < 0.7:
        row.update(kind="rating", value=rng.randint(1, 5))
    elif roll < 0.85:
        row.update(kind="copy", metadata={"length": 20})
    elif roll < 0.95:
        row.update(kind="comment", comment="Canberra, surely?")
    else:
        row.update(kind="edit", text="The capital of Australia is Canberra.")
    return row
