"""The curator's admin: the review queue (the trace list), a trace's page (conversation, edit
diff, timeline, review form), review mode, bulk actions, the dashboard, datasets and exports."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, Exists, Q
from django.db.models.functions import Coalesce, Substr
from django.http import Http404, HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from feedback_loop import exports
from feedback_loop.curation import dashboard
from feedback_loop.curation.access import ProjectScopedAdmin, ScopedRelatedFilter, scoped
from feedback_loop.curation.diff import diff
from feedback_loop.curation.queue import (
    ErrorModeFilter,
    LabelFilter,
    ModelFilter,
    ReviewedFilter,
    SentimentFilter,
    SignalFilter,
)
from feedback_loop.internal.datasets import add_traces, latest_edits
from feedback_loop.internal.pipeline import process_traces
from feedback_loop.internal.rollup import is_trivial_edit, squash
from feedback_loop.models import (
    Dataset,
    DatasetVersion,
    ErrorMode,
    EventKind,
    FeedbackEvent,
    PreferencePair,
    Review,
    ReviewStatus,
    Trace,
)

TIMELINE_LIMIT = 200
# Edits a trace's page diffs (the newest); the rest are a link away. However many edits a trace
# gets, its page spends at most SHOWN_EDITS * WORK_BUDGET (curation/diff.py) on diffs.
SHOWN_EDITS = 3
# Edits the review form looks through for its prefill, newest first: each is compared whole
# with the answer, and a trace may have thousands.
PREFILL_EDITS = 20


def short_text(text: str, chars: int = 60) -> str:
    return Truncator(text).chars(chars)


def modes_for(project_id: int):
    return ErrorMode.objects.filter(Q(project__isnull=True) | Q(project_id=project_id)).order_by(
        "-is_builtin", "name"
    )


# -- the review form on a trace's page ---------------------------------------------------------


class ReviewForm(forms.ModelForm):
    class Meta:
        model = Review
        fields = ["status", "error_modes", "expected_output", "notes"]
        widgets = {
            "error_modes": forms.CheckboxSelectMultiple,
            "expected_output": forms.Textarea(attrs={"rows": 6, "cols": 80}),
            "notes": forms.Textarea(attrs={"rows": 3, "cols": 80}),
        }
        help_texts = {
            "expected_output": _("Prefilled from the user's edit when there is one."),
        }

    def __init__(self, *args, trace: Trace | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        trace = trace or getattr(self.instance, "trace", None)
        if trace is None:
            return
        self.fields["error_modes"].queryset = modes_for(trace.project_id)
        if self.is_bound:
            return
        review = self.instance
        if not (review.pk and review.expected_output):
            edit = prefill_edit(trace)
            if edit:
                self.initial["expected_output"] = edit
        if not review.pk or (
            review.status == ReviewStatus.PENDING and not review.error_modes.exists()
        ):
            # A reviewer confirms the suggestions (or unticks them).
            self.initial["error_modes"] = list(trace.suggested_error_modes.all())
        if not review.pk or review.status == ReviewStatus.PENDING:
            self.initial["status"] = ReviewStatus.REVIEWED


def prefill_edit(trace: Trace) -> str:
    """The latest non-trivial edit among the trace's newest PREFILL_EDITS, kept on the trace:
    the admin builds the review form several times a page."""
    if not hasattr(trace, "_fl_prefill_edit"):
        answer = squash(trace.output)
        newest = (
            trace.events.filter(kind=EventKind.EDIT)
            .order_by("-timestamp", "-pk")
            .values_list("text", flat=True)[:PREFILL_EDITS]
        )
        trace._fl_prefill_edit = next(
            (text for text in newest if text.strip() and squash(text) != answer), ""
        )
    return trace._fl_prefill_edit


class ReviewInline(admin.StackedInline):
    model = Review
    form = ReviewForm
    extra = 1
    max_num = 1
    can_delete = False
    verbose_name = _("review")
    verbose_name_plural = _("review")
    fields = ["status", "error_modes", "expected_output", "notes"]

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)

        class Formset(formset):
            def get_form_kwargs(self, index):
                return {**super().get_form_kwargs(index), "trace": obj}

        return Formset


def save_review(review: Review, user) -> None:
    review.reviewer = user
    review.reviewed_at = timezone.now() if review.status != ReviewStatus.PENDING else None
    review.claimed_by = None
    review.claimed_until = None


# -- the queue ---------------------------------------------------------------------------------


# 24x24 icon paths (Material-style), drawn inline so no font or file is needed.
_ICONS = {
    "up": "M2 21h4V9H2zm21-11a2 2 0 0 0-2-2h-6.3l1-4.9-.4-1.1L14 1 7.6 7.6Q7 8.2 7 9v10a2 2 "
    "0 0 0 2 2h9q1.3 0 1.8-1.2L23 12z",
    "edit": "M3 17.2V21h3.8L17.8 9.9l-3.7-3.7zM20.7 7a1 1 0 0 0 0-1.4l-2.3-2.3a1 1 0 0 0-1.4 "
    "0l-1.8 1.8 3.7 3.7z",
    "regenerate": "M17.6 6.4A8 8 0 1 0 19.7 14h-2.1a6 6 0 1 1-1.4-6.2L13 11h7V4z",
    "copy": "M16 1H4a2 2 0 0 0-2 2v14h2V3h12zm3 4H8a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h11a2 2 0 0 "
    "0 2-2V7a2 2 0 0 0-2-2zm0 16H8V7h11z",
    "comment": "M20 2H4a2 2 0 0 0-2 2v18l4-4h14a2 2 0 0 0 2-2V4a2 2 0 0 0-2-2z",
    "abandon": "M10.1 15.6 11.5 17l5-5-5-5-1.4 1.4 2.6 2.6H3v2h9.7zM19 3H5a2 2 0 0 0-2 "
    "2v4h2V5h14v14H5v-4H3v4a2 2 0 0 0 2 2h14a2 2 0 0 0 2-2V5a2 2 0 0 0-2-2z",
    "star": "M12 17.3 18.2 21l-1.6-7L22 9.2l-7.2-.6L12 2 9.2 8.6 2 9.2 7.5 14l-1.7 7z",
}


def icon(name: str, css: str = ""):
    return format_html(
        '<svg class="fl-icon {}" viewBox="0 0 24 24" aria-hidden="true"><path d="{}"/></svg>',
        css,
        _ICONS[name],
    )


def signal_icons(trace: Trace):
    parts = [
        ("up", "", trace.thumbs_up, _("thumbs up")),
        ("up", "fl-down", trace.thumbs_down, _("thumbs down")),
        ("edit", "", trace.edit_count, _("edits")),
        ("regenerate", "", trace.regenerate_count, _("regenerates")),
        ("copy", "", trace.copy_count, _("copies")),
        ("comment", "", trace.comment_count, _("comments")),
        ("abandon", "", trace.abandon_count, _("abandons")),
    ]
    html = format_html_join(
        "",
        '<span class="fl-signal" title="{} {}">{}{}</span>',
        ((count, label, icon(name, css), count) for name, css, count, label in parts if count),
    )
    if trace.rating_count:
        html += format_html(
            '<span class="fl-signal" title="{} ratings, mean {}">{}{}</span>',
            trace.rating_count,
            f"{trace.rating_avg:.1f}",
            icon("star", "fl-star"),
            f"{trace.rating_avg:.1f}",
        )
    return html or "-"


class CappedPaginator(Paginator):
    """Counts at most CAP rows: on a large queue an exact COUNT(*) costs more than the page.
    Beyond it the admin shows "10,000" and its page links stop there; filters narrow it."""

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        return self.object_list[: self.CAP].count()


@admin.register(Trace)
class TraceAdmin(ProjectScopedAdmin):
    list_display = [
        "trace",
        "signals",
        "sentiment_badge",
        "error_modes",
        "short_input",
        "model",
        "signal_strength",
        "last_signal_at",
    ]
    list_filter = [
        SentimentFilter,
        ReviewedFilter,
        SignalFilter,
        ErrorModeFilter,
        LabelFilter,
        ModelFilter,
        ("last_signal_at", admin.DateFieldListFilter),
        ("project", ScopedRelatedFilter),
    ]
    search_fields = ["key", "input", "output"]
    search_help_text = _("Searches trace ids, inputs, outputs and users' comments.")
    # Most recent signal first; traces without one by their creation (fl_trace_signal).
    ordering = [Coalesce("last_signal_at", "created_at").desc(), "-pk"]
    paginator = CappedPaginator
    list_per_page = 50
    show_full_result_count = False
    inlines = [ReviewInline]
    change_form_template = "admin/feedback_loop/trace/change_form.html"
    change_list_template = "admin/feedback_loop/trace/change_list.html"
    fieldsets = [
        (None, {"fields": ["key", "project", "model", "registered", "regenerated_from"]}),
        (
            _("Feedback"),
            {
                "fields": [
                    "sentiment",
                    "score",
                    "signals",
                    "suggested",
                    "last_signal_at",
                    "event_count",
                ]
            },
        ),
        (
            _("Context"),
            {
                "fields": ["session_id", "user_id", "metadata", "created_at", "updated_at"],
                "classes": ["collapse"],
            },
        ),
    ]
    actions = [
        "label_error_mode",
        "mark_reviewed",
        "add_to_dataset",
        "build_preference_pairs",
        "export_jsonl",
    ]

    def get_readonly_fields(self, request, obj=None):
        # Traces are the host's record; curators write reviews, not traces.
        return [f.name for f in Trace._meta.fields] + ["signals", "suggested", "event_count"]

    def has_add_permission(self, request):
        return False

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("project", "review")
            .prefetch_related("suggested_error_modes", "review__error_modes")
        )

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if search_term:
            commented = FeedbackEvent.objects.for_trace_ref(comment__icontains=search_term)
            queryset |= self.get_queryset(request).filter(Exists(commented))
        return queryset, may_have_duplicates

    # columns

    @admin.display(description=_("trace"), ordering="key")
    def trace(self, trace: Trace):
        short = trace.key if len(trace.key) <= 14 else trace.key[:12] + "…"
        return format_html('<span title="{}">{}</span>', trace.key, short)

    @admin.display(description=_("signals"))
    def signals(self, trace: Trace):
        return signal_icons(trace)

    @admin.display(description=_("sentiment"), ordering="sentiment")
    def sentiment_badge(self, trace: Trace):
        return format_html(
            '<span class="fl-sentiment fl-{}">{}</span>',
            trace.sentiment,
            trace.get_sentiment_display(),
        )

    @admin.display(description=_("error modes"))
    def error_modes(self, trace: Trace):
        review = getattr(trace, "review", None)
        confirmed = list(review.error_modes.all()) if review else []
        suggested = [m for m in trace.suggested_error_modes.all() if m not in confirmed]
        html = format_html_join(", ", "<strong>{}</strong>", ((m.name,) for m in confirmed))
        if suggested:
            html += format_html(
                '{}<em title="{}">{}</em>',
                ", " if confirmed else "",
                _("suggested, not confirmed"),
                ", ".join(f"{m.name}?" for m in suggested),
            )
        return html or "-"

    @admin.display(description=_("input"))
    def short_input(self, trace: Trace) -> str:
        return short_text(trace.input or trace.output)

    @admin.display(description=_("strength"), ordering="-strength")
    def signal_strength(self, trace: Trace) -> int:
        return trace.strength

    @admin.display(description=_("suggested error modes"))
    def suggested(self, trace: Trace) -> str:
        return ", ".join(m.name for m in trace.suggested_error_modes.all()) or "-"

    @admin.display(description=_("events"))
    def event_count(self, trace: Trace):
        from urllib.parse import urlencode

        count = trace.events.count()
        url = reverse("admin:feedback_loop_feedbackevent_changelist")
        query = urlencode({"project__id__exact": trace.project_id, "trace_key": trace.key})
        return format_html('<a href="{}?{}">{}</a>', url, query, count)

    def changelist_view(self, request, extra_context=None):
        is_queue = not ({"sentiment", "review"} & set(request.GET))
        title = _("Review queue: negative traces not reviewed") if is_queue else _("Traces")
        return super().changelist_view(request, {"title": title, **(extra_context or {})})

    # the trace's page

    def change_view(self, request, object_id, form_url="", extra_context=None):
        trace = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if trace is not None:
            extra.update(trace_context(trace))
        return super().change_view(request, object_id, form_url, extra)

    def save_formset(self, request, form, formset, change):
        reviews = formset.save(commit=False)
        for review in reviews:
            save_review(review, request.user)
            review.save()
        formset.save_m2m()

    # more pages

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("review/", view(self.review_mode_view), name="feedback_loop_trace_review"),
            path("dashboard/", view(self.dashboard_view), name="feedback_loop_dashboard"),
            *super().get_urls(),
        ]

    def review_mode_view(self, request):
        from feedback_loop.curation.review_mode import review_mode

        if not self.has_change_permission(request):
            raise PermissionDenied
        return review_mode(self, request)

    def dashboard_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Feedback dashboard"),
            **dashboard.context(request),
        }
        return TemplateResponse(request, "admin/feedback_loop/dashboard.html", context)

    # actions

    def _confirm(self, request, queryset, *, action: str, title: str, text: str, form=None):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "text": text,
            "form": form,
            "queryset": queryset[:20],
            "count": queryset.count(),
            "action": action,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
        }
        return TemplateResponse(request, "admin/feedback_loop/trace/action_confirm.html", context)

    @admin.action(description=_("Label with an error mode"), permissions=["change"])
    def label_error_mode(self, request, queryset):
        form = LabelForm(request.POST if "apply" in request.POST else None)
        form.fields["mode"].queryset = scoped(ErrorMode.objects.all(), request.user)
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

    @admin.action(description=_("Export as JSON Lines"), permissions=["view"])
    def export_jsonl(self, request, queryset):
        pks = list(queryset.values_list("pk", flat=True))

        def lines():
            for start in range(0, len(pks), 1000):
                chunk = Trace.objects.filter(pk__in=pks[start : start + 1000]).select_related(
                    "review"
                )
                edits = latest_edits(chunk)
                for trace in chunk.order_by("pk"):
                    review = getattr(trace, "review", None)
                    expected = (review.expected_output if review else "") or edits.get(trace.pk, "")
                    yield (
                        json.dumps(
                            {
                                "input": trace.input,
                                "output": trace.output,
                                "expected_output": expected,
                                "metadata": {"model": trace.model, "sentiment": trace.sentiment},
                                "source_trace_id": trace.key,
                            },
                            ensure_ascii=False,
                        )
                        + "\n"
                    )

        response = StreamingHttpResponse(lines(), content_type="application/jsonl")
        response["Content-Disposition"] = 'attachment; filename="traces.jsonl"'
        return response


class LabelForm(forms.Form):
    mode = forms.ModelChoiceField(ErrorMode.objects.all(), label=_("Error mode"))


class DatasetChoiceForm(forms.Form):
    dataset = forms.ModelChoiceField(Dataset.objects.none(), label=_("Dataset"))

    def __init__(self, *args, project_ids=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dataset"].queryset = Dataset.objects.filter(project_id__in=project_ids)


def trace_context(trace: Trace) -> dict:
    """What a trace's page (and review mode) shows beside the form."""
    # The timeline shows the start of a copied text; edits (up to 64 KiB each) are diffed
    # below, so their text and the outputs shown are not read for it.
    events = list(
        trace.events.defer("text", "output")
        .annotate(text_start=Substr("text", 1, 201))
        .order_by("timestamp", "pk")[:TIMELINE_LIMIT]
    )
    return {
        "trace": trace,
        "timeline": events,
        "timeline_truncated": len(events) == TIMELINE_LIMIT,
        **edit_diffs(trace),
        "pairs": list(PreferencePair.objects.filter(trace=trace)[:20]),
    }


def edit_diffs(trace: Trace) -> dict:
    """Context for a trace's page: its newest edits diffed against its answer, oldest first,
    and a link to all of them."""
    from urllib.parse import urlencode

    edits = trace.events.filter(kind=EventKind.EDIT).exclude(text="")
    newest = list(edits.order_by("-timestamp", "-pk")[:SHOWN_EDITS])
    total = len(newest) if len(newest) < SHOWN_EDITS else edits.count()
    diffs = []
    for event in reversed(newest):
        model_said = trace.output or event.output
        result = diff(model_said, event.text)
        diffs.append(
            {
                "event": event,
                "diff": result,
                "left": result.left,
                "right": result.right,
                "note": result.note,
                "trivial": is_trivial_edit(model_said, event.text),
            }
        )
    query = urlencode(
        {
            "project__id__exact": trace.project_id,
            "trace_key": trace.key,
            "kind__exact": EventKind.EDIT.value,
        }
    )
    return {
        "diffs": diffs,
        "edits_hidden": total - len(diffs),
        "edits_url": f"{reverse('admin:feedback_loop_feedbackevent_changelist')}?{query}",
    }


# -- datasets ----------------------------------------------------------------------------------


def can_export(request) -> bool:
    return request.user.has_perm("feedback_loop.export_dataset")


class VersionInline(admin.TabularInline):
    model = DatasetVersion
    fields = [
        "number",
        "note",
        "item_count",
        "erased_items",
        "created_by",
        "created_at",
        "export_links",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def get_fields(self, request, obj=None):
        return self.fields if can_export(request) else self.fields[:-1]

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description=_("export"))
    def export_links(self, version: DatasetVersion):
        return export_links(version.dataset, version)


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
        " · ", '<a href="{}?format={}{}" download>{}</a>', ((url, f, suffix, f) for f in fits)
    )


@admin.register(Dataset)
class DatasetAdmin(ProjectScopedAdmin):
    list_display = ["name", "project", "kind", "item_count", "version_count", "updated_at"]
    list_filter = ["kind", ("project", ScopedRelatedFilter)]
    search_fields = ["name", "description"]
    readonly_fields = ["items_link", "exports", "rule_checked_at"]
    fieldsets = [
        (None, {"fields": ["project", "name", "kind", "description"]}),
        (_("Items"), {"fields": ["items_link", "exports"]}),
        (_("Rule"), {"fields": ["rule", "rule_checked_at"], "classes": ["collapse"]}),
    ]
    inlines = [VersionInline]
    change_form_template = "admin/feedback_loop/dataset/change_form.html"

    def get_fieldsets(self, request, obj=None):
        if can_export(request):
            return self.fieldsets
        return [(_("Items"), {"fields": ["items_link"]}) if name == _("Items") else (name, opts)
                for name, opts in self.fieldsets]  # fmt: skip

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
            '<a href="{}?dataset__id__exact={}">{}</a>', url, dataset.pk, dataset._items
        )

    @admin.display(description=_("versions"), ordering="_versions")
    def version_count(self, dataset: Dataset) -> int:
        return dataset._versions

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
        response = StreamingHttpResponse(
            exports.stream(dataset, fmt, version), content_type=exports.CONTENT_TYPES[fmt]
        )
        response["Content-Disposition"] = (
            f'attachment; filename="{exports.filename(dataset, fmt, version)}"'
        )
        return response

    def freeze_view(self, request, pk):
        dataset = self._dataset(request, pk)
        if not self.has_change_permission(request, dataset):
            raise PermissionDenied
        if request.method == "POST":
            version = exports.freeze(
                dataset, user=request.user, note=request.POST.get("note", "")[:200]
            )
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
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": dataset,
            "title": _("Freeze a version"),
            "count": dataset.items.count(),
            "next_number": (
                dataset.versions.order_by("-number").values_list("number", flat=True).first() or 0
            )
            + 1,
        }
        return TemplateResponse(request, "admin/feedback_loop/dataset/freeze_confirm.html", context)


@admin.register(DatasetVersion)
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
    readonly_fields = [
        "dataset",
        "number",
        "note",
        "item_count",
        "erased_items",
        "created_by",
        "created_at",
        "export",
    ]
    fields = readonly_fields

    def get_fields(self, request, obj=None):
        return self.fields if can_export(request) else self.fields[:-1]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # a frozen version never changes

    @admin.display(description=_("export"))
    def export(self, version: DatasetVersion):
        return export_links(version.dataset, version)
