"""Alerts in the admin: the rules, and the episodes they opened (read-only)."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from feedback_loop.admin.access import ProjectScopedAdmin, ScopedRelatedFilter
from feedback_loop.models import Alert


class AlertRuleAdmin(ProjectScopedAdmin):
    list_display = ["name", "project", "kind", "metric", "threshold", "last_answers", "active"]
    list_filter = ["active", "kind", ("project", ScopedRelatedFilter)]
    search_fields = ["name", "metric"]
    fields = [
        "project",
        "name",
        "kind",
        "metric",
        "threshold",
        "last_answers",
        "confidence",
        "webhook_url",
        "active",
    ]


class OpenFilter(admin.SimpleListFilter):
    title = _("episode")
    parameter_name = "open"

    def lookups(self, request, model_admin):
        return [("yes", _("Open")), ("no", _("Closed"))]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(closed_at__isnull=self.value() == "yes")
        return queryset


class AlertAdmin(ProjectScopedAdmin):
    """Episodes: opened by the periodic check, closed when the condition stops holding."""

    list_display = ["message", "rule", "opened_at", "closed_at", "posted"]
    list_filter = [OpenFilter, ("rule__project", ScopedRelatedFilter)]
    list_select_related = ["rule", "rule__project"]
    fields = readonly_fields = (
        "rule",
        "message",
        "value",
        "details",
        "opened_at",
        "closed_at",
        "notified_at",
        "notify_error",
    )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("posted"), boolean=True)
    def posted(self, alert: Alert) -> bool | None:
        if not alert.rule.webhook_url:
            return None
        return alert.notified_at is not None
