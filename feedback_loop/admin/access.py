"""Project access in the admin: every screen of the app shows a staff user only the projects they
curate (see ``internal/access.py``), in lists, pages, form choices and filters."""

from __future__ import annotations

from django.contrib import admin

from feedback_loop.internal import access
from feedback_loop.models import (
    Alert,
    AlertRule,
    Dataset,
    DatasetItem,
    DatasetVersion,
    ErrorMode,
    Experiment,
    ExperimentResult,
    FeedbackEvent,
    PreferencePair,
    ProcessingFailure,
    Project,
    Review,
    ScoringRule,
    Trace,
)

# The path from each model of the app to its project.
PROJECT_PATHS = {
    Project: "",
    Trace: "project",
    FeedbackEvent: "project",
    Review: "trace__project",
    ErrorMode: "project",
    Dataset: "project",
    DatasetItem: "dataset__project",
    DatasetVersion: "dataset__project",
    PreferencePair: "project",
    ProcessingFailure: "project",
    Experiment: "project",
    ExperimentResult: "experiment__project",
    ScoringRule: "project",
    AlertRule: "project",
    Alert: "rule__project",
}


def scoped(queryset, user):
    """``queryset`` (of any model of the app) limited to the projects ``user`` curates."""
    model = queryset.model
    return access.scope(queryset, user, PROJECT_PATHS[model], shared=model is ErrorMode)


class ProjectScopedAdmin(admin.ModelAdmin):
    """A ModelAdmin whose rows, and the choices of its forms, are those of the user's projects."""

    def get_queryset(self, request):
        return scoped(super().get_queryset(request), request.user)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.related_model in PROJECT_PATHS and "queryset" not in kwargs:
            kwargs["queryset"] = scoped(db_field.related_model._default_manager, request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.related_model in PROJECT_PATHS and "queryset" not in kwargs:
            kwargs["queryset"] = scoped(db_field.related_model._default_manager, request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class ScopedRelatedFilter(admin.RelatedFieldListFilter):
    """A list filter on a relation (project, dataset, error mode) offering only the choices of
    the user's projects."""

    def field_choices(self, field, request, model_admin):
        related = scoped(field.related_model._default_manager.all(), request.user)
        ordering = self.field_admin_ordering(field, request, model_admin)
        if ordering:
            related = related.order_by(*ordering)
        return [(obj.pk, str(obj)) for obj in related]
