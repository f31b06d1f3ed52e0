"""Error modes: the shared built-in ones and each project's own."""

from __future__ import annotations

from feedback_loop.admin.access import ProjectScopedAdmin, ScopedRelatedFilter


class ErrorModeAdmin(ProjectScopedAdmin):
    list_display = ["name", "slug", "project", "is_builtin", "description"]
    list_filter = ["is_builtin", ("project", ScopedRelatedFilter)]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}

    def has_change_permission(self, request, obj=None):
        # Modes every project shares are changed by superusers only.
        if obj is not None and obj.project_id is None and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and (obj.is_builtin or not self.has_change_permission(request, obj)):
            return False
        return super().has_delete_permission(request, obj)
