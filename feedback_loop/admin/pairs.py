"""Preference pairs the pipeline found: records, like events (datasets copy them)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from feedback_loop.admin.access import ProjectScopedAdmin, ScopedRelatedFilter
from feedback_loop.admin.display import short_datetime, short_id, short_text
from feedback_loop.models import PreferencePair


class PreferencePairAdmin(ProjectScopedAdmin):
    """Pairs the pipeline found; records, like events (curation copies them into datasets)."""

    list_display = [
        "id",
        "source",
        "source_trace",
        "short_prompt",
        "short_chosen",
        "short_rejected",
        "created",
    ]
    list_filter = ["source", ("project", ScopedRelatedFilter), "created_at"]
    search_fields = ["prompt", "chosen", "rejected", "trace__key", "user_id"]
    list_select_related = ["trace"]
    readonly_fields = ["dedupe_key"]
    raw_id_fields = ["trace", "rejected_trace", "event"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("trace"), ordering="trace__key")
    def source_trace(self, pair: PreferencePair):
        url = reverse("admin:feedback_loop_trace_change", args=[pair.trace_id])
        return short_id(pair.trace.key, url)

    @admin.display(description=_("created"), ordering="created_at")
    def created(self, pair: PreferencePair):
        return short_datetime(pair.created_at)

    @admin.display(description=_("prompt"))
    def short_prompt(self, pair: PreferencePair) -> str:
        if not pair.prompt.strip() and not pair.trace.registered:
            # Preference exports leave these out unless asked to keep them.
            return format_html('<span class="fl-warn">{}</span>', _("none: trace not registered"))
        return short_text(pair.prompt)

    @admin.display(description=_("chosen"))
    def short_chosen(self, pair: PreferencePair) -> str:
        return short_text(pair.chosen)

    @admin.display(description=_("rejected"))
    def short_rejected(self, pair: PreferencePair) -> str:
        return short_text(pair.rejected)
