"""Benchmark of the themes in negative comments (feedback_loop/internal/clusters.py): the
built-in TF-IDF embedder and the clustering on synthetic comments, in this process (no database).

Run from the repository root::

    .venv/bin/python bench/themes.py [--comments 100000] [--repeat 1]

It makes ``--comments`` comments for the window and as many for the window before, from eight
planted themes (a few phrasings each, between random filler words; the themes' shares differ
between the windows), times ``find_themes(window, previous)`` (the median of ``--repeat`` runs)
and reads the process's peak resident memory (``VmHWM``) before and after. It checks that the
found themes are pure (at least 80% of their comments of their leading planted theme; the
clustering keeps at most eight and may split a planted theme or merge two small ones). The table and
the raw numbers go to bench/results/themes-*.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"

THEMES = {
    "format": ["the JSON is broken", "wrong format, I asked for JSON", "not valid JSON",
               "JSON format is wrong", "returned markdown instead of JSON"],
    "length": ["way too long", "too verbose", "answer far too long", "verbose and too long",
               "long winded and verbose"],
    "refusal": ["it refused to answer", "refused a simple question", "refused again",
                "just refused", "refused for no reason"],
    "outdated": ["outdated information", "this is outdated, from 2019", "old outdated version",
                 "information is outdated"],
    "citations": ["no sources cited", "cite your sources", "missing citations and sources",
                  "sources are fake citations"],
    "math": ["the math is wrong", "arithmetic error in the math", "wrong calculation, bad math",
             "math mistake in the total"],
    "language": ["answered in spanish not english", "wrong language, I wrote in english",
                 "language switched to spanish"],
    "code": ["the code does not compile", "code has a syntax error", "broken code snippet",
             "code fails with an exception"],
}  # fmt: skip
FILLER = [
    "honestly",
    "really",
    "today",
    "please",
    "ugh",
    "seriously",
    "hmm",
    "sigh",
    "again",
    "great",
    "disappointing",
    "terrible",
    "useless",
    "annoying",
    "frustrating",
    "meh",
    "nope",
    "poor",
    "awful",
    "weird",
    "odd",
    "strange",
    "lame",
    "sad",
    "unhelpful",
    "stupid",
    "silly",
    "boring",
    "slow",
    "confusing",
    "bizarre",
    "expected",
    "better",
    "come",
    "on",
    "why",
]


def comments(n: int, seed: int, weights: list[float]) -> tuple[list[str], list[str]]:
    """(texts, planted theme of each)."""
    rng = random.Random(seed)
    names = list(THEMES)
    texts, planted = [], []
    for name in rng.choices(names, weights=weights, k=n):
        words = [rng.choice(FILLER), rng.choice(THEMES[name])]
        words += rng.sample(FILLER, rng.randint(0, 3))
        rng.shuffle(words)
        texts.append(" ".join(words))
        planted.append(name)
    return texts, planted


def peak_rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--comments", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    import sklearn

    from feedback_loop.internal import clusters

    window, planted = comments(args.comments, 1, [4, 3, 3, 2, 2, 1, 1, 1])
    before, _planted = comments(args.comments, 2, [2, 3, 4, 2, 1, 2, 1, 1])
    clusters.find_themes(window[:500], before[:500], clusters.tfidf_embedder)  # imports, warm-up
    rss_before = peak_rss_mb()
    times, found = [], []
    for _ in range(args.repeat):
        started = time.perf_counter()
        found = clusters.find_themes(window, before, clusters.tfidf_embedder)
        times.append(time.perf_counter() - started)
    seconds = statistics.median(times)
    rss_after = peak_rss_mb()
    # Purity: the share of the comments of the found themes that are of their theme's most
    # common planted theme (a planted theme split in two costs nothing; two merged do).
    dominant = [Counter(planted[i] for i in theme.members).most_common(1)[0] for theme in found]
    purity = sum(n for _name, n in dominant) / max(sum(t.count for t in found), 1)
    recovered = {name for name, _n in dominant}
    ok = purity >= 0.8
    row = {
        "row": f"find_themes, {args.comments:,} comments + {args.comments:,} before",
        "comments": args.comments,
        "seconds": round(seconds, 2),
        "comments_per_s": round(args.comments / seconds),
        "peak_rss_mb": round(rss_after, 1),
        "rss_growth_mb": round(rss_after - rss_before, 1),
        "themes": len(found),
        "purity": round(purity, 3),
        "planted_themes_recovered": len(recovered),
        "labels": [(t.label, t.count, t.previous_count, t.trend) for t in found],
        "sklearn": sklearn.__version__,
        "cpus": os.cpu_count(),
    }
    table = "\n".join(
        [
            f"## Themes in negative comments, {datetime.now():%Y-%m-%d %H:%M}",
            "",
            f"scikit-learn {sklearn.__version__}, {os.cpu_count()} CPUs, load average "
            f"{os.getloadavg()[0]:.2f}",
            "",
            "| row | seconds | peak memory (growth) | themes | purity |",
            "|---|---:|---:|---:|---|",
            f"| {row['row']} | {row['seconds']} | {row['peak_rss_mb']} MB "
            f"(+{row['rss_growth_mb']} MB) | {row['themes']} ({len(recovered)} of the "
            f"{len(THEMES)} planted ones lead one) | {purity:.0%}"
            + ("" if ok else " **below 80%**")
            + " |",
            "",
            *(
                f"- {label}: {n} ({prev} before, {trend})"
                for label, n, prev, trend in row["labels"]
            ),
        ]
    )
    print(table)
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"themes-{datetime.now():%Y%m%d-%H%M%S}"
    stem.with_suffix(".md").write_text(table + "\n")
    stem.with_suffix(".json").write_text(json.dumps(row, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
