"""The dashboard's "Releases" section: release A against release B (or against every other
answer) over the dashboard's window, each figure's two intervals drawn, the verdict in words
(internal/releases.py), and with ``?by=metadata.<key>`` satisfaction per value of the key
(internal/segments.py); kept in the cache as the rest of the dashboard is."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.core.cache import cache
from django.utils import timezone
from django.utils.translation import gettext as _

from feedback_loop.admin import charts, segment_breakdown
from feedback_loop.admin.access import scoped
from feedback_loop.internal import access, releases, segments
from feedback_loop.internal.caches import dashboard_key, remember
from feedback_loop.internal.statistics import BETTER, CANT_TELL, WORSE
from feedback_loop.models import Trace

CACHE_SECONDS = 60


def section(request, project_id: int | None, days: int) -> dict:
    """The section's context: the releases of the window, the two compared, the chart and a
    row per figure. ``?release_a=`` and ``?release_b=`` choose (an empty B: the rest)."""
    chosen_a = request.GET.get("release_a") or ""
    chosen_b = request.GET.get("release_b")
    _source, by, _error = segment_breakdown.chosen_key(request)
    chosen = f"{chosen_a}\x00{chosen_b}\x00{by.source if by else ''}"
    digest = hashlib.sha256(chosen.encode()).hexdigest()[:16]
    key = f"{dashboard_key(access.scope_key(request.user), project_id, days)}:releases:{digest}"
    if not request.GET.get("refresh"):
        cached = cache.get(key)
        if cached is not None:
            return cached
    result = _compute(request, project_id, days, chosen_a, chosen_b, by)
    remember(key, result, CACHE_SECONDS)
    return result


def _compute(
    request, project_id, days, chosen_a: str, chosen_b: str | None, by: segments.Key | None
) -> dict:
    traces = scoped(Trace.objects.all(), request.user)
    if project_id:
        traces = traces.filter(project_id=project_id)
    since = timezone.now() - timedelta(days=days)
    seen = releases.releases_seen(traces, since)
    default_a, default_b = releases.default_pair(seen)
    a = chosen_a or default_a
    # No B in the URL: the default; an empty one: every other answer.
    b = (chosen_b or None) if chosen_b is not None else default_b
    if b == a:
        b = None
    context: dict = {"releases": seen, "release_a": a, "release_b": b or "", "release_rows": []}
    if a is None:
        return context
    comparison = releases.compare(traces, a, b, since=since)
    rows = [_row(figure) for figure in comparison.figures]
    context.update(
        release_rows=rows,
        release_answers=(comparison.answers_a, comparison.answers_b),
        release_chart=charts.interval_chart(
            # The chart says the verdict; the table under it, how many more answers it needs.
            [(r["label"], r["a"], r["b"], r["verdict"].split(":")[0], r["tone"]) for r in rows],
            label=_("%(a)s against %(b)s: each figure's rate with its 95%% interval")
            % {"a": a, "b": b or _("the rest")},
            names=(a, b or _("the rest")),
        ),
    )
    if by is not None:
        context.update(_by_segment(traces, by, a, b, since))
    return context


def _by_segment(traces, by: segments.Key, a: str, b: str | None, since) -> dict:
    """Satisfaction of A against B per value of ``by``: a chart on one scale and a row each."""
    rows = []
    for segment in segments.compare(traces, by, a, b, since=since):
        row = _row(segment.satisfaction)
        row["label"] = segment_breakdown.label(segment.group, segment.value)
        rows.append(row)
    return {
        "release_by": by.name,
        "release_segment_rows": rows,
        "release_segment_chart": charts.interval_chart(
            [(r["label"], r["a"], r["b"], r["verdict"].split(":")[0], r["tone"]) for r in rows],
            label=_("Satisfaction by %(key)s, %(a)s against %(b)s: 95%% intervals")
            % {"key": by.name, "a": a, "b": b or _("the rest")},
            names=(a, b or _("the rest")),
            empty=_("No answers in this window."),
            scale=1.0,
        ),
    }


def _row(figure: releases.Figure) -> dict:
    d = figure.difference
    words = {BETTER: _("better"), WORSE: _("worse")}.get(d.verdict)
    if words is None:
        words = _(CANT_TELL)
        if d.more_needed:
            unit = _("votes") if figure.unit == "votes" else _("answers")
            words = _("can't tell yet: about %(n)s more %(unit)s a side") % {
                "n": f"{d.more_needed:,}",
                "unit": unit,
            }
    return {
        "label": _(figure.label) if figure.kind == "satisfaction" else figure.label,
        "a": (figure.a.rate, figure.a.low, figure.a.high),
        "b": (figure.b.rate, figure.b.low, figure.b.high),
        "a_text": _rate_text(figure.a),
        "b_text": _rate_text(figure.b),
        "low": None if d.low is None else round(100 * d.low, 1),
        "high": None if d.high is None else round(100 * d.high, 1),
        "verdict": words,
        "tone": {BETTER: "good", WORSE: "bad"}.get(d.verdict),
    }


def _rate_text(side: releases.Side) -> str:
    if side.rate is None:
        return "-"
    return f"{round(100 * side.rate, 1)}% ({side.hits:,}/{side.n:,})"
