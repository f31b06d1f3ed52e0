"""The dashboard's figures, from the traces' rollups (never a scan of the events), and its
charts."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, timedelta

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _

from feedback_loop.curation import charts
from feedback_loop.curation.access import scoped
from feedback_loop.internal import access
from feedback_loop.internal.caches import DASHBOARD_DAYS, dashboard_key, remember
from feedback_loop.models import NEEDS_REVIEW, Project, Review, ReviewStatus, Sentiment, Trace

DAYS = DASHBOARD_DAYS

CACHE_SECONDS = 60


def context(request) -> dict:
    """The dashboard's figures and charts, kept CACHE_SECONDS in the default cache (the
    queries scan every trace of the window); ``?refresh=1`` computes them anew."""
    from django.core.cache import cache

    # The figures of "all projects" are those of the projects this user curates.
    key = dashboard_key(access.scope_key(request.user), *_params(request))
    if not request.GET.get("refresh"):
        cached = cache.get(key)
        if cached is not None:
            return cached
    result = compute(request)
    remember(key, result, CACHE_SECONDS)
    return result


def _params(request) -> tuple[int | None, int]:
    """(project id or None for all, days) as the page asks for them, defaults for the rest."""
    project_id = request.GET.get("project")
    project_id = int(project_id) if project_id and project_id.isdigit() else None
    try:
        days = int(request.GET.get("days", 30))
    except ValueError:
        days = 30
    return project_id, days if days in DAYS else 30


def compute(request) -> dict:
    project_id, days = _params(request)
    projects = list(
        scoped(Project.objects.order_by("name"), request.user).values_list("pk", "name")
    )
    now = timezone.now()
    since = now - timedelta(days=days)
    traces = scoped(Trace.objects.all(), request.user)
    if project_id:
        traces = traces.filter(project_id=project_id)
    window = traces.filter(last_signal_at__gte=since)

    # One scan of the window's traces, grouped by day and model, gives the daily line, the
    # signals by kind and the models; the error modes come from their (smaller) link tables.
    counters = {
        "thumbs_up": _("Thumbs up"),
        "thumbs_down": _("Thumbs down"),
        "rating_count": _("Ratings"),
        "comment_count": _("Comments"),
        "edit_count": _("Edits"),
        "regenerate_count": _("Regenerates"),
        "copy_count": _("Copies"),
        "abandon_count": _("Abandons"),
    }
    # One scan of the window's traces, grouped by (UTC) day and model, gives the daily line,
    # the signals by kind and the models. On PostgreSQL the statistics object of migration
    # 0006 tells the planner there are few such groups, so it aggregates in a hash table
    # instead of sorting the whole window.
    rows = (
        window.annotate(day=TruncDate("last_signal_at", tzinfo=UTC))
        .values("day", "model")
        .annotate(
            total=Count("pk"),
            positive=Count("pk", filter=Q(sentiment=Sentiment.POSITIVE)),
            negative=Count("pk", filter=Q(sentiment__in=NEEDS_REVIEW)),
            **{name: Sum(name) for name in counters},
        )
        .order_by()
    )
    by_day: dict = defaultdict(lambda: [0, 0])
    by_model: dict = defaultdict(lambda: [0, 0])
    kinds = dict.fromkeys(counters, 0)
    for row in rows:
        by_day[row["day"]][0] += row["positive"]
        by_day[row["day"]][1] += row["negative"]
        by_model[row["model"]][0] += row["total"]
        by_model[row["model"]][1] += row["negative"]
        for name in counters:
            kinds[name] += row[name] or 0
    points, volume = [], []
    for offset in range(days - 1, -1, -1):
        day = (now.astimezone(UTC) - timedelta(days=offset)).date()
        positive, negative_day = by_day.get(day, (0, 0))
        voted = positive + negative_day
        points.append((day.strftime("%b %d"), positive / voted if voted else None))
        volume.append(voted)

    negative = window.filter(sentiment__in=NEEDS_REVIEW)
    suggested_links = Trace.suggested_error_modes.through.objects.filter(
        trace__in=negative.values("pk")
    )
    suggested = dict(
        suggested_links.values_list("errormode__name").annotate(n=Count("trace_id")).order_by()
    )
    confirmed_links = Review.error_modes.through.objects.filter(
        review__trace__in=negative.values("pk")
    )
    confirmed = dict(
        confirmed_links.values_list("errormode__name").annotate(n=Count("review_id")).order_by()
    )
    modes = sorted(
        (
            (name, max(suggested.get(name, 0), confirmed.get(name, 0)))
            for name in {*suggested, *confirmed}
        ),
        key=lambda item: -item[1],
    )
    mode_items = [
        (_("%(mode)s (%(n)d confirmed)") % {"mode": name, "n": confirmed.get(name, 0)}, count)
        for name, count in modes
    ]
    model_items = [
        (
            _("%(model)s (%(share)d%% negative)")
            % {"model": model or _("(no model)"), "share": round(100 * neg / total)},
            neg,
        )
        for model, (total, neg) in sorted(by_model.items(), key=lambda kv: -kv[1][0])[:10]
    ]
    # The review backlog is all time, not the window: what is left to do.
    queue = {
        "total": traces.filter(sentiment__in=NEEDS_REVIEW).count(),
        "reviewed": scoped(Review.objects.all(), request.user)
        .filter(
            status__in=(ReviewStatus.REVIEWED, ReviewStatus.DISMISSED),
            trace__sentiment__in=NEEDS_REVIEW,
            **({"trace__project_id": project_id} if project_id else {}),
        )
        .count(),
    }
    kinds = [(counters[name], count) for name, count in kinds.items()]
    voted_total = sum(volume)
    positive_total = sum(pos for pos, _neg in by_day.values())
    return {
        "days": days,
        "day_choices": DAYS,
        "computed_at": now,
        "projects": projects,
        "project_id": project_id,
        "satisfaction": round(100 * positive_total / voted_total) if voted_total else None,
        "traces_with_feedback": voted_total,
        "negative_total": queue["total"],
        "reviewed_total": queue["reviewed"],
        "satisfaction_chart": charts.line_chart(
            points, bars=volume, label=_("Share of positive traces per day")
        ),
        "modes_chart": charts.bar_chart(
            mode_items,
            label=_("Negative traces by error mode"),
            color=charts.BAD,
            empty=_("No error modes suggested or confirmed in this window."),
        ),
        "kinds_chart": charts.bar_chart(
            [k for k in kinds if k[1]],
            label=_("Signals by kind"),
            empty=_("No signals in this window."),
        ),
        "models_chart": charts.bar_chart(
            model_items,
            label=_("Negative traces by model"),
            color=charts.BAD,
            empty=_("No traces with feedback in this window."),
        ),
        "reviewed_chart": charts.share_bar(
            queue["reviewed"], queue["total"], label=_("Share of negative traces reviewed")
        ),
    }
