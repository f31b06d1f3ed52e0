"""Processing failures: traces the pipeline could not process, with their error; dead letters
can be retried."""

from __future__ import annotations

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from feedback_loop import handoff
from feedback_loop.admin.access import ProjectScopedAdmin, ScopedRelatedFilter
from feedback_loop.admin.confirm import confirm_action
from feedback_loop.admin.display import events_url, short_text
from feedback_loop.models import ProcessingFailure, Trace


class GivenUpFilter(admin.SimpleListFilter):
    title = _("given up")
    parameter_name = "given_up"

    def lookups(self, request, model_admin):
        return [("yes", _("Yes: a dead letter")), ("no", _("No: still retried"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(dead_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(dead_at__isnull=True)
        return queryset


class ProcessingFailureAdmin(ProjectScopedAdmin):
    """Traces whose processing failed, with the last error; read-only but for the retry."""

    list_display = [
        "trace_key",
        "project",
        "attempts",
        "short_error",
        "first_failed_at",
        "last_failed_at",
        "dead_at",
    ]
    list_filter = [GivenUpFilter, ("project", ScopedRelatedFilter)]
    search_fields = ["trace_key", "error"]
    list_select_related = ["project"]
    fields = readonly_fields = (
        "project",
        "trace_key",
        "links",
        "attempts",
        "first_failed_at",
        "last_failed_at",
        "dead_at",
        "full_error",
    )
    actions = ["retry_processing"]

    def has_add_permission(self, request):
        return False  # written by the pipeline

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # a row goes when its trace processes fine; "Retry processing" resets it

    def has_retry_permission(self, request) -> bool:
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")

    @admin.display(description=_("last error"))
    def short_error(self, failure: ProcessingFailure) -> str:
        return short_text(failure.error.partition("\n")[0], 80)

    @admin.display(description=_("last error"))
    def full_error(self, failure: ProcessingFailure) -> str:
        return format_html('<pre style="white-space: pre-wrap; margin: 0">{}</pre>', failure.error)

    @admin.display(description=_("trace"))
    def links(self, failure: ProcessingFailure) -> str:
        events = events_url(failure.project_id, failure.trace_key)
        trace = Trace.objects.for_keys([(failure.project_id, failure.trace_key)]).first()
        if trace is None:
            return format_html('<a href="{}">{}</a>', events, _("its events"))
        return format_html(
            '<a href="{}">{}</a> · <a href="{}">{}</a>',
            reverse("admin:feedback_loop_trace_change", args=[trace.pk]),
            _("its page"),
            events,
            _("its events"),
        )

    @admin.action(description=_("Retry processing"), permissions=["retry"])
    def retry_processing(self, request, queryset):
        if "apply" not in request.POST:
            return confirm_action(
                self,
                request,
                queryset.select_related("project"),
                action="retry_processing",
                title=_("Retry processing"),
                text=_(
                    "Each trace gets its attempts back and its unprocessed events are queued "
                    "for processing again."
                ),
                submit=_("Yes, go on"),
                describe=lambda f: (
                    f"{f.trace_key} ({f.project}): " + short_text(f.error.partition("\n")[0], 100)
                ),
                nouns=(_("trace"), _("traces")),
            )
        count = handoff.retry_failures(queryset)
        self.message_user(
            request,
            ngettext(
                "Queued %d trace for processing again.",
                "Queued %d traces for processing again.",
                count,
            )
            % count,
            messages.SUCCESS,
        )
        return None
