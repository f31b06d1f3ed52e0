"""Admin screens for every model. The curation screens (the review queue, a trace's page with
its diff and review form, review mode, the dashboard, datasets and their exports) are in
``feedback_loop/curation/admin.py``, registered from here."""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from feedback_loop.curation.access import ProjectScopedAdmin, ScopedRelatedFilter

# The curation screens register Trace, Dataset and DatasetVersion on import.
from feedback_loop.curation.admin import short_text as _short
from feedback_loop.internal import failures
from feedback_loop.models import (
    DatasetItem,
    ErrorMode,
    FeedbackEvent,
    PreferencePair,
    ProcessingFailure,
    Project,
    Review,
    Trace,
    content_digest,
)


@admin.register(Project)
class ProjectAdmin(ProjectScopedAdmin):
    list_display = [
        "name",
        "public_key",
        "origins",
        "require_token",
        "retention_days",
        "created_at",
    ]
    list_filter = ["is_active", "require_token"]
    search_fields = ["name", "public_key"]
    readonly_fields = ["public_key", "secret_key", "created_at"]
    fieldsets = [
        (None, {"fields": ["name", "is_active"]}),
        (_("Keys"), {"fields": ["public_key", "secret_key"]}),
        (_("Security"), {"fields": ["allowed_origins", "require_token"]}),
        (_("Curators"), {"fields": ["members", "member_groups"]}),
        (_("Data"), {"fields": ["retention_days", "created_at"]}),
    ]
    filter_horizontal = ["members", "member_groups"]
    change_form_template = "admin/feedback_loop/project/change_form.html"

    def get_readonly_fields(self, request, obj=None):
        # Superusers decide who curates a project: a curator cannot let others in.
        if request.user.is_superuser:
            return self.readonly_fields
        return [*self.readonly_fields, "members", "member_groups"]

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "members":
            kwargs["queryset"] = db_field.related_model._default_manager.filter(is_staff=True)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if not change and not request.user.is_superuser:
            # Whoever creates a project curates it (else they could not see what they made).
            form.instance.members.add(request.user)

    @admin.display(description=_("allowed origins"))
    def origins(self, project: Project) -> str:
        return ", ".join(project.origin_list) or _("any")

    @admin.display(description=_("secret key"))
    def secret_key(self, project: Project) -> str:
        if not project.pk:
            return _("Shown once, after you save.")
        return format_html("{}… <em>{}</em>", project.secret_key_prefix, _("(stored hashed)"))

    def save_model(self, request, obj, form, change):
        if not change:
            request._feedback_loop_secret = obj.set_secret_key()
        super().save_model(request, obj, form, change)

    def response_add(self, request, obj, post_url_continue=None):
        # The secret is rendered into this response only: never into a message, a cookie or
        # the session.
        return self._keys_page(request, obj, request._feedback_loop_secret, _("Project created"))

    def get_urls(self):
        return [
            path(
                "<path:object_id>/rotate/<str:which>/",
                self.admin_site.admin_view(self.rotate_view),
                name="feedback_loop_project_rotate",
            ),
            *super().get_urls(),
        ]

    def rotate_view(self, request, object_id, which):
        project = self.get_object(request, object_id)
        if project is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_change_permission(request, project):
            raise PermissionDenied
        if which not in ("secret", "public"):
            return HttpResponseRedirect(
                reverse("admin:feedback_loop_project_change", args=[project.pk])
            )
        if request.method == "GET":
            context = {
                **self.admin_site.each_context(request),
                "title": _("Rotate the secret key")
                if which == "secret"
                else _("Rotate the public key"),
                "opts": self.opts,
                "original": project,
                "which": which,
            }
            return TemplateResponse(
                request, "admin/feedback_loop/project/rotate_confirm.html", context
            )
        if request.method != "POST":
            return HttpResponseNotAllowed(["GET", "POST"])
        if which == "secret":
            secret = project.set_secret_key()
            project.save(update_fields=["secret_key_hash", "secret_key_prefix"])
            self.log_change(request, project, "Rotated the secret key.")
            return self._keys_page(request, project, secret, _("New secret key"))
        project.rotate_public_key()
        project.save(update_fields=["public_key"])
        self.log_change(request, project, "Rotated the public key.")
        messages.success(
            request,
            _("The public key is now %(key)s. Update the pages that load the widget.")
            % {"key": project.public_key},
        )
        return HttpResponseRedirect(
            reverse("admin:feedback_loop_project_change", args=[project.pk])
        )

    def _keys_page(self, request, project, secret, title):
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.opts,
            "original": project,
            "secret": secret,
        }
        response = TemplateResponse(request, "admin/feedback_loop/project/keys.html", context)
        response["Cache-Control"] = "no-store"
        return response


@admin.register(FeedbackEvent)
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
        return _short(event.comment or event.text, 50)

    @admin.display(description=_("reasons"))
    def reason_list(self, event: FeedbackEvent) -> str:
        return ", ".join(event.reasons or [])


@admin.register(ErrorMode)
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


@admin.register(Review)
class ReviewAdmin(ProjectScopedAdmin):
    list_display = ["trace", "status", "modes", "reviewer", "reviewed_at", "updated_at"]
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


class DatasetItemForm(forms.ModelForm):
    class Meta:
        model = DatasetItem
        fields = ["dataset", "trace", "input", "expected_output", "chosen", "rejected", "metadata"]

    def clean(self):
        cleaned = super().clean()
        dataset = cleaned.get("dataset")
        if dataset is not None:
            digest = content_digest(
                cleaned.get("input", ""),
                cleaned.get("expected_output", ""),
                cleaned.get("chosen", ""),
                cleaned.get("rejected", ""),
            )
            same = DatasetItem.objects.filter(dataset=dataset, content_hash=digest)
            if self.instance.pk:
                same = same.exclude(pk=self.instance.pk)
            if same.exists():
                raise forms.ValidationError(
                    _("“%(dataset)s” already has an item with this content (#%(pk)d).")
                    % {"dataset": dataset, "pk": same.first().pk}
                )
        return cleaned


@admin.register(DatasetItem)
class DatasetItemAdmin(ProjectScopedAdmin):
    form = DatasetItemForm
    list_display = ["id", "dataset", "source_trace", "short_input", "created_at"]
    list_filter = [("dataset", ScopedRelatedFilter)]
    search_fields = ["input", "expected_output", "chosen", "rejected", "trace__key"]
    list_select_related = ["dataset", "trace"]
    raw_id_fields = ["trace"]

    @admin.display(description=_("source trace"))
    def source_trace(self, item: DatasetItem):
        if item.trace_id is None:
            return "-"
        url = reverse("admin:feedback_loop_trace_change", args=[item.trace_id])
        return format_html('<a href="{}">{}</a>', url, item.trace.key)

    @admin.display(description=_("input"))
    def short_input(self, item: DatasetItem) -> str:
        return _short(item.input)


@admin.register(PreferencePair)
class PreferencePairAdmin(ProjectScopedAdmin):
    """Pairs the pipeline found; records, like events (curation copies them into datasets)."""

    list_display = [
        "id",
        "source",
        "source_trace",
        "short_prompt",
        "short_chosen",
        "short_rejected",
        "created_at",
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
        return format_html('<a href="{}">{}</a>', url, pair.trace.key)

    @admin.display(description=_("prompt"))
    def short_prompt(self, pair: PreferencePair) -> str:
        return _short(pair.prompt)

    @admin.display(description=_("chosen"))
    def short_chosen(self, pair: PreferencePair) -> str:
        return _short(pair.chosen)

    @admin.display(description=_("rejected"))
    def short_rejected(self, pair: PreferencePair) -> str:
        return _short(pair.rejected)


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


@admin.register(ProcessingFailure)
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
    fields = [
        "project",
        "trace_key",
        "links",
        "attempts",
        "first_failed_at",
        "last_failed_at",
        "dead_at",
        "full_error",
    ]
    readonly_fields = fields
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
        return _short(failure.error.partition("\n")[0], 80)

    @admin.display(description=_("last error"))
    def full_error(self, failure: ProcessingFailure) -> str:
        return format_html('<pre style="white-space: pre-wrap; margin: 0">{}</pre>', failure.error)

    @admin.display(description=_("trace"))
    def links(self, failure: ProcessingFailure) -> str:
        events = (
            reverse("admin:feedback_loop_feedbackevent_changelist")
            + "?"
            + urlencode({"project__id__exact": failure.project_id, "trace_key": failure.trace_key})
        )
        trace = Trace.objects.filter(project_id=failure.project_id, key=failure.trace_key).first()
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
            context = {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": _("Retry processing"),
                "text": _(
                    "Each trace gets its attempts back and its unprocessed events are queued "
                    "for processing again."
                ),
                "failures": [
                    (failure, failure.error.partition("\n")[0])
                    for failure in queryset.select_related("project")[:20]
                ],
                "count": queryset.count(),
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
                "select_across": request.POST.get("select_across", "0"),
            }
            return TemplateResponse(
                request, "admin/feedback_loop/processingfailure/retry_confirm.html", context
            )
        count = failures.retry(queryset)
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
