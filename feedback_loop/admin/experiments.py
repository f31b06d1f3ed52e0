"""Experiments: the list (each scorer's mean), an experiment's page (experiment_pages.py: the
summary, the mean by error mode, the items), the comparison of two experiments, and sending
outputs to the review queue. Results are append-only: nothing here adds or changes them;
deleting an experiment (with its results) needs the delete permission."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from feedback_loop.admin import experiment_pages as pages
from feedback_loop.admin.access import ScopedRelatedFilter
from feedback_loop.admin.confirm import confirm_action, confirmation
from feedback_loop.admin.display import short_datetime
from feedback_loop.internal import access
from feedback_loop.models import Experiment, ExperimentResult, ExperimentStatus

# What the list shows of an experiment's metadata, in this order; the rest is in its title.
SHOWN_METADATA = ("model", "prompt_version", "prompt")
STATUS_CSS: dict[str, str] = {
    ExperimentStatus.FINISHED: "fl-positive",
    ExperimentStatus.FAILED: "fl-negative",
    ExperimentStatus.RUNNING: "fl-mixed",
}


class SendForm(forms.Form):
    which = forms.ChoiceField(
        label=_("Send"),
        choices=[
            ("failures", _("Only failures: a score under 0.5, or an error")),
            ("all", _("Every result")),
        ],
        initial="failures",
        widget=forms.RadioSelect,
    )


class ExperimentAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "dataset_version",
        "setup",
        "means",
        "status_badge",
        "errors",
        "started",
    ]
    list_filter = [("dataset", ScopedRelatedFilter), "status"]
    search_fields = ["name"]
    list_select_related = ["dataset", "version"]
    actions = ["send_to_review_queue"]
    change_form_template = "admin/feedback_loop/experiment/change_form.html"
    fieldsets = [
        (None, {"fields": ["name", "project", "dataset", "version", "baseline", "status"]}),
        (
            _("Run"),
            {
                "fields": [
                    "task",
                    "scorers",
                    "metadata",
                    "item_count",
                    "error_count",
                    "created_by",
                    "created_at",
                    "started_at",
                    "finished_at",
                ]
            },
        ),
    ]
    readonly_fields = ["created_at"]

    # Project access: a curator sees the experiments of the projects they curate.

    def get_queryset(self, request):
        return access.scope(super().get_queryset(request), request.user, "project")

    # Read-only: an experiment is a record of a run.

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_send_to_queue_permission(self, request, obj=None) -> bool:
        # Sending records traces (and updates them when sent again): the permissions the
        # server API's POST /traces asks for, beside seeing the experiment.
        return (
            self.has_view_permission(request, obj)
            and request.user.has_perm("feedback_loop.add_trace")
            and request.user.has_perm("feedback_loop.change_trace")
        )

    def get_deleted_objects(self, objs, request):
        # Its results go with an experiment: counted, not listed (there may be 10,000).
        objs = list(objs)
        counts = dict(
            ExperimentResult.objects.filter(experiment__in=objs)
            .values("experiment")
            .annotate(n=Count("pk"))
            .values_list("experiment", "n")
        )
        to_delete = [
            [
                format_html("{}: {}", capfirst(self.opts.verbose_name), obj),
                [ngettext("%d result", "%d results", n) % n for n in [counts.get(obj.pk, 0)]],
            ]
            for obj in objs
        ]
        model_count = {
            self.opts.verbose_name_plural: len(objs),
            ExperimentResult._meta.verbose_name_plural: sum(counts.values()),
        }
        return to_delete, model_count, set(), []

    # columns

    @admin.display(description=_("dataset"), ordering="dataset__name")
    def dataset_version(self, experiment: Experiment) -> str:
        return f"{experiment.dataset.name} v{experiment.version.number}"

    @admin.display(description=_("model · prompt"))
    def setup(self, experiment: Experiment):
        metadata = experiment.metadata if isinstance(experiment.metadata, dict) else {}
        shown = [str(metadata[k]) for k in SHOWN_METADATA if metadata.get(k)]
        if not shown:
            shown = [f"{k}={v}" for k, v in list(metadata.items())[:2]]
        whole = ", ".join(f"{k}: {v}" for k, v in metadata.items())
        return format_html('<span title="{}">{}</span>', whole, " · ".join(shown) or "-")

    @admin.display(description=_("mean scores"))
    def means(self, experiment: Experiment):
        scorers = (experiment.summary or {}).get("scorers", {})
        return (
            format_html_join(
                "",
                '<span class="fl-nowrap fl-score">{} <strong>{}</strong></span>',
                ((name, _mean(f.get("mean"))) for name, f in scorers.items()),
            )
            or "-"
        )

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, experiment: Experiment):
        return format_html(
            '<span class="fl-sentiment {}">{}</span>',
            STATUS_CSS.get(experiment.status, "fl-none"),
            experiment.get_status_display(),
        )

    @admin.display(description=_("errors"), ordering="error_count")
    def errors(self, experiment: Experiment) -> str:
        return f"{experiment.error_count} / {experiment.item_count}"

    @admin.display(description=_("started"), ordering="started_at")
    def started(self, experiment: Experiment):
        return short_datetime(experiment.started_at)

    # the experiment's page

    def change_view(self, request, object_id, form_url="", extra_context=None):
        experiment = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if experiment is not None and self.has_view_permission(request, experiment):
            extra.update(pages.experiment_context(request, experiment))
            extra.update(
                compare_choices=self._others(request, experiment),
                can_send=self.has_send_to_queue_permission(request, experiment),
                queue_url=queue_url(experiment),
            )
        return super().change_view(request, object_id, form_url, extra)

    def _others(self, request, experiment: Experiment):
        """The experiments it may be compared with: the newest on the same dataset."""
        others = self.get_queryset(request).filter(dataset_id=experiment.dataset_id)
        return others.exclude(pk=experiment.pk).select_related("version")[:50]

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<int:pk>/compare/",
                view(self.pick_view),
                name="feedback_loop_experiment_pick",
            ),
            path(
                "<int:pk>/compare/<int:other>/",
                view(self.compare_view),
                name="feedback_loop_experiment_compare",
            ),
            path("<int:pk>/send/", view(self.send_view), name="feedback_loop_experiment_send"),
            *super().get_urls(),
        ]

    def _experiment(self, request, pk) -> Experiment:
        experiment = self.get_object(request, str(pk))
        if experiment is None:
            raise Http404
        if not self.has_view_permission(request, experiment):
            raise PermissionDenied
        return experiment

    def pick_view(self, request, pk):
        """Where the page's "Compare with" form goes: on to the comparison it names."""
        experiment = self._experiment(request, pk)
        other = request.GET.get("other", "")
        if not other.isdigit():
            return HttpResponseRedirect(
                reverse("admin:feedback_loop_experiment_change", args=[experiment.pk])
            )
        return HttpResponseRedirect(
            reverse("admin:feedback_loop_experiment_compare", args=[experiment.pk, int(other)])
        )

    def compare_view(self, request, pk, other):
        experiment = self._experiment(request, pk)
        before = self._experiment(request, other)
        if before.dataset_id != experiment.dataset_id or before.pk == experiment.pk:
            raise Http404
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": experiment,
            "other": before,
            "title": _("%(this)s compared with %(other)s")
            % {"this": experiment.name, "other": before.name},
            "compare_choices": self._others(request, experiment),
            **pages.compare_context(request, experiment, before),
        }
        return TemplateResponse(request, "admin/feedback_loop/experiment/compare.html", context)

    # sending outputs to the review queue

    def send_view(self, request, pk):
        experiment = self._experiment(request, pk)
        if not self.has_send_to_queue_permission(request, experiment):
            raise PermissionDenied
        form = SendForm(request.POST if request.method == "POST" else None)
        if form.is_bound and form.is_valid():
            self._send(request, [experiment], form.cleaned_data["which"] == "failures")
            return HttpResponseRedirect(
                reverse("admin:feedback_loop_experiment_change", args=[experiment.pk])
            )
        return confirmation(
            self,
            request,
            title=_("Send outputs to the review queue"),
            text=SEND_TEXT,
            submit=_("Send them"),
            form=form,
            original=experiment,
        )

    @admin.action(description=_("Send outputs to the review queue"), permissions=["send_to_queue"])
    def send_to_review_queue(self, request, queryset):
        form = SendForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            self._send(request, list(queryset), form.cleaned_data["which"] == "failures")
            return None
        return confirm_action(
            self,
            request,
            queryset,
            action="send_to_review_queue",
            title=_("Send outputs to the review queue"),
            text=SEND_TEXT,
            submit=_("Send them"),
            describe=lambda e: f"{e.name} ({e.dataset.name} v{e.version.number})",
            form=form,
        )

    def _send(self, request, experiments: list[Experiment], failures_only: bool) -> None:
        for experiment in experiments:
            total, new = pages.send_to_queue(experiment, failures_only=failures_only)
            self.log_change(request, experiment, f"Sent {total} outputs to the review queue.")
            self.message_user(
                request,
                format_html(
                    '{} <a href="{}">{}</a>',
                    _(
                        "Sent %(n)d outputs of “%(name)s” to the review queue (%(new)d new "
                        "traces, %(old)d there already)."
                    )
                    % {"n": total, "name": experiment.name, "new": new, "old": total - new},
                    queue_url(experiment),
                    _("See them in the queue"),
                ),
                messages.SUCCESS,
            )


SEND_TEXT = _(
    "Each output becomes a trace of the experiment's project, with the item's input and "
    "conversation, named after the experiment and the item: sending again updates the same "
    "traces. Failures are flagged negative, other outputs mixed, so that they wait in the "
    "review queue and in review mode."
)


def queue_url(experiment: Experiment) -> str:
    """The review queue, showing the traces an experiment's outputs were sent as."""
    base = reverse("admin:feedback_loop_trace_changelist")
    return f"{base}?sentiment=all&review=all&q={pages.trace_key(experiment, '')}"


def _mean(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
