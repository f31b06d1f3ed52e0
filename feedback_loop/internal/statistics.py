"""Small, exact statistics the figures share: Wilson intervals for proportions and Cohen's kappa
for agreement. Pure functions over counts; no database, no third-party library."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping
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
