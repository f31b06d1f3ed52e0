"""Checking alert rules: measure each rule's metric, open an episode (posted once to the rule's
webhook) when its condition starts to hold, close it when the condition stops holding.

The metrics come from the traces' rollups, as the dashboard's do: satisfaction is the share of
thumbs up among current thumbs votes; a signal's rate is the share of answers with at least one
such signal; an error mode's rate is the share of answers whose suggested or confirmed error
modes include it."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from feedback_loop.internal import releases
from feedback_loop.internal.statistics import WORSE, wilson
from feedback_loop.models import Alert, AlertKind, AlertRule, Trace
from feedback_loop.models.alerts import ERROR_MODE_PREFIX, RATE_METRICS
from feedback_loop.models.events import SIGNALS_BY_NAME

logger = logging.getLogger("feedback_loop.alerts")

WEBHOOK_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Reading:
    """What a check found: whether the rule's condition holds, and what to say about it."""

    holds: bool
    message: str
    value: float | None = None
    details: dict[str, Any] = field(default_factory=dict)


def measure(project_id: int, metric: str, last: int) -> tuple[int, int]:
    """(hits, n) of ``metric`` over the project's last ``last`` answers."""
    recent = Trace.objects.filter(project_id=project_id).order_by("-created_at", "-pk")[:last]
    traces = Trace.objects.filter(pk__in=recent.values("pk"))
    if metric == "satisfaction":
        sums = traces.aggregate(up=Sum("thumbs_up"), down=Sum("thumbs_down"))
        up, down = sums["up"] or 0, sums["down"] or 0
        return up, up + down
    n = traces.count()
    if metric in RATE_METRICS:
        counter = SIGNALS_BY_NAME[metric].counter
        return traces.filter(**{f"{counter}__gt": 0}).count(), n
    slug = metric[len(ERROR_MODE_PREFIX) :]
    with_mode = Q(suggested_error_modes__slug=slug) | Q(review__error_modes__slug=slug)
    return traces.filter(with_mode).distinct().count(), n


def read_threshold(rule: AlertRule) -> Reading:
    hits, n = measure(rule.project_id, rule.metric, rule.last_answers)
    if n == 0 or rule.threshold is None:
        return Reading(False, f"{rule.name}: no answers to measure yet")
    rate = hits / n
    above = rule.kind == AlertKind.ABOVE
    holds = rate > rule.threshold if above else rate < rule.threshold
    low, high = wilson(hits, n) or (rate, rate)
    side = "above" if above else "below"
    message = (
        f"{rule.name}: {_label(rule.metric)} is {rate:.1%} over the last {n:,} "
        f"{'votes' if rule.metric == 'satisfaction' else 'answers'} (95% interval "
        f"{low:.1%} to {high:.1%}), {side if holds else 'not ' + side} {rule.threshold:.1%}."
    )
    details = {"hits": hits, "n": n, "low": low, "high": high, "threshold": rule.threshold}
    return Reading(holds, message, rate, details)


# The answers the release comparison of an alert looks at.
RELEASE_WINDOW_DAYS = 30


def read_release(rule: AlertRule) -> Reading:
    """The newest release against the one before it (the dashboard's default pair), on the
    rule's metric, at the rule's confidence: holds when the newest is worse for sure."""
    traces = Trace.objects.filter(project_id=rule.project_id)
    since = timezone.now() - timedelta(days=RELEASE_WINDOW_DAYS)
    newest, before = releases.default_pair(releases.releases_seen(traces, since))
    if newest is None or before is None:
        return Reading(False, f"{rule.name}: fewer than two releases in {RELEASE_WINDOW_DAYS} days")
    comparison = releases.compare(traces, newest, before, since=since, confidence=rule.confidence)
    kind, _, name = rule.metric.rpartition(":")
    figure = next(
        (
            f
            for f in comparison.figures
            if f.name == name and (f.kind == "error_mode") == bool(kind)
        ),
        None,
    )
    if figure is None or figure.a.rate is None or figure.b.rate is None:
        return Reading(False, f"{rule.name}: no {_label(rule.metric)} to compare yet")
    d = figure.difference
    holds = d.verdict == WORSE
    message = (
        f"{rule.name}: {_label(rule.metric)} of release {newest} is {figure.a.rate:.1%} against "
        f"{figure.b.rate:.1%} for {before} ({figure.a.n:,} and {figure.b.n:,} {figure.unit}; "
        f"the difference {d.low:+.1%} to {d.high:+.1%} at {rule.confidence:.0%}): "
        f"{'worse' if holds else releases.verdict_words(figure)}."
    )
    details = {"release": newest, "previous": before, "low": d.low, "high": d.high}
    return Reading(holds, message, figure.a.rate, details)


# kind -> how it is read.
READERS: dict[str, Callable[[AlertRule], Reading]] = {
    AlertKind.ABOVE: read_threshold,
    AlertKind.BELOW: read_threshold,
    AlertKind.RELEASE_WORSE: read_release,
}


def check(rule: AlertRule) -> Alert | None:
    """Check one rule: open (and post) an episode when its condition starts to hold, close the
    open one when it stops. Returns the episode opened now, if any."""
    reader = READERS.get(rule.kind)
    if reader is None:
        return None
    reading = reader(rule)
    open_episode = rule.alerts.filter(closed_at__isnull=True).first()
    if not reading.holds:
        if open_episode is not None:
            open_episode.closed_at = timezone.now()
            open_episode.save(update_fields=["closed_at"])
        return None
    if open_episode is not None:  # still holding: the same episode, posted once already
        return None
    try:
        with transaction.atomic():
            episode = Alert.objects.create(
                rule=rule, message=reading.message, value=reading.value, details=reading.details
            )
    except IntegrityError:  # another check opened it first
        return None
    if rule.webhook_url:
        post(episode, rule.webhook_url)
    return episode


def check_all() -> dict[str, int]:
    """Check every active rule; returns how many episodes opened."""
    opened = 0
    for rule in AlertRule.objects.filter(active=True).select_related("project"):
        try:
            opened += check(rule) is not None
        except Exception:  # one broken rule must not stop the others
            logger.exception("Checking the alert rule %s failed", rule.pk)
    return {"opened": opened}


def post(episode: Alert, url: str) -> None:
    """POST Slack-compatible JSON (``{"text": ...}``); a failure is recorded on the episode."""
    body = json.dumps({"text": episode.message, "alert": _payload(episode)}).encode()
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as answer:
            answer.read(1024)
        episode.notified_at = timezone.now()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        episode.notify_error = f"{type(exc).__name__}: {exc}"[:2000]
        logger.warning("Posting alert %s to its webhook failed: %s", episode.pk, exc)
    episode.save(update_fields=["notified_at", "notify_error"])


def _payload(episode: Alert) -> dict[str, Any]:
    rule = episode.rule
    return {
        "rule": rule.name,
        "project": rule.project.name,
        "metric": rule.metric,
        "value": episode.value,
        "opened_at": episode.opened_at.isoformat(),
        **episode.details,
    }


def _label(metric: str) -> str:
    if metric.startswith(ERROR_MODE_PREFIX):
        return f"the {metric[len(ERROR_MODE_PREFIX) :]} error rate"
    if metric == "satisfaction":
        return "satisfaction"
    return f"the {metric} rate"
