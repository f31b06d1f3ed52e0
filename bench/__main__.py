"""Every benchmark in one go, one table with each figure beside its baseline.

    .venv/bin/python -m bench            # about 8 minutes on a 2-core machine (first run: +3)
    .venv/bin/python -m bench --quick    # smaller sizes, about 3 minutes: a smoke run
    .venv/bin/python -m bench --only capture,widget

Needs PostgreSQL and Redis on loopback, wrk, Debian's Chromium and widget/node_modules (the
README's set-up). Runs, each in its own process: bench/capture.py (gunicorn + wrk),
bench/pipeline.py (Celery workers on Redis), bench/widget_size.mjs, bench/widget.py
(Chromium), bench/curation.py, bench/diff_pages.py, bench/triage_bounds.py, bench/evaluate.py
(on PostgreSQL and on SQLite). Each writes its own results; this collects them into
bench/results/bench-<time>.md and .json and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PY = sys.executable


def steps(quick: bool) -> dict[str, tuple[list[str], str]]:
    """name -> (command, prefix of the JSON file it writes into bench/results)."""
    return {
        "capture": (
            [PY, "bench/capture.py", "--duration", "5" if quick else "10"],
            "capture-",
        ),
        "pipeline": (
            [PY, "bench/pipeline.py", "--events", "20000" if quick else "100000"],
            "pipeline-",
        ),
        "widget-size": (["node", "bench/widget_size.mjs"], "widget-size-"),
        "widget": ([PY, "bench/widget.py", "--runs", "3" if quick else "5"], "widget-2"),
        "curation": (
            [PY, "bench/curation.py"]
            + (["--traces", "20000", "--pairs", "10000"] if quick else []),
            "curation-",
        ),
        "diff-pages": (
            [PY, "bench/diff_pages.py", "--requests", "5" if quick else "15"],
            "diff-pages-",
        ),
        "triage": (
            [PY, "bench/triage_bounds.py", "--repeat", "5" if quick else "15"]
            + (["--skip-old"] if quick else []),
            "triage-bounds-",
        ),
        "evaluate": (
            [PY, "bench/evaluate.py", "--items", "2000" if quick else "10000"],
            "evaluate-postgres-",
        ),
        "themes": (
            [PY, "bench/themes.py", "--comments", "20000" if quick else "100000"],
            "themes-",
        ),
        "evaluate-sqlite": (
            [
                PY,
                "bench/evaluate.py",
                "--items",
                "2000" if quick else "10000",
                "--database-url",
                "sqlite:///bench/results/evaluate.sqlite3",
            ],
            "evaluate-sqlite-",
        ),
    }


def newest(prefix: str, since: float) -> dict | None:
    files = [p for p in RESULTS.glob(f"{prefix}*.json") if p.stat().st_mtime >= since - 1]
    if not files:
        return None
    return json.loads(max(files, key=lambda p: p.stat().st_mtime).read_text())


def run(name: str, command: list[str]) -> tuple[int, float]:
    print(f"\n=== {name}: {' '.join(command[1:] if command[0] == PY else command)}", flush=True)
    started = time.perf_counter()
    process = subprocess.run(command, cwd=ROOT, env=os.environ.copy(), check=False)
    return process.returncode, time.perf_counter() - started


def met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def pct(value: float, base: float) -> str:
    return f"{value / base:.0%}" if base else "n/a"


def rows_from(results: dict[str, dict]) -> list[tuple[str, str, str, str]]:
    """(figure, value, baseline, comparison / target) rows of the summary table."""
    rows: list[tuple[str, str, str, str]] = []
    capture = results.get("capture")
    if capture:
        by = {r["scenario"]: r for r in capture["results"]}
        one, insert = by["capture 1 event"], by["baseline INSERT 1 row"]
        rows.append(
            (
                "capture, 1 event per request (gunicorn, 2 workers)",
                f"{one['requests_per_s']:,.0f} req/s, p50 {one['p50_ms']:.1f} ms, "
                f"p99 {one['p99_ms']:.1f} ms",
                f"bare Django view + INSERT: {insert['requests_per_s']:,.0f} req/s",
                f"{pct(one['requests_per_s'], insert['requests_per_s'])} (target >= 60%: "
                + met(one["requests_per_s"] >= 0.6 * insert["requests_per_s"])
                + ")",
            )
        )
        batch = by["capture 100-event batch"]
        many = by["baseline executemany 100 rows"]
        copy = by.get("baseline COPY 100 rows")
        near_copy = bool(copy) and batch["events_per_s"] >= 0.75 * copy["events_per_s"]
        rows.append(
            (
                "capture, 100-event batches",
                f"{batch['events_per_s']:,.0f} events/s, p50 {batch['p50_ms']:.1f} ms, "
                f"p99 {batch['p99_ms']:.1f} ms",
                f"executemany: {many['events_per_s']:,.0f} events/s"
                + (f"; COPY: {copy['events_per_s']:,.0f} events/s" if copy else ""),
                f"{pct(batch['events_per_s'], many['events_per_s'])} of executemany"
                + (f", {pct(batch['events_per_s'], copy['events_per_s'])} of COPY" if copy else "")
                + (f" (target >= 75% of COPY: {met(near_copy)})" if copy else ""),
            )
        )
    pipeline = results.get("pipeline")
    if pipeline:
        drain, floor = pipeline["rows"]
        rows.append(
            (
                f"pipeline drain, {drain['events']:,}-event backlog, 2 worker processes",
                f"{drain['events_per_s']:,} events/s",
                f"executemany of the rollup, 1 process: {floor['events_per_s']:,} events/s",
                pct(drain["events_per_s"], floor["events_per_s"])
                + f" (targets >= 10,000 events/s: {met(drain['events_per_s'] >= 10_000)}, "
                + f">= 70%: {met(drain['events_per_s'] >= 0.7 * floor['events_per_s'])})",
            )
        )
        hot = pipeline.get("hot_trace")
        if hot:
            rows.append(
                (
                    f"pipeline, {hot['row']}",
                    f"last batches {hot['last_batch_ms']} ms",
                    f"first batches {hot['first_batch_ms']} ms",
                    f"{hot['last_vs_first']}x (target <= 1.5x: {met(hot['last_vs_first'] <= 1.5)})",
                )
            )
    size = results.get("widget-size")
    if size:
        sizes = size["sizes"]
        ours = sizes["django-feedback-loop widget.js"]["gzip"]
        sentry = sizes["Sentry: feedback integration alone (over the SDK)"]["gzip"]
        langfuse = sizes["Langfuse: browser client (LangfuseWeb)"]["gzip"]
        rows.append(
            (
                "widget size, min+gzip",
                f"{ours:,} bytes",
                f"Sentry feedback integration {sentry:,}; Langfuse browser client {langfuse:,}",
                f"{pct(ours, sentry)} of Sentry's, {pct(ours, langfuse)} of Langfuse's",
            )
        )
    widget = results.get("widget")
    if widget:
        from statistics import median

        attach = median(a["sync_ms"] for a in widget["attach"])
        busy = median(a["busy_ms"] for a in widget["attach"])
        rows.append(
            (
                "widget attach, 1,000 answers (Chromium)",
                f"init() {attach:.1f} ms; main thread busy {busy:.1f} ms",
                "",
                f"target < 50 ms: {'met' if attach < 50 else 'MISSED'}",
            )
        )
        for mode, figures in widget["overhead_pct"].items():
            rows.append(
                (
                    f"widget streaming overhead, 2,000 tokens ({mode})",
                    f"{figures['own_pct']:.2f}% in the widget's callbacks",
                    "the same page without the widget",
                    f"A/B difference {figures['a_b_pct']:+.1f}% (noisy)",
                )
            )
    curation = results.get("curation")
    if curation:
        sizes = curation["sizes"]
        bases = {p["baseline_of"]: p for p in curation["pages"] if "baseline_of" in p}
        full_text = next(
            (p for p in curation["pages"] if p["row"].startswith("baseline: the search")), None
        )
        for page in curation["pages"]:
            if "baseline_of" in page:
                continue  # shown beside its page
            target = (
                ""
                if "no target" in page["row"]
                else (f"target < 300 ms: {'met' if page['p95_ms'] < 300 else 'MISSED'}")
            )
            base = bases.get(page["row"])
            if full_text and page["row"].startswith("review queue, searching a comment"):
                ratio = page["median_ms"] / max(full_text["median_ms"], 0.1)
                rows.append(
                    (
                        f"{page['row']} ({sizes['traces']:,} traces, {sizes['events']:,} events)",
                        f"p50 {page['median_ms']} ms, p95 {page['p95_ms']} ms",
                        f"full-text queries alone: p50 {full_text['median_ms']} ms",
                        f"{target}; {ratio:.1f}x (target < 2x: {'met' if ratio < 2 else 'MISSED'})",
                    )
                )
                continue
            rows.append(
                (
                    f"{page['row']} ({sizes['traces']:,} traces, {sizes['events']:,} events)",
                    f"p50 {page['median_ms']} ms, p95 {page['p95_ms']} ms",
                    f"its queries alone: p50 {base['median_ms']} ms" if base else "",
                    target
                    + (f"; {page['median_ms'] / max(base['median_ms'], 0.1):.1f}x" if base else ""),
                )
            )
        export = curation["export"]
        rows.append(
            (
                f"export {export['rows']:,} pairs as dpo",
                f"{export['rows_per_s']:,} rows/s, peak {export['peak_rss_mb']} MB",
                "",
                f"targets > 20,000 rows/s: {'met' if export['rows_per_s'] > 20000 else 'MISSED'}; "
                f"< 150 MB: {'met' if export['peak_rss_mb'] < 150 else 'MISSED'}",
            )
        )
    diff_pages = results.get("diff-pages")
    if diff_pages:
        bound = diff_pages["shown_edits"] * diff_pages["work_budget"]
        ordinary = {p["page"]: p for p in diff_pages["pages"] if p["edit"] == "ordinary"}
        for page in diff_pages["pages"]:
            if page["edit"] == "ordinary":
                continue
            rows.append(
                (
                    page["row"],
                    f"p50 {page['median_ms']} ms; diff work {page['diff_work']:,} units",
                    f"{page['page']}, ordinary edit: p50 {ordinary[page['page']]['median_ms']} ms",
                    f"{page['ratio']}x (work <= {bound:,}: {met(page['diff_work'] <= bound)})",
                )
            )
    triage = results.get("triage")
    if triage:
        base = next(r for r in triage["rows"] if r["classifier_ratio"] == 1.0)
        for row in triage["rows"]:
            if row is base:
                continue
            rows.append(
                (
                    f"triage of a {row['chars']:,}-char edit: {row['row']}",
                    f"classifier {row['classifier_ms']} ms; pipeline {row['pipeline_ms']} ms",
                    f"{base['row']}: classifier {base['classifier_ms']} ms; "
                    f"pipeline {base['pipeline_ms']} ms",
                    f"{row['classifier_ratio']}x, {row['pipeline_ratio']}x",
                )
            )
    themes = results.get("themes")
    if themes:
        rows.append(
            (
                f"themes in {themes['comments']:,} negative comments (+ as many before), "
                "built-in TF-IDF + k-means",
                f"{themes['seconds']} s, peak {themes['peak_rss_mb']} MB "
                f"(+{themes['rss_growth_mb']} MB)",
                "",
                f"{themes['themes']} themes, purity {themes['purity']:.0%} (>= 80%: "
                + met(themes["purity"] >= 0.8)
                + ")",
            )
        )
    for name in ("evaluate", "evaluate-sqlite"):
        evaluated = results.get(name)
        if evaluated:
            bare = evaluated["bare"]
            for row in evaluated["rows"]:
                rows.append(
                    (
                        f"{row['row']} on {evaluated['server']}, {evaluated['items']:,} items, "
                        "no-op task, 7 scorers",
                        f"{row['items_per_s']:,} items/s",
                        f"bare loop over the jsonl export: {bare['items_per_s']:,} items/s",
                        f"overhead {row['overhead']}x",
                    )
                )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, a smoke run")
    parser.add_argument("--only", help="comma-separated: " + ", ".join(steps(False)))
    args = parser.parse_args()
    plan = steps(args.quick)
    chosen = args.only.split(",") if args.only else list(plan)
    unknown = set(chosen) - set(plan)
    if unknown:
        parser.error(f"unknown benchmarks: {', '.join(sorted(unknown))}")
    started = datetime.now()
    results: dict[str, dict] = {}
    failures = []
    timings = {}
    for name in chosen:
        command, prefix = plan[name]
        since = time.time()
        code, seconds = run(name, command)
        timings[name] = round(seconds, 1)
        found = newest(prefix, since)
        if code != 0 or found is None:
            failures.append(f"{name} exited with {code}" + ("" if found else ", no results"))
        if found is not None:
            results[name] = found
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    lines = [
        f"## django-feedback-loop benchmarks, {started:%Y-%m-%d %H:%M}"
        + (" (quick)" if args.quick else ""),
        "",
        f"commit {commit}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the "
        "end; " + ", ".join(f"{name} {s:.0f} s" for name, s in timings.items()),
        "",
        "| figure | value | baseline (same run) | comparison / target |",
        "|---|---|---|---|",
        *(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows_from(results)),
    ]
    if failures:
        lines += ["", "**PROBLEMS:** " + "; ".join(failures)]
    table = "\n".join(lines) + "\n"
    print("\n" + table)
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"bench-{started:%Y%m%d-%H%M%S}"
    stem.with_suffix(".md").write_text(table)
    stem.with_suffix(".json").write_text(
        json.dumps({"timings_s": timings, "results": results, "failures": failures}, indent=2)
    )
    print(f"written to {stem.relative_to(ROOT)}.md and .json")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
