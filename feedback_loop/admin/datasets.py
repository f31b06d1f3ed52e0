"""Datasets: their items, exports and frozen versions."""

from __future__ import annotations

from typing import cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import display_for_field
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Field
from django.http import Http404, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from feedback_loop import exports
from feedback_loop.admin.access import ProjectScopedAdmin, ScopedRelatedFilter
from feedback_loop.admin.confirm import confirmation
from feedback_loop.admin.display import short_text
from feedback_loop.admin.export_page import export_page
from feedback_loop.internal.datasets import freeze
from feedback_loop.models import Dataset, DatasetItem, DatasetVersion, content_digest


def can_export(request) -> bool:
    return request.user.has_perm("feedback_loop.export_dataset")


# What a frozen version shows, in its dataset's page and on its own (with exports last).
VERSION_FIELDS = ["number", "note", "item_count", "erased_items", "created_by", "created_at"]


def _annotation(obj, name: str) -> int:
    """A count the admin's queryset annotated ``obj`` with."""
    return getattr(obj, name)


def versions_table(dataset: Dataset, with_exports: bool):
    """A dataset's frozen versions, newest first, as a table (a read-only field of its page)."""
    versions = list(dataset.versions.select_related("created_by").order_by("-number"))
    if not versions:
        return _("None yet: “Freeze a version” keeps the items as they are now.")
    fields = [cast(Field, DatasetVersion._meta.get_field(name)) for name in VERSION_FIELDS]
    heads = [capfirst(field.verbose_name) for field in fields]
    heads += [capfirst(_("export"))] if with_exports else []
    rows = [
        [display_for_field(getattr(version, field.name), field, "-") for field in fields]
        + ([export_links(dataset, version)] if with_exports else [])
        for version in versions
    ]
    return format_html(
        '<table class="fl-versions"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>',
        format_html_join("", '<th scope="col">{}</th>', ((head,) for head in heads)),
        format_html_join(
            "",
            "<tr>{}</tr>",
            ((format_html_join("", "<td>{}</td>", ((cell,) for cell in row)),) for row in rows),
        ),
    )


def export_links(dataset: Dataset, version: DatasetVersion | None = None):
    fits = []
    for fmt in exports.FORMATS:
        try:
            exports.check(dataset, fmt)
        except exports.ExportError:
            continue
        fits.append(fmt)
    url = reverse("admin:feedback_loop_dataset_export", args=[dataset.pk])
    suffix = f"&version={version.number}" if version else ""
    return format_html_join(
        " · ", '<a href="{}?format={}{}">{}</a>', ((url, f, suffix, f) for f in fits)
    )


class DatasetAdmin(ProjectScopedAdmin):
    list_display = ["name", "project", "kind", "item_count", "version_count", "updated_at"]
    list_filter = ["kind", ("project", ScopedRelatedFilter)]
    search_fields = ["name", "description"]
    readonly_fields = ["items_link", "exports", "rule_checked_at", "versions", "versions_plain"]
    fieldsets = [
        (None, {"fields": ["project", "name", "kind", "description"]}),
        (_("Items"), {"fields": ["items_link", "exports"]}),
        (_("Rule"), {"fields": ["rule", "rule_checked_at"], "classes": ["collapse"]}),
    ]
    change_form_template = "admin/feedback_loop/dataset/change_form.html"

    def get_fieldsets(self, request, obj=None):
        # Frozen versions are a table, not an inline: they are never edited here (and the
        # admin's tabular inline has headers without text).
        versions = "versions" if can_export(request) else "versions_plain"
        frozen = [(_("Frozen versions"), {"fields": [versions]})] if obj else []
        if can_export(request):
            return [*self.fieldsets, *frozen]
        return [(_("Items"), {"fields": ["items_link"]}) if name == _("Items") else (name, opts)
                for name, opts in self.fieldsets] + frozen  # fmt: skip

    @admin.display(description=_("versions"))
    def versions(self, dataset: Dataset):
        return versions_table(dataset, with_exports=True)

    @admin.display(description=_("versions"))
    def versions_plain(self, dataset: Dataset):
        return versions_table(dataset, with_exports=False)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                _items=Count("items", distinct=True), _versions=Count("versions", distinct=True)
            )
        )

    @admin.display(description=_("items"), ordering="_items")
    def item_count(self, dataset: Dataset):
        url = reverse("admin:feedback_loop_datasetitem_changelist")
        return format_html(
            '<a href="{}?dataset__id__exact={}">{}</a>',
            url,
            dataset.pk,
            _annotation(dataset, "_items"),
        )

    @admin.display(description=_("versions"), ordering="_versions")
    def version_count(self, dataset: Dataset) -> int:
        return _annotation(dataset, "_versions")

    @admin.display(description=_("items"))
    def items_link(self, dataset: Dataset):
        if not dataset.pk:
            return "-"
        url = reverse("admin:feedback_loop_datasetitem_changelist")
        return format_html(
            '<a href="{}?dataset__id__exact={}">{}</a>',
            url,
            dataset.pk,
            ngettext("%d item", "%d items", dataset.items.count()) % dataset.items.count(),
        )

    @admin.display(description=_("export the live items"))
    def exports(self, dataset: Dataset):
        return export_links(dataset) if dataset.pk else "-"

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/export/", view(self.export_view), name="feedback_loop_dataset_export"),
            path("<int:pk>/freeze/", view(self.freeze_view), name="feedback_loop_dataset_freeze"),
            *super().get_urls(),
        ]

    def _dataset(self, request, pk) -> Dataset:
        dataset = self.get_object(request, str(pk))
        if dataset is None:
            raise Http404
        return dataset

    def export_view(self, request, pk):
        dataset = self._dataset(request, pk)
        if not (self.has_view_permission(request, dataset) and can_export(request)):
            raise PermissionDenied
        fmt = request.GET.get("format", "jsonl")
        version = None
        if request.GET.get("version"):
            version = dataset.versions.filter(number=request.GET["version"]).first()
            if version is None:
                raise Http404
        try:
            exports.check(dataset, fmt)
        except exports.ExportError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(
                reverse("admin:feedback_loop_dataset_change", args=[dataset.pk])
            )
        return export_page(self, request, dataset, fmt, version)

    def freeze_view(self, request, pk):
        dataset = self._dataset(request, pk)
        if not self.has_change_permission(request, dataset):
            raise PermissionDenied
        if request.method == "POST":
            version = freeze(dataset, user=request.user, note=request.POST.get("note", "")[:200])
            self.log_change(request, dataset, f"Froze version {version.number}.")
            self.message_user(
                request,
                _(
                    "Froze “%(name)s” as version %(n)d with %(items)d items; its exports will "
                    "never change."
                )
                % {"name": dataset.name, "n": version.number, "items": version.item_count},
                messages.SUCCESS,
            )
            return HttpResponseRedirect(
                reverse("admin:feedback_loop_dataset_change", args=[dataset.pk])
            )
        last = dataset.versions.order_by("-number").values_list("number", flat=True).first()
        return confirmation(
            self,
            request,
            title=_("Freeze a version"),
            text=_(
                "Version %(n)d of “%(name)s” will hold a copy of its %(count)d items. Its "
                "exports never change, whatever happens to the dataset later."
            )
            % {"n": (last or 0) + 1, "name": dataset.name, "count": dataset.items.count()},
            submit=_("Freeze it"),
            form=FreezeForm(),
            original=dataset,
        )


class FreezeForm(forms.Form):
    note = forms.CharField(label=_("Note"), max_length=200, required=False)
    note.widget.attrs["size"] = 60


class DatasetVersionAdmin(ProjectScopedAdmin):
    list_display = [
        "__str__",
        "dataset",
        "number",
        "item_count",
        "erased_items",
        "note",
        "created_by",
        "created_at",
    ]
    list_filter = [("dataset", ScopedRelatedFilter)]
    fields = readonly_fields = ("dataset", *VERSION_FIELDS, "export")

    def get_fields(self, request, obj=None):
        return self.fields if can_export(request) else self.fields[:-1]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # a frozen version never changes

    @admin.display(description=_("export"))
    def export(self, version: DatasetVersion):
        return export_links(version.dataset, version)


class DatasetItemForm(forms.ModelForm):
    class Meta:
        model = DatasetItem
        fields = ["dataset", "trace", "input", "expected_output", "chosen", "rejected", "metadata"]

    def clean(self):
        super().clean()
        cleaned = self.cleaned_data
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
            twin = same.values_list("pk", flat=True).first()
            if twin is not None:
                raise forms.ValidationError(
                    _("“%(dataset)s” already has an item with this content (#%(pk)d).")
                    % {"dataset": dataset, "pk": twin}
                )
        return cleaned


class DatasetItemAdmin(ProjectScopedAdmin):
    form = DatasetItemForm
    list_display = ["id", "dataset", "source_trace", "short_input", "created_at"]
    list_filter = [("dataset", ScopedRelatedFilter)]
    search_fields = ["input", "expected_output", "chosen", "rejected", "trace__key"]
    list_select_related = ["dataset", "trace"]
    raw_id_fields = ["trace"]

    @admin.display(description=_("source trace"))
    def source_trace(self, item: DatasetItem):
        trace = item.trace
        if trace is None:
            return "-"
        url = reverse("admin:feedback_loop_trace_change", args=[trace.pk])
        return format_html('<a href="{}">{}</a>', url, trace.key)

    @admin.display(description=_("input"))
    def short_input(self, item: DatasetItem) -> str:
        return short_text(item.input)
