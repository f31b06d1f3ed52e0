"""Reviews, as a list (a trace's page and review mode are where reviewers write them)."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from feedback_loop.admin.access import ProjectScopedAdmin, ScopedRelatedFilter
from feedback_loop.admin.display import short_date
from feedback_loop.models import Review


class ReviewAdmin(ProjectScopedAdmin):
    list_display = ["trace", "status", "modes", "reviewer", "reviewed", "updated"]
    list_filter = ["status", ("error_modes", ScopedRelatedFilter), "reviewed_at"]
    search_fields = ["trace__key", "notes", "expected_output"]
    list_select_related = ["trace", "reviewer"]
    raw_id_fields = ["trace"]
    filter_horizontal = ["error_modes"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("error_modes")

    @admin.display(description=_("error modes"))
    def modes(self, review: Review) -> str:
        return ", ".join(mode.name for mode in review.error_modes.all())

    @admin.display(description=_("reviewed"), ordering="reviewed_at")
    def reviewed(self, review: Review):
        return short_date(review.reviewed_at)

    @admin.display(description=_("updated"), ordering="updated_at")
    def updated(self, review: Review):
        return short_date(review.updated_at)
