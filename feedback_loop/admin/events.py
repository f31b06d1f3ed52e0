"""Feedback events: records as the client sent them, never edited here."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import OuterRef, Subquery
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from feedback_loop.admin.access import ProjectScopedAdmin, ScopedRelatedFilter, scoped
from feedback_loop.admin.display import short_datetime, short_id, short_text
from feedback_loop.internal.pipeline import process_traces
from feedback_loop.models import FeedbackEvent, Project, Trace


class ProcessedFilter(admin.SimpleListFilter):
    """Whether the pipeline has processed an event (rolled it up into its trace)."""

    title = _("processing")
    parameter_name = "processed"

    def lookups(self, request, model_admin):
        return [("yes", _("Processed")), ("no", _("Not processed"))]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(processed_at__isnull=self.value() == "no")
        return queryset


class FeedbackEventAdmin(ProjectScopedAdmin):
    list_display = [
        "received",
        "signal",
        "trace",
        "project",
        "short_comment",
        "edited_text",
        "who",
        "processed",
    ]
    list_filter = [
        "kind",
        ("project", ScopedRelatedFilter),
        "created_at",
        ProcessedFilter,
    ]
    search_fields = ["trace_key", "comment", "text", "user_id", "session_id", "=event_id"]
    list_select_related = ["project"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    show_full_result_count = False

    def get_list_display(self, request):
        # The project column only for someone who sees more than one.
        if scoped(Project.objects.all(), request.user)[:2].count() < 2:
            return [name for name in self.list_display if name != "project"]
        return self.list_display

    def get_queryset(self, request):
        # The trace page each row links to, when the trace is there yet (events come first).
        trace = Trace.objects.filter(project_id=OuterRef("project_id"), key=OuterRef("trace_key"))
        return super().get_queryset(request).annotate(trace_pk=Subquery(trace.values("pk")[:1]))

    def lookup_allowed(self, lookup, value, request=None):
        # Links from a trace page filter by the trace id string.
        return lookup == "trace_key" or super().lookup_allowed(lookup, value, request)

    def has_add_permission(self, request):
        return False  # events come from the capture endpoint; they are records, not drafts

    def has_change_permission(self, request, obj=None):
        return False

    # The pipeline moves traces on by new events only: a deleted event's trace is rebuilt from
    # the events it has left.
    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        process_traces([(obj.project_id, obj.trace_key)])

    def delete_queryset(self, request, queryset):
        keys = sorted(set(queryset.values_list("project_id", "trace_key")))
        super().delete_queryset(request, queryset)
        process_traces(keys)

    @admin.display(description=_("received"), ordering="created_at")
    def received(self, event: FeedbackEvent):
        return short_datetime(event.created_at)

    @admin.display(description=_("processed"), boolean=True, ordering="processed_at")
    def processed(self, event: FeedbackEvent) -> bool:
        return event.processed_at is not None

    @admin.display(description=_("trace"), ordering="trace_key")
    def trace(self, event: FeedbackEvent):
        pk = getattr(event, "trace_pk", None)
        link = reverse("admin:feedback_loop_trace_change", args=[pk]) if pk else ""
        return short_id(event.trace_key, link)

    @admin.display(description=_("signal"), ordering="kind")
    def signal(self, event: FeedbackEvent):
        value = "" if event.value is None else f"{event.value:g}"
        return format_html('{} <span class="fl-nowrap">{}</span>', event.kind, value)

    @admin.display(description=_("reasons · comment"))
    def short_comment(self, event: FeedbackEvent):
        reasons = ", ".join(event.reasons or [])
        if not (reasons or event.comment):
            return "-"
        if not reasons:
            return short_text(event.comment, 50)
        return format_html(
            '<span class="fl-reasons">{}</span> {}', reasons, short_text(event.comment, 50)
        )

    @admin.display(description=_("text (edited, copied)"))
    def edited_text(self, event: FeedbackEvent) -> str:
        return short_text(event.text, 50)

    @admin.display(description=_("user · session"), ordering="user_id")
    def who(self, event: FeedbackEvent):
        # Both ids cut short on one line each (whole in their titles): a 36-character session
        # id would otherwise wrap onto four.
        return format_html(
            '{}<span class="fl-quiet">{}</span>',
            short_id(event.user_id),
            short_id(event.session_id),
        )
