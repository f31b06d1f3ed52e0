"""The dashboard's figures, from the traces' rollups (never a scan of the events), and its
charts."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _

from feedback_loop.curation import charts
from feedback_loop.curation.queue import NEEDS_REVIEW
from feedback_loop.models import Project, ReviewStatus, Sentiment, Trace

DAYS = (7, 30, 90)


def context(request) -> dict:
    try:
        days = int(request.GET.get("days", 30))
    except ValueError:
        days = 30
    days = days if days in DAYS else 30
    projects = list(Project.objects.order_by("name").values_list("pk", "name"))
    project_id = request.GET.get("project")
    project_id = int(project_id) if project_id and project_id.isdigit() else None
    now = timezone.now()
    since = now - timedelta(days=days)
    traces = Trace.objects.all()
    if project_id:
        traces = traces.filter(project_id=project_id)
    window = traces.filter(last_signal_at__gte=since)

    by_day = {
        row["day"]: row
        for row in window.annotate(day=TruncDate("last_signal_at"))
        .values("day")
        .annotate(
            positive=Count("pk", filter=Q(sentiment=Sentiment.POSITIVE)),
            negative=Count("pk", filter=Q(sentiment__in=NEEDS_REVIEW)),
        )
        .order_by("day")
    }
    points, volume = [], []
    for offset in range(days - 1, -1, -1):
        day = (now - timedelta(days=offset)).date()
        row = by_day.get(day)
        voted = (row["positive"] + row["negative"]) if row else 0
        points.append((day.strftime("%b %d"), row["positive"] / voted if voted else None))
        volume.append(voted)

    negative = window.filter(sentiment__in=NEEDS_REVIEW)
    suggested = dict(
        negative.values_list("suggested_error_modes__name")
        .annotate(n=Count("pk"))
        .exclude(suggested_error_modes__isnull=True)
        .values_list("suggested_error_modes__name", "n")
    )
    confirmed = dict(
        negative.exclude(review__error_modes__isnull=True)
        .values_list("review__error_modes__name")
        .annotate(n=Count("pk"))
        .values_list("review__error_modes__name", "n")
    )
    modes = sorted(
        {
            name: max(suggested.get(name, 0), confirmed.get(name, 0))
            for name in {*suggested, *confirmed}
        }.items(),
        key=lambda item: -item[1],
    )
    mode_items = [(f"{name} ({confirmed.get(name, 0)} confirmed)", count) for name, count in modes]

    sums = window.aggregate(
        thumbs_up=Sum("thumbs_up"),
        thumbs_down=Sum("thumbs_down"),
        ratings=Sum("rating_count"),
        comments=Sum("comment_count"),
        edits=Sum("edit_count"),
        regenerates=Sum("regenerate_count"),
        copies=Sum("copy_count"),
        abandons=Sum("abandon_count"),
    )
    kind_labels = {
        "thumbs_up": _("Thumbs up"),
        "thumbs_down": _("Thumbs down"),
        "ratings": _("Ratings"),
        "comments": _("Comments"),
        "edits": _("Edits"),
        "regenerates": _("Regenerates"),
        "copies": _("Copies"),
        "abandons": _("Abandons"),
    }
    kinds = [(kind_labels[k], v or 0) for k, v in sums.items()]

    models = list(
        window.values("model")
        .annotate(total=Count("pk"), negative=Count("pk", filter=Q(sentiment__in=NEEDS_REVIEW)))
        .order_by("-total")[:10]
    )
    model_items = [
        (
            _("%(model)s (%(share)d%% negative)")
            % {
                "model": row["model"] or _("(no model)"),
                "share": round(100 * row["negative"] / row["total"]),
            },
            row["negative"],
        )
        for row in models
    ]

    queue = traces.filter(sentiment__in=NEEDS_REVIEW).aggregate(
        total=Count("pk"),
        reviewed=Count(
            "pk", filter=Q(review__status__in=(ReviewStatus.REVIEWED, ReviewStatus.DISMISSED))
        ),
    )
    voted_total = sum(volume)
    positive_total = sum(row["positive"] for row in by_day.values())
    return {
        "days": days,
        "day_choices": DAYS,
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
