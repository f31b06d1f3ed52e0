"""The dashboard's "Satisfaction by <key>" section (``?by=metadata.<key>``): per value of a
metadata key, satisfaction with its 95% interval, drawn, and how many votes and answers it
stands on (internal/segments.py); kept in the cache as the rest of the dashboard is."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.core.cache import cache
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from feedback_loop.admin import charts
from feedback_loop.admin.access import scoped
from feedback_loop.internal import access, segments
from feedback_loop.internal.caches import dashboard_key, remember
from feedback_loop.internal.releases import SIGNAL_RATES, Side
from feedback_loop.models import SIGNALS_BY_NAME, Trace

CACHE_SECONDS = 60


def chosen_key(request) -> tuple[str, segments.Key | None, str | None]:
    """``?by=`` as given, its key (None when absent or wrong) and what is wrong with it."""
    source = request.GET.get("by", "")
    if not source:
        return "", None, None
    try:
        return source, segments.parse_key(source), None
    except ValueError as exc:
        return source, None, str(exc)


def label(group: str, value: str | None) -> str:
    """A segment as people read it: its value, "(other)" or "(none)"."""
    if group == segments.OTHER:
        return _("(other)")
    if group == segments.NONE:
        return _("(none)")
    return value or ""


def section(request, project_id: int | None, days: int) -> dict:
    """The section's context: the key asked for (``by``), what is wrong with it
    (``by_error``), and with a good one the chart and a row per segment."""
    source, key, error = chosen_key(request)
    context: dict = {"by": source, "by_error": error}
    if key is None:
        return context
    digest = hashlib.sha256(key.source.encode()).hexdigest()[:16]
    cache_key = f"{dashboard_key(access.scope_key(request.user), project_id, days)}:by:{digest}"
    if not request.GET.get("refresh"):
        cached = cache.get(cache_key)
        if cached is not None:
            return {**context, **cached}
    result = _compute(request, project_id, days, key)
    remember(cache_key, result, CACHE_SECONDS)
    return {**context, **result}


def _compute(request, project_id: int | None, days: int, key: segments.Key) -> dict:
    # The dashboard's window: the traces with a signal in it, whose votes its satisfaction counts.
    traces = scoped(Trace.objects.all(), request.user)
    if project_id:
        traces = traces.filter(project_id=project_id)
    window = traces.filter(last_signal_at__gte=timezone.now() - timedelta(days=days))
    rows = [_row(segment) for segment in segments.breakdown(window, key)]
    return {
        "by_key": key.name,
        "segment_rows": rows,
        "segment_signals": [str(SIGNALS_BY_NAME[name].label) for name, _better in SIGNAL_RATES],
        "segment_chart": charts.interval_chart(
            [
                (row["label"], row["interval"], (None, None, None), row["votes_text"], None)
                for row in rows
            ],
            label=_("Satisfaction by %(key)s: each value's share of thumbs up, 95%% interval")
            % {"key": key.name},
            names=(_("satisfaction"), ""),
            empty=_("No traces with feedback in this window."),
            scale=1.0,
        ),
    }


def _row(segment: segments.Segment) -> dict:
    s = segment.satisfaction
    return {
        "label": label(segment.group, segment.value),
        "group": segment.group,
        "interval": (s.rate, s.low, s.high),
        "satisfaction": _percent(s.rate),
        "low": _percent(s.low),
        "high": _percent(s.high),
        "votes": s.n,
        "votes_text": ngettext("%(n)s vote", "%(n)s votes", s.n) % {"n": f"{s.n:,}"},
        "answers": segment.answers,
        "signals": [_share(side) for side in segment.signals.values()],
    }


def _percent(share: float | None) -> float | None:
    return None if share is None else round(100 * share, 1)


def _share(side: Side) -> str:
    return "-" if side.rate is None else f"{round(100 * side.rate, 1)}%"
