"""The dashboard: satisfaction over time (and by a metadata key), negative traces by error mode
and by model, signals by kind, the review backlog; figures from the traces' rollups
(internal/stats.py), drawn as SVG on the server (charts.py), kept a minute in the cache."""

from __future__ import annotations

from datetime import timedelta

from django.core.cache import cache
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from feedback_loop.admin import charts, release_comparison, segment_breakdown
from feedback_loop.admin.access import scoped
from feedback_loop.evaluation import online
from feedback_loop.internal import access, stats
from feedback_loop.internal import agreement as review_agreement
from feedback_loop.internal.caches import DASHBOARD_DAYS, dashboard_key, remember
from feedback_loop.internal.deferred import scope_of
from feedback_loop.models import NEEDS_REVIEW, SIGNALS, Project, Review, ReviewStatus, Trace

DAYS = DASHBOARD_DAYS
CACHE_SECONDS = 60


def view(model_admin, request):
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": _("Feedback dashboard"),
        **figures(request),
        **release_comparison.section(request, *_params(request)),
        **segment_breakdown.section(request, *_params(request)),
    }
    context["themes"] = themes_panel(request)
    context["review_agreement_panel"] = agreement_panel(request)
    return TemplateResponse(request, "admin/feedback_loop/dashboard.html", context)


def _scope(request) -> tuple[str, int]:
    """The deferred figures' (scope, days) of the page: the projects shown to this user."""
    project_id, days = _params(request)
    ids = access.project_ids_for(request.user)
    if project_id:
        ids = frozenset({project_id}) if ids is None or project_id in ids else frozenset()
    return scope_of(ids), days


def themes_panel(request) -> dict:
    """The themes in negative comments (internal/themes.py) as the refresh_themes task left
    them in the cache; queued when missing or on ``?refresh=1``, never computed in the request
    (but for Celery's eager mode, where the task runs at once)."""
    from feedback_loop.internal import themes
    from feedback_loop.tasks import refresh_themes

    return themes.panel(
        *_scope(request),
        lambda scope, d: refresh_themes.apply_async((scope, d), retry=False),
        refresh=bool(request.GET.get("refresh")),
    )


def agreement_panel(request) -> dict:
    """Users, reviewers, triage and scorers against reviewers (internal/agreement.py), as the
    refresh_agreement task left them in the cache, as the themes are: they read every review
    of the window, too slow for the page (and they change only as reviews come in)."""
    from feedback_loop.tasks import refresh_agreement

    return review_agreement.AGREEMENT.panel(
        *_scope(request),
        lambda scope, d: refresh_agreement.apply_async((scope, d), retry=False),
        refresh=bool(request.GET.get("refresh")),
    )


def figures(request) -> dict:
    """The dashboard's figures and charts, kept CACHE_SECONDS in the default cache (the
    queries scan every trace of the window); ``?refresh=1`` computes them anew."""
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
    now = timezone.now()
    traces = scoped(Trace.objects.all(), request.user)
    if project_id:
        traces = traces.filter(project_id=project_id)
    window = stats.trace_figures(traces, now, days)
    backlog = _backlog(request, traces, project_id)
    return {
        "days": days,
        "day_choices": DAYS,
        "computed_at": now,
        "projects": list(
            scoped(Project.objects.order_by("name"), request.user).values_list("pk", "name")
        ),
        "project_id": project_id,
        "satisfaction": _percent(window["satisfaction"]),
        "votes": window["up"] + window["down"],
        "negative_total": backlog["total"],
        "reviewed_total": backlog["reviewed"],
        "satisfaction_chart": _satisfaction_chart(window),
        "modes_chart": _modes_chart(traces.filter(last_signal_at__gte=now - timedelta(days=days))),
        "kinds_chart": charts.bar_chart(
            [(s.label, n) for s in SIGNALS if (n := window["signals"][s.counter])],
            label=_("Signals by kind"),
            empty=_("No signals in this window."),
        ),
        "models_chart": _models_chart(window["by_model"]),
        "reviewed_chart": charts.share_bar(
            backlog["reviewed"], backlog["total"], label=_("Share of negative traces reviewed")
        ),
        "agreement": _agreement(traces.filter(last_signal_at__gte=now - timedelta(days=days))),
        "agreement_min_n": online.AGREEMENT_MIN_N,
    }


def _agreement(traces) -> list[dict]:
    """Automated scores vs users: per scorer, on the window's traces with a thumbs verdict and
    a score, the share that agree and Cohen's kappa (figures only from AGREEMENT_MIN_N on)."""
    return [
        {
            "scorer": row.scorer,
            "n": row.n,
            "agree": row.agree,
            "enough": row.enough,
            "percent": _percent(row.share),
            "kappa": None if row.kappa is None else round(row.kappa, 2),
        }
        for row in online.agreement(traces)
    ]


def _percent(share: float | None) -> int | None:
    return None if share is None else round(100 * share)


def _backlog(request, traces, project_id: int | None) -> dict[str, int]:
    """Negative traces and how many are reviewed: all time, not the window (what is left)."""
    reviewed = scoped(Review.objects.all(), request.user).filter(
        status__in=(ReviewStatus.REVIEWED, ReviewStatus.DISMISSED),
        trace__sentiment__in=NEEDS_REVIEW,
    )
    if project_id:
        reviewed = reviewed.filter(trace__project_id=project_id)
    return {
        "total": traces.filter(sentiment__in=NEEDS_REVIEW).count(),
        "reviewed": reviewed.count(),
    }


def _satisfaction_chart(window: dict):
    points = [
        (day.strftime("%b %d"), stats.satisfaction(up, down)) for day, up, down in window["daily"]
    ]
    return charts.line_chart(
        points,
        bars=[up + down for _day, up, down in window["daily"]],
        label=_("Share of thumbs up among current votes, per day"),
    )


def _modes_chart(traces):
    modes = stats.negative_by_error_mode(traces)
    items = [
        (
            _("%(mode)s (%(n)d confirmed)") % {"mode": name, "n": confirmed},
            max(suggested, confirmed),
        )
        for name, (suggested, confirmed) in sorted(modes.items(), key=lambda kv: -max(kv[1]))
    ]
    return charts.bar_chart(
        items,
        label=_("Negative traces by error mode"),
        color=charts.BAD,
        empty=_("No error modes suggested or confirmed in this window."),
    )


def _models_chart(by_model: dict):
    items = [
        (
            _("%(model)s (%(share)d%% negative)")
            % {"model": model or _("(no model)"), "share": round(100 * negative / total)},
            negative,
        )
        for model, (total, negative) in sorted(by_model.items(), key=lambda kv: -kv[1][0])[:10]
    ]
    return charts.bar_chart(
        items,
        label=_("Negative traces by model"),
        color=charts.BAD,
        empty=_("No traces with feedback in this window."),
    )
