"""Benchmark of triage on pathological edits: the built-in classifier and the pipeline on a trace
whose edit is 64 KiB (MAX_TEXT_CHARS) of what made the old structure rule quadratic, beside an
ordinary edit of the same size and a short one, on PostgreSQL.

Run from the repository root::

    .venv/bin/python bench/triage_bounds.py [--repeat 15] [--database-url URL]

Rows, each the median of ``--repeat`` runs:

* ``classifier``: ``suggest_error_modes(trace, events)`` on a negative trace with that edit,
  in this process (no database).
* ``pipeline``: ``process_traces`` of that trace on PostgreSQL: lock, rollup, triage, pairs, in
  one transaction (what a worker does for it on every later event of the trace).

The ratio column divides by the ordinary 64 KiB edit's figure. The old rule (the regular
expression before this benchmark existed) is timed once per size on runs of newlines of 4, 8
and 16 KiB, and its 64 KiB figure extrapolated from the 16 KiB one as quadratic (16 times),
since one run at 64 KiB takes minutes. The table and the raw numbers go to
bench/results/triage-bounds-*.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.capture import DEFAULT_DATABASE_URL, RESULTS, ensure_database, migrated_django, say

LIMIT = 65_536
PROJECT = "triage bounds bench"
ANSWER = "Steps: mix the flour, add water, bake for an hour.\n" * 40
ORDINARY_LINE = "- Mix the flour with **water** and a pinch of salt, then bake it for an hour.\n"
EDITS = {
    "ordinary edit, 64 KiB": (ORDINARY_LINE * (LIMIT // len(ORDINARY_LINE) + 1))[:LIMIT],
    "ordinary edit, 500 chars": (ORDINARY_LINE * 7)[:500],
    "64 KiB of newlines": "\n" * LIMIT,
    "64 KiB of newline-tab": "\n\t" * (LIMIT // 2),
    "64 KiB of empty list items": ("- \n" * (LIMIT // 3 + 1))[:LIMIT],
    "64 KiB of [ (JSON nesting)": "[" * LIMIT,
}
BASELINE = "ordinary edit, 64 KiB"
# The structure rule before this issue (triage.py at commit 6ee638b).
OLD_STRUCTURE_RE = re.compile(r"```[\w-]*|^\s*(?:[-*+>]|\d+[.)]|#{1,6})\s+|[{}\[\]\",:|`*_#]", re.M)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=15, help="timed runs per row")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--skip-old", action="store_true", help="do not time the old rule")
    return parser.parse_args()


def median_ms(function, repeat: int) -> float:
    function()  # warm up
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 3)


def classifier_row(edit: str, repeat: int) -> float:
    from feedback_loop.triage import suggest_error_modes

    vote = SimpleNamespace(
        pk=1, kind="thumbs", value=-1, reasons=[], text="", output="", voter="u", timestamp=1
    )
    change = SimpleNamespace(
        pk=2, kind="edit", value=None, reasons=[], text=edit, output="", voter="u", timestamp=2
    )
    trace = SimpleNamespace(output=ANSWER)
    return median_ms(lambda: suggest_error_modes(trace, [vote, change]), repeat)


def pipeline_row(project, index: int, edit: str, repeat: int) -> float:
    import uuid

    from django.utils import timezone

    from feedback_loop import record_trace
    from feedback_loop.internal.pipeline import process_traces
    from feedback_loop.models import FeedbackEvent

    trace_id = f"bench-{index}"
    record_trace(project, trace_id, input="How do I bake bread?", output=ANSWER)
    now = timezone.now()
    for kind, fields in (("thumbs", {"value": -1}), ("edit", {"text": edit})):
        FeedbackEvent.objects.create(
            project=project,
            event_id=uuid.uuid4(),
            trace_key=trace_id,
            kind=kind,
            user_id="u",
            timestamp=now,
            **fields,
        )
    return median_ms(lambda: process_traces([(project.pk, trace_id)]), repeat)


def old_rule_rows() -> list[dict]:
    rows = []
    for kib in (4, 8, 16):
        text = "\n" * (kib * 1024)
        started = time.perf_counter()
        OLD_STRUCTURE_RE.sub(" ", text)
        rows.append({"kib": kib, "ms": round((time.perf_counter() - started) * 1000, 1)})
        say(f"  old rule, {kib} KiB of newlines: {rows[-1]['ms']} ms")
    return rows


def main() -> int:
    args = parse_args()
    started = datetime.now()
    ensure_database(args.database_url)
    migrated_django(args.database_url)
    from django.db import connection

    from feedback_loop.models import Project

    Project.objects.filter(name=PROJECT).delete()
    project, _secret = Project.create(PROJECT)
    rows = []
    try:
        for index, (name, edit) in enumerate(EDITS.items()):
            say(f"timing {name}...")
            rows.append(
                {
                    "row": name,
                    "chars": len(edit),
                    "classifier_ms": classifier_row(edit, args.repeat),
                    "pipeline_ms": pipeline_row(project, index, edit, args.repeat),
                }
            )
    finally:
        Project.objects.filter(pk=project.pk).delete()
    old = [] if args.skip_old else old_rule_rows()

    base = next(r for r in rows if r["row"] == BASELINE)
    lines = [
        f"## Triage bounds, {started:%Y-%m-%d %H:%M:%S}",
        "",
        f"PostgreSQL {connection.pg_version // 10000}, {os.cpu_count()} CPUs; median of "
        f"{args.repeat} runs; ratio to the {BASELINE}",
        "",
        "| edit | classifier | ratio | pipeline, one trace | ratio |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        r["classifier_ratio"] = round(r["classifier_ms"] / base["classifier_ms"], 2)
        r["pipeline_ratio"] = round(r["pipeline_ms"] / base["pipeline_ms"], 2)
        lines.append(
            f"| {r['row']} | {r['classifier_ms']} ms | {r['classifier_ratio']} "
            f"| {r['pipeline_ms']} ms | {r['pipeline_ratio']} |"
        )
    if old:
        estimate = round(old[-1]["ms"] * (LIMIT / (old[-1]["kib"] * 1024)) ** 2 / 1000)
        sizes = ", ".join(f"{o['kib']} KiB {o['ms']:,} ms" for o in old)
        lines += [
            "",
            f"Old structure rule on runs of newlines, one run each: {sizes}; 64 KiB estimated "
            f"at about {estimate:,} s (quadratic from the 16 KiB figure).",
        ]
    table = "\n".join(lines) + "\n"
    print()
    print(table)
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"triage-bounds-{started:%Y%m%d-%H%M%S}"
    stem.with_suffix(".md").write_text(table)
    stem.with_suffix(".json").write_text(
        json.dumps({"repeat": args.repeat, "rows": rows, "old_rule": old}, indent=2)
    )
    say(f"written to {stem}.md and .json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
