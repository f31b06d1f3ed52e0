"""Traces: the review queue (the trace list, with its filters, columns and actions) and a
trace's page; review mode and the dashboard hang off its URLs."""

from __future__ import annotations

from typing import cast

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Exists, QuerySet
from django.db.models.functions import Coalesce
from django.urls import path
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from feedback_loop.admin import dashboard, review_mode
from feedback_loop.admin.access import ProjectScopedAdmin, ScopedRelatedFilter
from feedback_loop.admin.display import events_url, short_date, short_id, short_text, signal_icons
from feedback_loop.admin.queue_filters import (
    AgreementFilter,
    ErrorModeFilter,
    FailingScoreFilter,
    LabelFilter,
    ModelFilter,
    ReleaseFilter,
    ReviewedFilter,
    SentimentFilter,
    SignalFilter,
    ThemeFilter,
    WhereFilter,
)
from feedback_loop.admin.scoring import failing_scorers
from feedback_loop.admin.trace_actions import TraceActions
from feedback_loop.admin.trace_page import (
    ReviewInline,
    stamp_review,
    trace_context,
    untick_dismissed,
    verdicts_context,
)
from feedback_loop.internal import search
from feedback_loop.models import FeedbackEvent, Trace


class CappedPaginator(Paginator):
    """Counts at most CAP rows: on a large queue an exact COUNT(*) costs more than the page.
    Beyond it the admin shows "10,000" and its page links stop there; filters narrow it."""

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        return cast(QuerySet, self.object_list)[: self.CAP].count()


class TraceAdmin(TraceActions, ProjectScopedAdmin):
    list_display = [
        "trace",
        "signals_strength",
        "sentiment_badge",
        "error_modes",
        "automated",
        "short_input",
        "last_signal",
    ]
    list_filter = [
        WhereFilter,
        SentimentFilter,
        ReviewedFilter,
        SignalFilter,
        ErrorModeFilter,
        LabelFilter,
        ModelFilter,
        ReleaseFilter,
        FailingScoreFilter,
        AgreementFilter,
        ThemeFilter,
        ("last_signal_at", admin.DateFieldListFilter),
        ("project", ScopedRelatedFilter),
    ]
    search_fields = ["key", "input", "output"]
    # The search box's help is its label (trace/change_list.html), not search_help_text.
    # Most recent signal first; traces without one by their creation (fl_trace_signal).
    ordering = [Coalesce("last_signal_at", "created_at").desc(), "-pk"]
    paginator = CappedPaginator
    list_per_page = 50
    show_full_result_count = False
    inlines = [ReviewInline]
    change_form_template = "admin/feedback_loop/trace/change_form.html"
    change_list_template = "admin/feedback_loop/trace/change_list.html"
    fieldsets = [
        (
            None,
            {"fields": ["key", "project", "model", "release", "registered", "regenerated_from"]},
        ),
        (
            _("Feedback"),
            {
                "fields": [
                    "sentiment",
                    "score",
                    "signals",
                    "suggested",
                    "last_signal_at",
                    "event_count",
                ]
            },
        ),
        (
            _("Context"),
            {
                "fields": ["session_id", "user_id", "metadata", "created_at", "updated_at"],
                "classes": ["collapse"],
            },
        ),
    ]

    def get_readonly_fields(self, request, obj=None):
        # Traces are the host's record; curators write reviews, not traces.
        return [f.name for f in Trace._meta.fields] + ["signals", "suggested", "event_count"]

    def has_add_permission(self, request):
        return False

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("project", "review")
            .prefetch_related(
                "suggested_error_modes",
                "review__error_modes",
                # The failing scores column: each scorer's newest score.
                "scores",
            )
        )

    def get_search_results(self, request, queryset, search_term):
        """Input, output and the users' comments: full text on PostgreSQL, through its GIN
        indexes (internal/search.py); the term anywhere in them elsewhere."""
        if search_term and search.is_full_text():
            return search.traces_matching(queryset, search_term), False
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if search_term:
            commented = FeedbackEvent.objects.for_trace_ref(comment__icontains=search_term)
            queryset |= self.get_queryset(request).filter(Exists(commented))
        return queryset, may_have_duplicates

    # columns

    @admin.display(description=_("trace"), ordering="key")
    def trace(self, trace: Trace):
        return short_id(trace.key)

    @admin.display(description=_("signals"))
    def signals(self, trace: Trace):
        return signal_icons(trace)

    @admin.display(description=_("signals · strength"), ordering="-strength")
    def signals_strength(self, trace: Trace):
        # The strength under the signals it comes from, sorted by it: a column of its own would
        # push the last one off a 1280 px screen with the admin's sidebar open.
        return format_html(
            '{}<span class="fl-quiet">{}</span>',
            signal_icons(trace),
            _("strength %(n)d") % {"n": trace.strength},
        )

    @admin.display(description=_("sentiment"), ordering="sentiment")
    def sentiment_badge(self, trace: Trace):
        return format_html(
            '<span class="fl-sentiment fl-{}">{}</span>',
            trace.sentiment,
            trace.get_sentiment_display(),
        )

    @admin.display(description=_("error modes"))
    def error_modes(self, trace: Trace):
        review = getattr(trace, "review", None)
        confirmed = list(review.error_modes.all()) if review else []
        suggested = [m for m in trace.suggested_error_modes.all() if m not in confirmed]
        html = format_html_join(", ", "<strong>{}</strong>", ((m.name,) for m in confirmed))
        if suggested:
            html += format_html(
                '{}<em title="{}">{}</em>',
                ", " if confirmed else "",
                _("suggested, not confirmed"),
                ", ".join(f"{m.name}?" for m in suggested),
            )
        return html or "-"

    @admin.display(description=_("failing scores"))
    def automated(self, trace: Trace):
        return failing_scorers(trace)

    @admin.display(description=_("input · model"))
    def short_input(self, trace: Trace):
        # The model under the input: a column of its own would push the last one off a 1280 px
        # screen with the admin's sidebar open.
        return format_html(
            '{}<span class="fl-quiet">{}</span>',
            short_text(trace.input or trace.output),
            trace.model or "-",
        )

    @admin.display(description=_("last signal"), ordering="last_signal_at")
    def last_signal(self, trace: Trace):
        return short_date(trace.last_signal_at)

    @admin.display(description=_("suggested error modes"))
    def suggested(self, trace: Trace) -> str:
        return ", ".join(m.name for m in trace.suggested_error_modes.all()) or "-"

    @admin.display(description=_("events"))
    def event_count(self, trace: Trace):
        url = events_url(trace.project_id, trace.key)
        return format_html('<a href="{}">{}</a>', url, trace.events.count())

    def changelist_view(self, request, extra_context=None):
        is_queue = not ({"sentiment", "review"} & set(request.GET))
        title = _("Review queue: negative traces not reviewed") if is_queue else _("Traces")
        return super().changelist_view(request, {"title": title, **(extra_context or {})})

    # the trace's page

    def change_view(self, request, object_id, form_url="", extra_context=None):
        trace = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if trace is not None:
            extra.update(trace_context(trace), **verdicts_context(trace, request.user))
        return super().change_view(request, object_id, form_url, extra)

    def save_formset(self, request, form, formset, change):
        reviews = formset.save(commit=False)
        for review in reviews:
            stamp_review(review, request.user)
            review.save()
        formset.save_m2m()
        for review in reviews:
            untick_dismissed(review)

    # more pages

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("review/", view(self.review_mode_view), name="feedback_loop_trace_review"),
            path("dashboard/", view(self.dashboard_view), name="feedback_loop_dashboard"),
            *super().get_urls(),
        ]

    def review_mode_view(self, request):
        if not self.has_change_permission(request):
            raise PermissionDenied
        return review_mode.view(self, request)

    def dashboard_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        return dashboard.view(self, request)
