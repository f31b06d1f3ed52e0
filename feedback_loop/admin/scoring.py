"""Online scoring in the admin: the scoring rules, and a trace's automated scores as its page's
panel and the queue's column show them (the queue's filter is in ``queue_filters``, the
dashboard's "automated scores vs users" in ``dashboard``)."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _

from feedback_loop.admin.access import ProjectScopedAdmin, ScopedRelatedFilter
from feedback_loop.evaluation import online  # also gives the rules' form its scorer check
from feedback_loop.models import ScoringRule, Trace, TraceScore


class ScoringRuleAdmin(ProjectScopedAdmin):
    list_display = ["name", "project", "scorer_list", "sample_rate", "active", "checked_at"]
    list_filter = ["active", ("project", ScopedRelatedFilter)]
    search_fields = ["name"]
    readonly_fields = ["checked_at"]
    fields = ["project", "name", "filters", "sample_rate", "scorers", "active", "checked_at"]

    @admin.display(description=_("scorers"))
    def scorer_list(self, rule: ScoringRule) -> str:
        return ", ".join(rule.scorers or [])


def scores_context(trace: Trace) -> dict:
    """A trace's page: each scorer's newest score (the "Automated scores" panel)."""
    return {"automated_scores": online.latest(TraceScore.objects.filter(trace=trace))}


def failing_scorers(trace: Trace):
    """The queue's column: the scorers whose newest score of the trace fails (``scores``
    prefetched by the queue's queryset)."""
    failing = [s for s in online.latest(trace.scores.all()) if s.failing]
    if not failing:
        return "-"
    return format_html_join(
        ", ",
        '<span class="fl-negative" title="{}">✗ {}</span>',
        ((score.reason, score.scorer) for score in failing),
    )
