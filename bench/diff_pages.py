"""Benchmark of the edit diff on the curators' pages: a trace's page and review mode showing the
worst-case edit at the capture limits, beside the same pages showing an ordinary edit, on
PostgreSQL.

Run from the repository root::

    .venv/bin/python bench/diff_pages.py [--requests 15]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/other_db .venv/bin/python bench/diff_pages.py

The database is ``--database-url``, else DATABASE_URL, else the other benchmarks' bench
database; it is created and migrated if missing. The benchmark replaces its own project ("diff
pages bench") there and touches nothing else. It takes about two minutes.

Rows, each the median of ``--requests`` requests as a signed-in superuser through Django's test
client (routing, middleware, queries, template; no network), and its ratio to the ordinary row
of the same page:

* ``ordinary edit``: a 300-word answer, one edit that rewrites a sentence (a word diff).
* ``worst-case edit``: a 64 KiB answer (MAX_TEXT_CHARS) of distinct short paragraphs and an
  edit of the same paragraphs shuffled: the words, the lines and the paragraphs each spend their
  share of the work budget before the diff is shown whole. The worst case for the diff's work.
* ``200 worst-case edits``: the same answer with 200 such edits; the page diffs the newest three
  (SHOWN_EDITS) and links the others.

The ``diff work`` column is the work units the page's diffs spent (at most SHOWN_EDITS x
WORK_BUDGET), measured by running the same diffs outside the timed requests.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.capture import DEFAULT_DATABASE_URL, RESULTS, ensure_database, migrated_django, say

PROJECT = "diff pages bench"
LIMIT = 65_536  # MAX_TEXT_CHARS


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=15, help="timed requests per row")
    parser.add_argument(
        "--database-url", default=os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    )
    return parser.parse_args()


def texts() -> dict[str, str]:
    rng = random.Random(10)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = ["".join(rng.choices(letters, k=rng.randint(2, 9))) for _ in range(400)]
    sentences = [" ".join(rng.choices(words, k=15)) + "." for _ in range(20)]
    ordinary = " ".join(sentences)  # 300 words
    edited = " ".join([*sentences[:7], "The user wrote this sentence instead.", *sentences[8:]])
    paragraphs, size = [], 0
    while True:
        paragraph = f"{rng.choice(words)} {len(paragraphs)}\n\n"
        if size + len(paragraph) > LIMIT:
            break
        paragraphs.append(paragraph)
        size += len(paragraph)
    worst = "".join(paragraphs)
    shuffles = []
    for seed in range(200):
        shuffled = paragraphs[:]
        random.Random(seed).shuffle(shuffled)
        shuffles.append("".join(shuffled))
    return {"ordinary": ordinary, "edited": edited, "worst": worst, "shuffles": shuffles}


def fill(samples: dict) -> dict[str, int]:
    """The bench project's three traces, each disliked and pending review; {row key: trace pk}."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from feedback_loop.models import FeedbackEvent, Project, Review, Sentiment, Trace

    Project.objects.filter(name=PROJECT).delete()
    project, _secret = Project.create(PROJECT, require_token=False)
    User = get_user_model()
    if not User.objects.filter(username="bench").exists():
        User.objects.create_superuser("bench", "bench@example.com", "bench")
    now = timezone.now()
    plan = {
        "ordinary": (samples["ordinary"], [samples["edited"]]),
        "worst": (samples["worst"], samples["shuffles"][:1]),
        "worst200": (samples["worst"], samples["shuffles"]),
    }
    pks = {}
    for key, (output, edits) in plan.items():
        trace = Trace.objects.create(
            project=project,
            key=key,
            input="Tell me about it.",
            output=output,
            sentiment=Sentiment.NEGATIVE,
            last_signal_at=now,
        )
        # Stored as processed: the pipeline (and its triage of the edits) is not measured here.
        FeedbackEvent.objects.bulk_create(
            FeedbackEvent(
                project=project,
                event_id=uuid.uuid4(),
                trace_key=key,
                kind="edit",
                text=text,
                user_id=f"editor{i}",
                voter=f"cu:editor{i}",
                timestamp=now - timedelta(minutes=len(edits) - i),
                processed_at=now,
            )
            for i, text in enumerate(edits)
        )
        pks[key] = Review.objects.create(trace=trace).pk
    return pks


def diff_work(trace_key: str) -> tuple[int, str]:
    """The work the page's diffs spend, and their levels, outside the timed requests."""
    from feedback_loop.admin.trace_page import edit_diffs
    from feedback_loop.models import Project, Trace

    trace = Trace.objects.get(project=Project.objects.get(name=PROJECT), key=trace_key)
    diffs = [d["diff"] for d in edit_diffs(trace)["diffs"]]
    levels = sorted({d.level for d in diffs})
    return sum(d.work for d in diffs), ", ".join(f"{len(diffs)} x {level}" for level in levels)


def time_page(client, url: str, requests: int) -> dict:
    response = client.get(url)  # warm up: template loading
    assert response.status_code == 200, (url, response.status_code)
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    return {"median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1)}


def main() -> int:
    args = parse_args()
    started = datetime.now()
    ensure_database(args.database_url)
    migrated_django(args.database_url)
    from django.conf import settings
    from django.test import Client

    from feedback_loop.admin.diff import WORK_BUDGET
    from feedback_loop.admin.trace_page import SHOWN_EDITS

    say("storing the traces (200 edits of 64 KiB)...")
    reviews = fill(texts())
    settings.ALLOWED_HOSTS = ["*"]
    client = Client()
    client.login(username="bench", password="bench")
    from feedback_loop.models import Review

    rows = []
    for page in ("trace page", "review mode"):
        base = None
        for key, label in (
            ("ordinary", "ordinary edit"),
            ("worst", "worst-case edit at the capture limits"),
            ("worst200", f"200 worst-case edits ({SHOWN_EDITS} diffed)"),
        ):
            review = Review.objects.get(pk=reviews[key])
            if page == "trace page":
                url = f"/admin/feedback_loop/trace/{review.trace_id}/change/"
            else:
                url = f"/admin/feedback_loop/trace/review/?review={review.pk}"
            say(f"timing {page}, {label}...")
            timing = time_page(client, url, args.requests)
            work, levels = diff_work(key)
            base = base or timing["median_ms"]
            rows.append(
                {
                    "page": page,
                    "row": f"{page}, {label}",
                    "edit": key,
                    "url": url,
                    **timing,
                    "ratio": round(timing["median_ms"] / base, 1),
                    "diff_work": work,
                    "levels": levels,
                }
            )

    lines = [
        f"## Diff pages benchmark, {started:%Y-%m-%d %H:%M:%S}",
        "",
        f"PostgreSQL, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
        f"{args.requests} timed requests per row; WORK_BUDGET {WORK_BUDGET:,} units a diff, "
        f"SHOWN_EDITS {SHOWN_EDITS}",
        "",
        "| row | median | max | vs ordinary edit | diff work | diffs |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['row']} | {r['median_ms']} ms | {r['max_ms']} ms | {r['ratio']}x "
            f"| {r['diff_work']:,} | {r['levels']} |"
        )
    table = "\n".join(lines) + "\n"
    print()
    print(table)
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"diff-pages-{started:%Y%m%d-%H%M%S}"
    stem.with_suffix(".md").write_text(table)
    result = {"work_budget": WORK_BUDGET, "shown_edits": SHOWN_EDITS, "pages": rows}
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2))
    say(f"written to {stem}.md and .json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
