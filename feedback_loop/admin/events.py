"""Feedback events: records as the client sent them, never edited here."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from feedback_loop.admin.access import ProjectScopedAdmin, ScopedRelatedFilter
from feedback_loop.admin.display import short_text
from feedback_loop.models import FeedbackEvent


class FeedbackEventAdmin(ProjectScopedAdmin):
    list_display = [
        "created_at",
        "kind",
        "value",
        "trace_key",
        "project",
        "short_comment",
        "reason_list",
        "user_id",
        "session_id",
        "processed_at",
    ]
    list_filter = [
        "kind",
        ("project", ScopedRelatedFilter),
        "created_at",
        ("processed_at", admin.EmptyFieldListFilter),
    ]
    search_fields = ["trace_key", "comment", "text", "user_id", "session_id", "=event_id"]
    list_select_related = ["project"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    show_full_result_count = False

    def lookup_allowed(self, lookup, value, request=None):
        # Links from a trace page filter by the trace id string.
        return lookup == "trace_key" or super().lookup_allowed(lookup, value, request)

    def has_add_permission(self, request):
        return False  # events come from the capture endpoint; they are records, not drafts

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("comment"))
    def short_comment(self, event: FeedbackEvent) -> str:
        return short_text(event.comment or event.text, 50)

    @admin.display(description=_("reasons"))
    def reason_list(self, event: FeedbackEvent) -> str:
        return ", ".join(event.reasons or [])
