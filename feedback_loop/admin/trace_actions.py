"""The queue's bulk actions: label with an error mode, mark reviewed, add to a dataset, build
preference pairs, export as JSON Lines. Each asks first (admin/confirm.py), then reports."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from feedback_loop import exports
from feedback_loop.admin.access import scoped
from feedback_loop.admin.confirm import Text, confirm_action
from feedback_loop.internal.datasets import add_traces
from feedback_loop.internal.pipeline import process_traces
from feedback_loop.models import Dataset, ErrorMode, PreferencePair, Review, ReviewStatus

if TYPE_CHECKING:
    _Mixin = admin.ModelAdmin
else:
    _Mixin = object


def _describe(trace) -> str:
    return f"{trace.key}: {(trace.input or trace.output)[:80]}"


class TraceActions(_Mixin):
    """The actions of the trace list (mixed into TraceAdmin)."""

    actions = [
        "label_error_mode",
        "mark_reviewed",
        "add_to_dataset",
        "build_preference_pairs",
        "export_jsonl",
    ]

    def _confirm(self, request, queryset, *, action: str, title: Text, text: Text, form=None):
        """The confirmation page of an action on the selected traces."""
        return confirm_action(
            self,
            request,
            queryset,
            action=action,
            title=title,
            text=text,
            submit=_("Yes, go on"),
            describe=_describe,
            form=form,
            nouns=(_("trace"), _("traces")),
        )

    @admin.action(description=_("Label with an error mode"), permissions=["change"])
    def label_error_mode(self, request, queryset):
        form = LabelForm(request.POST if "apply" in request.POST else None)
        cast(forms.ModelChoiceField, form.fields["mode"]).queryset = scoped(
            ErrorMode.objects.all(), request.user
        )
        if form.is_bound and form.is_valid():
            mode = form.cleaned_data["mode"]
            count = 0
            with transaction.atomic():
                for trace in queryset.select_related(None).only("pk"):
                    review, _created = Review.objects.get_or_create(trace=trace)
                    review.error_modes.add(mode)
                    count += 1
            self.message_user(
                request,
                ngettext(
                    "Labelled %(n)d trace “%(mode)s”.",
                    "Labelled %(n)d traces “%(mode)s”.",
                    count,
                )
                % {"n": count, "mode": mode.name},
                messages.SUCCESS,
            )
            return None
        return self._confirm(
            request,
            queryset,
            action="label_error_mode",
            title=_("Label traces with an error mode"),
            text=_("The error mode is added to each trace's review as confirmed."),
            form=form,
        )

    @admin.action(description=_("Mark as reviewed"), permissions=["change"])
    def mark_reviewed(self, request, queryset):
        if "apply" not in request.POST:
            return self._confirm(
                request,
                queryset,
                action="mark_reviewed",
                title=_("Mark traces as reviewed"),
                text=_("Their reviews get the status “reviewed”, with you as the reviewer."),
            )
        now = timezone.now()
        pks = list(queryset.values_list("pk", flat=True))
        with transaction.atomic():
            Review.objects.bulk_create([Review(trace_id=pk) for pk in pks], ignore_conflicts=True)
            count = Review.objects.filter(trace_id__in=pks).update(
                status=ReviewStatus.REVIEWED,
                reviewer=request.user,
                reviewed_at=now,
                claimed_by=None,
                claimed_until=None,
            )
        self.message_user(
            request,
            ngettext("Marked %d trace as reviewed.", "Marked %d traces as reviewed.", count)
            % count,
            messages.SUCCESS,
        )
        return None

    def has_add_to_dataset_permission(self, request) -> bool:
        return self.has_change_permission(request) and request.user.has_perm(
            "feedback_loop.change_dataset"
        )

    @admin.action(description=_("Add to a dataset"), permissions=["add_to_dataset"])
    def add_to_dataset(self, request, queryset):
        projects = set(queryset.values_list("project_id", flat=True).distinct()[:2])
        if len(projects) > 1:
            self.message_user(
                request,
                _("Select traces of one project: a dataset belongs to one."),
                messages.ERROR,
            )
            return None
        form = DatasetChoiceForm(
            request.POST if "apply" in request.POST else None, project_ids=projects
        )
        if form.is_bound and form.is_valid():
            dataset = form.cleaned_data["dataset"]
            pks = list(queryset.values_list("pk", flat=True))
            added = add_traces(dataset, pks)
            self.message_user(
                request,
                _(
                    "Added %(added)d items to “%(name)s” from %(n)d traces (%(kept)d already "
                    "there or without a pair)."
                )
                % {
                    "added": added,
                    "name": dataset.name,
                    "n": len(pks),
                    "kept": max(len(pks) - added, 0),
                },
                messages.SUCCESS,
            )
            return None
        return self._confirm(
            request,
            queryset,
            action="add_to_dataset",
            title=_("Add traces to a dataset"),
            text=_(
                "Regression and golden sets get (input, expected output) items; a preference "
                "set gets the traces' preference pairs. Items already there are skipped."
            ),
            form=form,
        )

    @admin.action(description=_("Build preference pairs"), permissions=["change"])
    def build_preference_pairs(self, request, queryset):
        if "apply" not in request.POST:
            return self._confirm(
                request,
                queryset,
                action="build_preference_pairs",
                title=_("Build preference pairs"),
                text=_(
                    "Rolls the selected traces up again and stores the pairs their edits, "
                    "regenerations and votes give. Pairs already stored are kept once."
                ),
            )
        keys = sorted(queryset.values_list("project_id", "key"))
        before = PreferencePair.objects.filter(trace__in=queryset).count()
        process_traces(keys)
        after = PreferencePair.objects.filter(trace__in=queryset).count()
        self.message_user(
            request,
            _("%(traces)d traces have %(pairs)d preference pairs (%(new)d new).")
            % {"traces": len(keys), "pairs": after, "new": after - before},
            messages.SUCCESS,
        )
        return None

    def has_export_permission(self, request) -> bool:
        # Trace text in bulk: the permission that exporting a dataset needs.
        return self.has_view_permission(request) and request.user.has_perm(
            "feedback_loop.export_dataset"
        )

    @admin.action(description=_("Export as JSON Lines"), permissions=["export"])
    def export_jsonl(self, request, queryset):
        return exports.download(
            exports.trace_lines(queryset), filename="traces.jsonl", content_type="application/jsonl"
        )


class LabelForm(forms.Form):
    mode = forms.ModelChoiceField(ErrorMode.objects.all(), label=_("Error mode"))


class DatasetChoiceForm(forms.Form):
    dataset = forms.ModelChoiceField(Dataset.objects.none(), label=_("Dataset"))

    def __init__(self, *args, project_ids=(), **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["dataset"]).queryset = Dataset.objects.filter(
            project_id__in=project_ids
        )
