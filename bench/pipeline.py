"""Benchmark of the processing pipeline: how fast two Celery worker processes drain a backlog
of unprocessed events on PostgreSQL, next to a baseline measured in the same run.

Run from the repository root (PostgreSQL and Redis on loopback)::

    .venv/bin/python bench/pipeline.py [--events 100000] [--database-url URL] [--broker-url URL]

Steps: migrate the bench database, empty the feedback tables, store ``--events`` events on
``--events / 4`` registered traces (thumbs with changed votes, ratings, comments with reasons,
edits, copies, regenerates: every kind of work the pipeline does), start
``celery -A example_project worker --concurrency=2`` on the broker, then queue the backlog the
way the sweeper does after an outage (PROCESS_BATCH_SIZE events per task) and time until no
event is left unprocessed.

Rows:

* ``pipeline drain, 2 worker processes``: rollups, triage and the review queue, preference
  pairs, linking events to traces and marking them processed, with traces locked per chunk.
* ``baseline: executemany of the rollup, 1 process``: the writes any pipeline must make, and
  nothing else: one ``SELECT`` of the events, then ``executemany`` of an ``UPDATE`` setting
  the twelve rollup columns of every trace, and an ``UPDATE`` marking the events processed.
  No vote logic, no triage, no pairs, no locks.

The table and the raw numbers go to bench/results/pipeline-*.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.capture import (
    DEFAULT_DATABASE_URL,
    RESULTS,
    ROOT,
    _children,
    _cpu_seconds,
    ensure_database,
    event_row,
    say,
    server_version,
)
from bench.hot_trace import hot_trace

DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/15"
SETTINGS = "bench.settings"
OUTPUTS = [
    "The capital of France is Paris, a city of about two million people.",
    "I'm sorry, but I can't help with that request.",
    "Step one, mix the flour. Step two, add water. Step three, bake for an hour.",
    '{"name": "Ada Lovelace", "born": 1815',
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="backlog size (100000)")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--broker-url", default=DEFAULT_BROKER_URL)
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes (2)")
    parser.add_argument(
        "--hot-events", type=int, default=100_000, help="events on the one hot trace (100000)"
    )
    args = parser.parse_args()
    if args.events < 100:
        parser.error("--events must be at least 100")
    return args


def setup_django(database_url: str, broker_url: str):
    os.environ.update(
        DJANGO_SETTINGS_MODULE=SETTINGS, DATABASE_URL=database_url, CELERY_BROKER_URL=broker_url
    )
    import django

    django.setup()
    from django.core.management import call_command

    from feedback_loop.models import Project

    say("migrating the bench database...")
    call_command("migrate", interactive=False, verbosity=0)
    project = Project.objects.filter(name="pipeline bench").first()
    if project is None:
        project, _secret = Project.create("pipeline bench", require_token=False)
    return project


def empty_tables() -> None:
    from django.db import connection

    from feedback_loop import models

    tables = [
        m._meta.db_table
        for m in (
            models.DatasetItem,
            models.PreferencePair,
            models.Review,
            models.FeedbackEvent,
            models.CurrentVote,
            models.RegenerationClaim,
            models.ProcessingFailure,  # a failed run's traces would go one by one in the next
        )
    ]
    tables += [
        models.Trace.suggested_error_modes.through._meta.db_table,
        models.Trace._meta.db_table,
    ]
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE " + ", ".join(map(connection.ops.quote_name, tables)) + " CASCADE")


def make_backlog(project, events: int) -> int:
    """Store the traces and ``events`` unprocessed events; returns the number of traces."""
    from django.utils import timezone

    from feedback_loop.internal.capture import insert_events
    from feedback_loop.models import Trace

    rng = random.Random(7)
    traces = events // 4
    say(f"storing {traces:,} traces and {events:,} events...")
    Trace.objects.bulk_create(
        (
            Trace(
                project=project,
                key=f"b{i}",
                input=f"question {i % 500}",
                output=OUTPUTS[i % len(OUTPUTS)] + f" ({i})",
                model=f"model-{i % 3}",
                session_id=f"s{i // 3}",
            )
            for i in range(traces)
        ),
        batch_size=5000,
    )
    start = timezone.now() - timedelta(hours=1)
    rows = []
    for n in range(events):
        i = n // 4
        slot = n % 4
        base = event_row(f"b{i}", f"u{i % 1000}", f"s{i // 3}", start + timedelta(milliseconds=n))
        roll = rng.random()
        if slot < 2:  # two votes by the same user: the second replaces the first
            base.update(kind="thumbs", value=rng.choice((1, -1)))
            if base["value"] < 0 and roll < 0.5:
                base["reasons"] = [rng.choice(("hallucination", "format", "length"))]
        elif roll < 0.3:
            base.update(kind="edit", text=f"A corrected answer, number {i}.")
        elif roll < 0.5:
            base.update(kind="rating", value=rng.randint(1, 5))
        elif roll < 0.7:
            base.update(kind="copy", metadata={"length": 20, "share": 0.3})
        elif roll < 0.85:
            base.update(kind="comment", comment="Not what I asked.", reasons=["format"])
        else:
            base.update(kind="regenerate", metadata={"new_trace_id": f"b{i + 1}"})
        rows.append(base)
        if len(rows) == 5000:
            insert_events(project.pk, rows, timezone.now() - timedelta(minutes=30))
            rows = []
    if rows:
        insert_events(project.pk, rows, timezone.now() - timedelta(minutes=30))
    return traces


def analyze() -> None:
    """Statistics for the freshly filled tables, as autovacuum would gather: planned on the
    statistics of the emptied tables, the baseline's prepared UPDATE (a generic plan after five
    executions) scans every trace for each row, 30 times slower."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE feedback_loop_trace")
        cursor.execute("ANALYZE feedback_loop_feedbackevent")


def unprocessed() -> int:
    from feedback_loop.models import FeedbackEvent

    return FeedbackEvent.objects.filter(processed_at__isnull=True).count()


def flush_broker(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def start_worker(args, log: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "example_project",
            "worker",
            "--pool=prefork",
            f"--concurrency={args.concurrency}",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"bench-{uuid.uuid4().hex[:6]}@%h",
        ],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    from example_project.celery import app

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the worker exited:\n{log.read_text()}")
        if app.control.ping(timeout=0.5):
            return process
    raise SystemExit(f"the worker did not answer a ping in 60 s:\n{log.read_text()}")


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (/proc/stat: all but idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds used so far by a process and its children (the worker's pool)."""
    return sum(filter(None, (_cpu_seconds(pid) for pid in [root, *_children(root)])))


def drain(args) -> tuple[dict, dict]:
    """(the sweep's row, the drain's row). The worker runs but does not consume while the sweeper
    queues the backlog (and stamps each event's ``requeued_at``), so that the sweep and the
    drain are timed apart: the sweep is recovery after an outage, paid once; the drain is the
    pipeline's own throughput."""
    from example_project.celery import app
    from feedback_loop.models import FeedbackEvent, PreferencePair, Review
    from feedback_loop.tasks import sweep

    log = Path(tempfile.mkstemp(prefix="bench-worker-", suffix=".log")[1])
    flush_broker(args.broker_url)
    say(f"starting a worker with {args.concurrency} processes...")
    worker = start_worker(args, log)
    queue = app.conf.task_default_queue
    try:
        app.control.cancel_consumer(queue, reply=True)
        total = unprocessed()
        say(f"the sweeper queues {total:,} events...")
        started = time.perf_counter()
        queued = sweep.apply(kwargs={"older_than": 0}).get()
        swept = time.perf_counter() - started
        say("timing the drain...")
        busy_before, workers_before = machine_busy_seconds(), tree_cpu_seconds(worker.pid)
        started = time.perf_counter()
        app.control.add_consumer(queue, reply=True)
        # An index-only probe of the pending index, every 0.1 s: a count of the unprocessed
        # events every 0.2 s cost PostgreSQL 0.7 CPU-seconds over a drain.
        pending = FeedbackEvent.objects.filter(processed_at__isnull=True)
        while pending.exists():
            time.sleep(0.1)
            if worker.poll() is not None:
                raise SystemExit(f"the worker died:\n{log.read_text()}")
        seconds = time.perf_counter() - started
        busy = machine_busy_seconds() - busy_before
        workers = tree_cpu_seconds(worker.pid) - workers_before
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(30)
    sweep_row = {
        "row": "sweeper queueing a lost backlog (stamps requeued_at), 1 process",
        "events": queued,
        "seconds": round(swept, 2),
        "events_per_s": round(queued / swept),
    }
    drain_row = {
        "row": f"pipeline drain, {args.concurrency} worker processes",
        "events": queued,
        "seconds": round(seconds, 2),
        "events_per_s": round(queued / seconds),
        # CPU seconds over the drain: the worker processes, and the rest of the machine
        # (PostgreSQL's backends, Redis, this process polling): per-core capacity figures.
        "worker_cpu_s": round(workers, 2),
        "other_cpu_s": round(busy - workers, 2),
        "events_per_worker_cpu_s": round(queued / workers) if workers else None,
        "events_per_other_cpu_s": round(queued / (busy - workers)) if busy > workers else None,
        "pairs": PreferencePair.objects.count(),
        "reviews": Review.objects.count(),
        "processed": FeedbackEvent.objects.filter(processed_at__isnull=False).count(),
    }
    return sweep_row, drain_row


def baseline() -> dict:
    """The floor: read the events, write the rollup columns and the processed marks."""
    from django.db import connection, transaction
    from django.utils import timezone

    from feedback_loop.models import FeedbackEvent, Trace

    q = connection.ops.quote_name
    trace_table = q(Trace._meta.db_table)
    event_table = q(FeedbackEvent._meta.db_table)
    FeedbackEvent.objects.update(processed_at=None)
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT id, project_id, trace_key, kind, value FROM {event_table}")
        counts: dict[tuple[int, str], list[int]] = {}
        ids = []
        for pk, project_id, trace_key, kind, _value in cursor.fetchall():
            ids.append(pk)
            row = counts.setdefault((project_id, trace_key), [0] * 6)
            row[("thumbs", "rating", "edit", "copy", "regenerate", "comment").index(kind)] += 1
        now = timezone.now()
        cursor.executemany(
            f"UPDATE {trace_table} SET sentiment = %s, score = %s, thumbs_up = %s, "
            "thumbs_down = %s, rating_avg = %s, rating_count = %s, comment_count = %s, "
            "edit_count = %s, regenerate_count = %s, copy_count = %s, abandon_count = 0, "
            "last_signal_at = %s WHERE project_id = %s AND key = %s",
            [
                ("none", None, c[0], 0, None, c[1], c[5], c[2], c[4], c[3], now, p, t)
                for (p, t), c in counts.items()
            ],
        )
        for start in range(0, len(ids), 10_000):
            cursor.execute(
                f"UPDATE {event_table} SET processed_at = %s WHERE id = ANY(%s)",
                [now, ids[start : start + 10_000]],
            )
    seconds = time.perf_counter() - started
    return {
        "row": "baseline: executemany of the rollup, 1 process",
        "events": len(ids),
        "seconds": round(seconds, 2),
        "events_per_s": round(len(ids) / seconds),
    }


def markdown(rows: list[dict], env: dict, swept: dict) -> str:
    drained, floor = rows
    lines = [
        f"## Pipeline drain benchmark, {env['started']}",
        "",
        f"{drained['events']:,} events on {env['traces']:,} traces, PostgreSQL "
        f"{env['postgresql']}, Redis broker, {os.cpu_count()} CPUs, commit {env['commit']}; "
        f"load average before {env['load_before']}",
        "",
        "| row | events | seconds | events/s | vs baseline |",
        "|---|---:|---:|---:|---|",
    ]
    for row in rows:
        ratio = (
            f"{row['events_per_s'] / floor['events_per_s']:.0%} of baseline"
            if row is drained
            else ""
        )
        lines.append(
            f"| {row['row']} | {row['events']:,} | {row['seconds']:.2f} "
            f"| {row['events_per_s']:,} | {ratio} |"
        )
    lines += [
        "",
        f"- CPU over the drain: the worker processes {drained['worker_cpu_s']} s "
        f"({drained['events_per_worker_cpu_s']:,} events per worker CPU-second), the rest of "
        f"the machine (PostgreSQL, Redis, this process) {drained['other_cpu_s']} s "
        f"({drained['events_per_other_cpu_s']:,} events per CPU-second).",
        f"- The drain made {drained['pairs']:,} preference pairs and {drained['reviews']:,} "
        f"review-queue entries and marked {drained['processed']:,} events processed.",
        f"- Before the drain, with the worker not consuming: the {swept['row']}, "
        f"{swept['events']:,} events in {swept['seconds']:.2f} s ({swept['events_per_s']:,} "
        "events/s).",
    ]
    return "\n".join(lines) + "\n"


def hot_markdown(hot: dict) -> str:
    verdict = "met" if hot["last_vs_first"] <= 1.5 else "MISSED"
    return "\n".join(
        [
            "",
            "| one hot trace | first batches | last batches | last vs first |",
            "|---|---:|---:|---|",
            f"| {hot['row']} | {hot['first_batch_ms']} ms | {hot['last_batch_ms']} ms "
            f"| {hot['last_vs_first']}x (target <= 1.5x: {verdict}) |",
            "",
        ]
    )


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = datetime.now()
    ensure_database(args.database_url)
    project = setup_django(args.database_url, args.broker_url)
    empty_tables()
    traces = make_backlog(project, args.events)
    analyze()
    env = {
        "started": f"{started:%Y-%m-%d %H:%M:%S}",
        "traces": traces,
        "postgresql": server_version(),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip(),
        "load_before": "/".join(f"{a:.2f}" for a in os.getloadavg()),
    }
    swept, drained = drain(args)
    say("measuring the baseline...")
    rows = [drained, baseline()]
    empty_tables()
    hot = hot_trace(project, args.hot_events)
    table = markdown(rows, env, swept) + hot_markdown(hot)
    print()
    print(table)
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"pipeline-{started:%Y%m%d-%H%M%S}"
    stem.with_suffix(".md").write_text(table)
    stem.with_suffix(".json").write_text(
        json.dumps({"env": env, "rows": rows, "sweep": swept, "hot_trace": hot}, indent=2)
    )
    say(f"written to {stem}.md and .json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
