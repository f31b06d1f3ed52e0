"""Small, exact statistics the figures share: Wilson intervals for proportions and Cohen's kappa
for agreement. Pure functions over counts; no database, no third-party library."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any


def z_score(confidence: float = 0.95) -> float:
    """The two-sided normal quantile for a confidence level (1.96 for 0.95)."""
    if not 0 < confidence < 1:
        raise ValueError(f"a confidence level is between 0 and 1, not {confidence!r}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion ``successes / n``; None when n is 0.

    Unlike the normal ("Wald") interval it stays inside [0, 1] and keeps its coverage for small
    n and proportions near 0 or 1, which is where feedback rates live."""
    if n <= 0:
        return None
    if not 0 <= successes <= n:
        raise ValueError(f"{successes} successes out of {n}")
    z = z_score(confidence)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # At 0 (or n) successes the bound is exactly 0 (or 1); rounding would leave 1e-17.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def kappa_of_table(table: Mapping[tuple[Any, Any], int]) -> float | None:
    """Cohen's kappa of a contingency table ``{(rater A's label, rater B's label): count}``;
    None without data, or when chance agreement is certain (both always gave one label)."""
    n = sum(table.values())
    if n == 0:
        return None
    observed = sum(count for (a, b), count in table.items() if a == b) / n
    a_totals: Counter = Counter()
    b_totals: Counter = Counter()
    for (a, b), count in table.items():
        a_totals[a] += count
        b_totals[b] += count
    expected = sum(a_totals[label] * b_totals[label] for label in a_totals) / (n * n)
    if math.isclose(expected, 1.0):
        return None
    return (observed - expected) / (1 - expected)


def cohen_kappa(pairs: Iterable[tuple[Hashable, Hashable]]) -> float | None:
    """Cohen's kappa of paired labels ``[(rater A, rater B), ...]``."""
    return kappa_of_table(Counter(pairs))


def rounded(value: float | None, digits: int = 4) -> float | None:
    """A figure as the API and the caches give it (None stays None)."""
    return None if value is None else round(value, digits)


def fleiss_kappa(subjects: Iterable[Mapping[Any, int]]) -> float | None:
    """Fleiss' kappa of several raters' labels: per subject (a trace), how many raters gave
    each label, ``[{"bad": 2, "fine": 1}, ...]``. The number of raters may differ between
    subjects (the per-subject agreement is averaged over those with two or more); None without
    such subjects, or when chance agreement is certain (one label throughout)."""
    agreements: list[float] = []
    totals: Counter[Any] = Counter()
    for counts in subjects:
        raters = sum(counts.values())
        if raters < 2:
            continue
        agreements.append(sum(c * (c - 1) for c in counts.values()) / (raters * (raters - 1)))
        totals.update(counts)
    if not agreements:
        return None
    labels = sum(totals.values())
    expected = sum((count / labels) ** 2 for count in totals.values())
    if math.isclose(expected, 1.0):
        return None
    observed = sum(agreements) / len(agreements)
    return (observed - expected) / (1 - expected)


@dataclass(frozen=True)
class Difference:
    """Rate A minus rate B with its interval (Newcombe's hybrid score interval, from the two
    Wilson intervals), and what it says."""

    rate_a: float | None
    rate_b: float | None
    low: float | None
    high: float | None
    # "better", "worse" (for A, given which direction is good) or "can't tell yet".
    verdict: str
    # Answers per side that would tell this difference apart at this level with 80% power, less
    # the answers the smaller side has; None when there is no difference to tell (or no data).
    more_needed: int | None


BETTER, WORSE, CANT_TELL = "better", "worse", "can't tell yet"


def compare_rates(
    a_hits: int,
    a_n: int,
    b_hits: int,
    b_n: int,
    *,
    higher_is_better: bool = True,
    confidence: float = 0.95,
    power: float = 0.8,
) -> Difference:
    """Compare two proportions (A against B): the difference's interval, a verdict that is
    "better" or "worse" only when the whole interval is on one side of 0, and how many more
    answers per side it would take to tell the observed difference apart."""
    a, b = wilson(a_hits, a_n, confidence), wilson(b_hits, b_n, confidence)
    if a is None or b is None:
        return Difference(
            a_hits / a_n if a_n else None, b_hits / b_n if b_n else None, None, None,
            CANT_TELL, None,
        )  # fmt: skip
    p1, p2 = a_hits / a_n, b_hits / b_n
    d = p1 - p2
    low = d - math.sqrt((p1 - a[0]) ** 2 + (b[1] - p2) ** 2)
    high = d + math.sqrt((a[1] - p1) ** 2 + (p2 - b[0]) ** 2)
    if low > 0 or high < 0:
        verdict = BETTER if (low > 0) == higher_is_better else WORSE
    else:
        verdict = CANT_TELL
    return Difference(
        p1, p2, low, high, verdict, _more_needed(p1, p2, min(a_n, b_n), confidence, power)
    )


def _more_needed(p1: float, p2: float, have: int, confidence: float, power: float) -> int | None:
    """The usual two-proportion sample size per group, less what the smaller group has."""
    d = abs(p1 - p2)
    if d == 0:
        return None
    z_a, z_b = z_score(confidence), NormalDist().inv_cdf(power)
    mean = (p1 + p2) / 2
    root = z_a * math.sqrt(2 * mean * (1 - mean)) + z_b * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return max(0, math.ceil(root * root / (d * d)) - have)
