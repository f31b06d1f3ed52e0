"""Benchmark of ``feedback_loop.evaluate``: items evaluated per second with a no-op task (it
returns the expected output) and the built-in scorers that need no LLM judge, beside the same
scoring written as a bare Python loop over the version's JSON Lines export.

Run from the repository root::

    .venv/bin/python bench/evaluate.py [--items 10000] [--concurrency 4] [--database-url URL]
    .venv/bin/python bench/evaluate.py --database-url sqlite:///bench/results/evaluate.sqlite3

Rows, each the median of ``--repeat`` runs on a frozen version of a regression set of
``--items`` items (made once; a run re-uses it when the size matches, ``--refill`` starts over):

* ``evaluate()``: ``feedback_loop.evaluate(dataset, task, scorers=[...], version=N)`` with its
  default pool of 4 threads (``--concurrency``), and with 1: reading the frozen items, the task
  and the scorers in the pool, the results written in batches of 100, the summary;
* ``bare loop``: the version's ``jsonl`` export (written once, not timed) read line by line,
  ``json.loads``, the same scorer functions called on each line; nothing written anywhere.

The scorers: exact, contains, json_valid, length, similarity, refusal, error_mode (the items'
error modes are format, length and refusal: no judge). The ratio is the bare loop's items/s over
evaluate()'s: the runner's overhead. ``--profile`` also prints the top of a cProfile of one
evaluate() run. The table and the raw numbers go to bench/results/evaluate-<vendor>-*.md/.json.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.capture import DEFAULT_DATABASE_URL, RESULTS, ensure_database, migrated_django, say

PROJECT = "evaluate bench"
DATASET = "evaluate bench set"
SCORERS = ["exact", "contains", "json_valid", "length", "similarity", "refusal", "error_mode"]
# What the items' expected outputs look like: plain answers, JSON, Markdown lists; their error
# modes are those with a check that runs no judge.
SHAPES = (
    ("plain", "The parcel left the warehouse on {n} May and arrives within three working days."),
    ("json", '{{"order": {n}, "status": "shipped", "items": [1, 2, 3], "refund": false}}'),
    ("list", "- Open the account page\n- Choose order {n}\n- Press *Return* and print the label"),
)
MODES = (["format"], ["length"], ["refusal"], [], ["format", "length"])


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per row (median)")
    parser.add_argument("--concurrency", type=int, default=4, help="evaluate()'s thread pool")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--refill", action="store_true", help="make the dataset again")
    parser.add_argument("--profile", action="store_true", help="cProfile one evaluate() run")
    return parser.parse_args()


def noop(item) -> str:
    """The task: answers what the item expects, so only the runner and the scorers cost."""
    return item.expected_output


def fill(count: int, refill: bool):
    """The dataset, frozen once as version 1 (re-used when it has ``count`` items)."""
    from feedback_loop.internal.datasets import freeze
    from feedback_loop.models import Dataset, DatasetItem, DatasetKind, Project

    dataset = Dataset.objects.filter(project__name=PROJECT, name=DATASET).first()
    version = dataset.versions.filter(number=1).first() if dataset else None
    if version is not None and version.item_count == count and not refill:
        return dataset, version
    Project.objects.filter(name=PROJECT).delete()
    project, _secret = Project.create(PROJECT)
    dataset = Dataset.objects.create(project=project, name=DATASET, kind=DatasetKind.REGRESSION)
    say(f"filling {count:,} items...")
    batch = []
    for n in range(count):
        _shape, template = SHAPES[n % len(SHAPES)]
        question = f"Question {n}: where is my order {n} and when does it arrive?"
        item = DatasetItem(
            dataset=dataset,
            input=question,
            messages=[
                {"role": "system", "content": "You are the help desk of a bookshop."},
                {"role": "user", "content": question},
            ],
            expected_output=template.format(n=n),
            output="I'm sorry, I can't help with that." if n % 7 == 0 else template.format(n=n),
            metadata={"error_modes": MODES[n % len(MODES)], "model": "bench-model"},
            dedupe_key=f"bench:{n}",
        )
        item.content_hash = item.compute_content_hash()
        batch.append(item)
        if len(batch) == 2000:
            DatasetItem.objects.bulk_create(batch)
            batch = []
    DatasetItem.objects.bulk_create(batch)
    say("freezing version 1...")
    return dataset, freeze(dataset, note="evaluate bench")


def export(dataset, version, path: Path) -> float:
    from feedback_loop import exports
    from feedback_loop.exports import ExportOptions

    started = time.perf_counter()
    with open(path, "w", encoding="utf-8") as out:
        for chunk in exports.stream(dataset, "jsonl", version, options=ExportOptions()):
            out.write(chunk)
    return time.perf_counter() - started


def run_evaluate(dataset, version, concurrency: int) -> float:
    from feedback_loop import evaluate

    started = time.perf_counter()
    experiment = evaluate(
        dataset, noop, scorers=SCORERS, version=version.number, concurrency=concurrency
    )
    seconds = time.perf_counter() - started
    assert experiment.status == "finished", experiment.status
    assert experiment.results.count() == version.item_count
    return seconds


def run_bare(path: Path) -> float:
    """The floor: the same scorers on each line of the export, nothing else."""
    from feedback_loop.evaluation.registry import resolve

    named = [resolve(spec) for spec in SCORERS]
    started = time.perf_counter()
    scored = 0
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            item = SimpleNamespace(**json.loads(line))
            output = noop(item)
            scores = {name: scorer(item, output).as_dict() for name, scorer in named}
            scored += len(scores) == len(named)
    seconds = time.perf_counter() - started
    assert scored, "the export is empty"
    return seconds


def median_seconds(function, repeat: int) -> tuple[float, list[float]]:
    times = [function() for _ in range(repeat)]
    return statistics.median(times), [round(t, 3) for t in times]


def profile(dataset, version, concurrency: int) -> str:
    from feedback_loop import evaluate

    profiler = cProfile.Profile()
    profiler.enable()
    evaluate(dataset, noop, scorers=SCORERS, version=version.number, concurrency=concurrency)
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(30)
    return text.getvalue()


def main() -> int:
    args = parse_args()
    started = datetime.now()
    vendor = "sqlite" if args.database_url.startswith("sqlite") else "postgres"
    RESULTS.mkdir(exist_ok=True)
    if vendor == "postgres":
        ensure_database(args.database_url)
    migrated_django(args.database_url)
    from django.db import connection

    from feedback_loop.models import Experiment

    dataset, version = fill(args.items, args.refill)
    Experiment.objects.filter(dataset=dataset).delete()
    path = RESULTS / f"evaluate-{vendor}-items.jsonl"
    say(f"exporting version {version.number} as jsonl...")
    export_seconds = export(dataset, version, path)
    items = version.item_count
    rows = []
    for concurrency in dict.fromkeys((args.concurrency, 1)):
        say(f"timing evaluate(), concurrency {concurrency}...")
        seconds, runs = median_seconds(
            lambda c=concurrency: run_evaluate(dataset, version, c), args.repeat
        )
        rows.append({"row": f"evaluate(), {concurrency} thread" + "s" * (concurrency > 1),
                     "seconds": round(seconds, 3), "runs": runs,
                     "items_per_s": round(items / seconds)})  # fmt: skip
    say("timing the bare loop...")
    seconds, runs = median_seconds(lambda: run_bare(path), args.repeat)
    bare = {"row": "bare loop over the jsonl export", "seconds": round(seconds, 3),
            "runs": runs, "items_per_s": round(items / seconds)}  # fmt: skip
    for row in rows:
        row["overhead"] = round(bare["items_per_s"] / row["items_per_s"], 2)
    profiled = profile(dataset, version, args.concurrency) if args.profile else ""
    Experiment.objects.filter(dataset=dataset).delete()

    server = (
        f"PostgreSQL {connection.pg_version // 10000}"
        if vendor == "postgres"
        else f"SQLite {connection.Database.sqlite_version}"
    )
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    lines = [
        f"## evaluate(), {items:,} items, {started:%Y-%m-%d %H:%M:%S}",
        "",
        f"{server}, {os.cpu_count()} CPUs, load average {load} at the end; median of "
        f"{args.repeat} runs; scorers {', '.join(SCORERS)}; a no-op task",
        "",
        "| row | seconds | items/s | bare loop's items/s over it |",
        "|---|---:|---:|---:|",
        *(
            f"| {r['row']} | {r['seconds']} | {r['items_per_s']:,} | {r['overhead']}x |"
            for r in rows
        ),
        f"| {bare['row']} | {bare['seconds']} | {bare['items_per_s']:,} | 1x |",
        "",
        f"The export the bare loop reads took {export_seconds:.2f} s (not timed in its row).",
    ]
    table = "\n".join(lines) + "\n"
    print()
    print(table)
    if profiled:
        print(profiled)
    stem = RESULTS / f"evaluate-{vendor}-{started:%Y%m%d-%H%M%S}"
    stem.with_suffix(".md").write_text(table + (f"\n```\n{profiled}```\n" if profiled else ""))
    stem.with_suffix(".json").write_text(
        json.dumps(
            {
                "vendor": vendor,
                "server": server,
                "items": items,
                "scorers": SCORERS,
                "repeat": args.repeat,
                "load_average": os.getloadavg(),
                "rows": rows,
                "bare": bare,
                "export_seconds": round(export_seconds, 3),
            },
            indent=2,
        )
    )
    say(f"written to {stem}.md and .json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
