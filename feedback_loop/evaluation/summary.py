"""An experiment's summary (each scorer's mean, overall and by error mode), and the comparison
of an experiment with its baseline, item by item."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from feedback_loop.models import PASS, Experiment

# A score has to move by more than this for an item to count as improved or regressed.
TOLERANCE = 0.05


def summarise(experiment: Experiment) -> dict[str, Any]:
    """``{"scorers": {name: {mean, passed, scored, skipped}}, "by_error_mode": {mode: {name:
    mean}}, "errors": n, "latency_ms": {"p50", "p95"}}``, read in one pass over the results."""
    totals: dict[str, list[float]] = defaultdict(list)
    skipped: dict[str, int] = defaultdict(int)
    by_mode: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    latencies, errors = [], 0
    results = experiment.results.values_list(
        "scores", "error", "latency_ms", "version_item__metadata"
    )
    for scores, error, latency, metadata in results.iterator(chunk_size=2000):
        errors += bool(error)
        if latency is not None:
            latencies.append(latency)
        modes = (metadata or {}).get("error_modes") or ["(none)"]
        for name, score in (scores or {}).items():
            value = score.get("value")
            if value is None:
                skipped[name] += 1
                continue
            totals[name].append(value)
            for mode in modes:
                by_mode[mode][name].append(value)
    names = list(experiment.scorers) or sorted(totals)
    latencies.sort()
    return {
        "scorers": {
            name: {
                "mean": _mean(totals[name]),
                "passed": sum(v >= PASS for v in totals[name]),
                "scored": len(totals[name]),
                "skipped": skipped[name],
            }
            for name in names
        },
        "by_error_mode": {
            mode: {name: _mean(values) for name, values in scores.items()}
            for mode, scores in sorted(by_mode.items())
        },
        "errors": errors,
        "latency_ms": {
            "p50": _percentile(latencies, 0.5),
            "p95": _percentile(latencies, 0.95),
        },
    }


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def _percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    rank = max(1, math.ceil(share * len(values)))  # nearest rank
    return round(values[rank - 1], 3)


@dataclass
class ItemChange:
    item_id: str
    scorer: str
    before: float | None
    after: float | None
    reason_before: str = ""
    reason_after: str = ""

    @property
    def delta(self) -> float:
        return (self.after or 0.0) - (self.before or 0.0)


@dataclass
class ScorerComparison:
    scorer: str
    mean: float | None
    baseline_mean: float | None
    improved: list[ItemChange] = field(default_factory=list)
    regressed: list[ItemChange] = field(default_factory=list)
    unchanged: int = 0


@dataclass
class Comparison:
    experiment: Experiment
    baseline: Experiment
    scorers: list[ScorerComparison]
    only_here: int = 0  # items the baseline did not run (new in this version)
    only_baseline: int = 0  # items the baseline ran and this one did not

    @property
    def regressed_items(self) -> list[str]:
        """Every item that regressed on some scorer, worst first."""
        worst: dict[str, float] = {}
        for scorer in self.scorers:
            for change in scorer.regressed:
                worst[change.item_id] = min(worst.get(change.item_id, 0.0), change.delta)
        return sorted(worst, key=lambda item: (worst[item], item))

    def as_dict(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment.pk,
            "baseline": self.baseline.pk,
            "only_here": self.only_here,
            "only_baseline": self.only_baseline,
            "regressed_items": self.regressed_items,
            "scorers": [
                {
                    "scorer": s.scorer,
                    "mean": s.mean,
                    "baseline_mean": s.baseline_mean,
                    "improved": [c.item_id for c in s.improved],
                    "regressed": [c.item_id for c in s.regressed],
                    "unchanged": s.unchanged,
                }
                for s in self.scorers
            ],
        }


def compare(
    experiment: Experiment, baseline: Experiment, tolerance: float = TOLERANCE
) -> Comparison:
    """Per scorer that both ran, the items that improved, regressed (moved by more than
    ``tolerance``) or stayed, lined up by item id (the same in every version of a dataset)."""
    here = _scores(experiment)
    there = _scores(baseline)
    common = here.keys() & there.keys()
    names = [n for n in experiment.scorers if n in set(baseline.scorers)]
    summary, base_summary = experiment.summary or {}, baseline.summary or {}
    result = []
    for name in names:
        row = ScorerComparison(
            name,
            summary.get("scorers", {}).get(name, {}).get("mean"),
            base_summary.get("scorers", {}).get(name, {}).get("mean"),
        )
        for item_id in sorted(common, key=_item_order):
            after, before = here[item_id].get(name), there[item_id].get(name)
            if not after or not before or after.get("value") is None or before.get("value") is None:
                continue
            change = ItemChange(
                item_id, name, before["value"], after["value"],
                before.get("reason", ""), after.get("reason", ""),
            )  # fmt: skip
            if change.delta > tolerance:
                row.improved.append(change)
            elif change.delta < -tolerance:
                row.regressed.append(change)
            else:
                row.unchanged += 1
        row.regressed.sort(key=lambda c: (c.delta, _item_order(c.item_id)))
        result.append(row)
    return Comparison(
        experiment,
        baseline,
        result,
        only_here=len(here.keys() - there.keys()),
        only_baseline=len(there.keys() - here.keys()),
    )


def _scores(experiment: Experiment) -> dict[str, dict]:
    return dict(experiment.results.values_list("item_id", "scores").iterator(chunk_size=2000))


def _item_order(item_id: str) -> tuple[int, str]:
    return (int(item_id), "") if item_id.isdigit() else (1 << 62, item_id)
