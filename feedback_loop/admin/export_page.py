"""A dataset's export page in the admin: the options of the format, what the export will write
and leave out (the same report the command prints and the API sends), and the download."""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from feedback_loop import exports
from feedback_loop.exports import ExportOptions
from feedback_loop.exports.options import REASONS


class ExportForm(forms.Form):
    """The options, as GET parameters (the same names as the API's)."""

    dpo_form = forms.ChoiceField(
        label=_("DPO form"),
        choices=[("conversational", _("conversational (messages)")), ("text", _("text"))],
        required=False,
        help_text=_("TRL renders the conversational form with the model's chat template."),
    )
    split = forms.ChoiceField(
        label=_("Split"),
        choices=[("", _("every row")), ("train", _("train side")), ("test", _("test side"))],
        required=False,
    )
    test_share = forms.FloatField(
        label=_("Test share"), min_value=0.001, max_value=0.999, required=False, initial=0.1
    )
    split_by = forms.ChoiceField(
        label=_("Split by"),
        choices=[("user", _("end user")), ("session", _("session")), ("time", _("time"))],
        required=False,
        help_text=_(
            "Every end user's (or session's) items fall on one side; time tests on the newest."
        ),
    )
    keep_incomplete = forms.BooleanField(
        label=_("Keep items without an expected output (jsonl, csv)"), required=False
    )
    drop_long = forms.BooleanField(label=_("Leave out rows over the length budget"), required=False)
    promptfoo_assert = forms.ChoiceField(
        label=_("promptfoo assertion"),
        choices=[
            (name, name)
            for name in ("equals", "contains", "icontains", "levenshtein", "similar", "llm-rubric")
        ],
        required=False,
    )

    def options(self) -> ExportOptions:
        data = self.cleaned_data
        return ExportOptions(
            dpo_form=data.get("dpo_form") or "conversational",
            split=data.get("split") or None,
            test_share=data.get("test_share") or 0.1,
            split_by=data.get("split_by") or "user",
            keep_incomplete=True if data.get("keep_incomplete") else None,
            drop_long=bool(data.get("drop_long")),
            promptfoo_assert=data.get("promptfoo_assert") or "equals",
        )


# The fields each format's page shows.
_FIELDS = {
    "dpo": ["dpo_form"],
    "jsonl": ["keep_incomplete"],
    "csv": ["keep_incomplete"],
    "promptfoo": ["promptfoo_assert"],
}


def export_page(model_admin, request, dataset, fmt: str, version):
    """The page, or the download itself when ``download`` (or ``manifest``) is asked for."""
    form = ExportForm(request.GET)
    options = form.options() if form.is_valid() else ExportOptions()
    if request.GET.get("download") or request.GET.get("manifest"):
        return exports.dataset_download(
            dataset, fmt, version, options, as_manifest=bool(request.GET.get("manifest"))
        )
    for name in list(form.fields):
        if name not in [*_FIELDS.get(fmt, []), "split", "test_share", "split_by", "drop_long"]:
            del form.fields[name]
    report = exports.preflight(dataset, fmt, version, options)
    params = {key: value for key, value in request.GET.items() if value}
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "original": dataset,
        "title": _("Export “%(name)s” as %(fmt)s") % {"name": dataset.name, "fmt": fmt},
        "form": form,
        "fmt": fmt,
        "version": version,
        "report": report,
        "left_out": [(REASONS[r], n) for r, n in sorted(report.left_out.items())],
        "kept": [(REASONS[r], n) for r, n in sorted(report.kept.items())],
        "download_query": urlencode({**params, "download": "1"}),
        "manifest_query": urlencode({**params, "manifest": "1"}),
        "with_manifest": fmt in ("openai-chat", "openai-preference"),
    }
    return TemplateResponse(request, "admin/feedback_loop/dataset/export.html", context)
