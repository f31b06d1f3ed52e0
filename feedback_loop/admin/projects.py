"""Projects: keys (the secret one shown once), origins, the token rule, curators, and rotating
either key."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from feedback_loop.admin.access import ProjectScopedAdmin
from feedback_loop.admin.confirm import Text, confirmation
from feedback_loop.admin.display import short_date
from feedback_loop.models import Project

ROTATE_TEXT = {
    "secret": _(
        "A new secret key replaces the current one of “%(name)s” at once. Backends that still "
        "send the old key get 401 until you deploy the new one."
    ),
    "public": _(
        "A new public key replaces the current one of “%(name)s”. Pages that load the widget "
        "with the old key get 401 until they are updated (within a few seconds, once caches "
        "expire)."
    ),
}


class ProjectAdmin(ProjectScopedAdmin):
    list_display = [
        "name",
        "public_key",
        "origins",
        "require_token",
        "retention_days",
        "created",
    ]
    list_filter = ["is_active", "require_token"]
    search_fields = ["name", "public_key"]
    readonly_fields = ["public_key", "secret_key", "created_at"]
    fieldsets = [
        (None, {"fields": ["name", "is_active"]}),
        (_("Keys"), {"fields": ["public_key", "secret_key"]}),
        (_("Security"), {"fields": ["allowed_origins", "require_token"]}),
        (_("Curators"), {"fields": ["members", "member_groups", "reviews_per_trace"]}),
        (_("Data"), {"fields": ["retention_days", "created_at"]}),
    ]
    # Checkboxes, not the admin's filter_horizontal: its widget labels icons with aria-label on
    # a <span> (an ARIA error), and a project's curators are few.
    change_form_template = "admin/feedback_loop/project/change_form.html"

    def get_readonly_fields(self, request, obj=None):
        # Superusers decide who curates a project: a curator cannot let others in.
        if request.user.is_superuser:
            return self.readonly_fields
        return [*self.readonly_fields, "members", "member_groups"]

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "members":
            kwargs["queryset"] = db_field.related_model._default_manager.filter(is_staff=True)
        if db_field.name in ("members", "member_groups"):
            kwargs["widget"] = forms.CheckboxSelectMultiple
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if not change and not request.user.is_superuser:
            # Whoever creates a project curates it (else they could not see what they made).
            form.instance.members.add(request.user)

    @admin.display(description=_("created"), ordering="created_at")
    def created(self, project: Project):
        return short_date(project.created_at)

    @admin.display(description=_("allowed origins"))
    def origins(self, project: Project) -> Text:
        return ", ".join(project.origin_list) or _("any")

    @admin.display(description=_("secret key"))
    def secret_key(self, project: Project) -> Text:
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
        return self.keys_page(request, obj, request._feedback_loop_secret, _("Project created"))

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
            # Django's own answer to a missing object (private, so not in django-stubs).
            return self._get_obj_does_not_exist_redirect(  # type: ignore[attr-defined]
                request, self.opts, object_id
            )
        if not self.has_change_permission(request, project):
            raise PermissionDenied
        change_url = reverse("admin:feedback_loop_project_change", args=[project.pk])
        if which not in ROTATE_TEXT:
            return HttpResponseRedirect(change_url)
        if request.method == "GET":
            return confirmation(
                self,
                request,
                title=_("Rotate the secret key")
                if which == "secret"
                else _("Rotate the public key"),
                text=ROTATE_TEXT[which] % {"name": project.name},
                submit=_("Yes, rotate it"),
                original=project,
            )
        if request.method != "POST":
            return HttpResponseNotAllowed(["GET", "POST"])
        if which == "secret":
            secret = project.set_secret_key()
            project.save(update_fields=["secret_key_hash", "secret_key_prefix"])
            self.log_change(request, project, "Rotated the secret key.")
            return self.keys_page(request, project, secret, _("New secret key"))
        project.rotate_public_key()
        project.save(update_fields=["public_key"])
        self.log_change(request, project, "Rotated the public key.")
        messages.success(
            request,
            _("The public key is now %(key)s. Update the pages that load the widget.")
            % {"key": project.public_key},
        )
        return HttpResponseRedirect(change_url)

    def keys_page(self, request, project, secret, title):
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
