"""A trace's page, which review mode shows too: the conversation, the diffs of its newest edits,
the timeline, the pairs found, and the review form (prefilled from the user's edit and the
suggested error modes)."""

from __future__ import annotations

from typing import cast

from django import forms
from django.contrib import admin
from django.db.models import Q
from django.db.models.functions import Substr
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from feedback_loop import conversations
from feedback_loop.admin.diff import diff
from feedback_loop.admin.display import events_url
from feedback_loop.admin.scoring import scores_context
from feedback_loop.conversations import text_of
from feedback_loop.internal import verdicts
from feedback_loop.internal.markup import unlike_edit
from feedback_loop.internal.rollup import is_trivial_edit, squash
from feedback_loop.models import (
    ErrorMode,
    EventKind,
    PreferencePair,
    Review,
    ReviewStatus,
    Trace,
)

TIMELINE_LIMIT = 200
# Edits a trace's page diffs (the newest); the rest are a link away. However many edits a trace
# gets, its page spends at most SHOWN_EDITS * WORK_BUDGET (admin/diff.py) on diffs.
SHOWN_EDITS = 3
# Edits the review form looks through for its prefill, newest first: each is compared whole
# with the answer, and a trace may have thousands.
PREFILL_EDITS = 20


def modes_for(project_id: int):
    return ErrorMode.objects.filter(Q(project__isnull=True) | Q(project_id=project_id)).order_by(
        "-is_builtin", "name"
    )


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
            "status": _(
                "As saved. Choose “reviewed” to confirm the error modes ticked, or “dismissed” "
                "(which unticks them) for feedback that needs nothing."
            ),
            "expected_output": _("Prefilled from the user's edit when there is one."),
        }

    def __init__(self, *args, trace: Trace | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        trace = trace or getattr(self.instance, "trace", None)
        if trace is None:
            return
        modes = cast(forms.ModelMultipleChoiceField, self.fields["error_modes"])
        modes.queryset = modes_for(trace.project_id)
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
        # The status shows what is saved (as the heading above the form says): a reviewer
        # chooses "reviewed", or confirms in review mode.


def prefill_edit(trace: Trace) -> str:
    """The latest non-trivial edit among the trace's newest PREFILL_EDITS, kept on the trace:
    the admin builds the review form several times a page."""
    edit: str | None = getattr(trace, "_fl_prefill_edit", None)
    if edit is None:
        answer = squash(trace.output)
        newest = (
            trace.events.filter(kind=EventKind.EDIT)
            .order_by("-timestamp", "-pk")
            .values_list("text", flat=True)[:PREFILL_EDITS]
        )
        edit = next((text for text in newest if text.strip() and squash(text) != answer), "")
        setattr(trace, "_fl_prefill_edit", edit)  # noqa: B010 (no such field on the model)
    return edit


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

        def get_form_kwargs(self, index):
            return {**formset.get_form_kwargs(self, index), "trace": obj}

        # The review form needs the trace (the page's object) even for a new review.
        return type("ReviewFormSet", (formset,), {"get_form_kwargs": get_form_kwargs})


def untick_dismissed(review: Review) -> None:
    """A dismissed trace has no error modes: the feedback needed nothing (call after saving the
    form's many-to-many data)."""
    if review.status == ReviewStatus.DISMISSED:
        review.error_modes.clear()


def stamp_review(review: Review, user) -> None:
    """Record who gave the verdict and when (not for a pending one), and end their claim; the
    caller saves the review."""
    review.reviewer = user
    review.reviewed_at = timezone.now() if review.status != ReviewStatus.PENDING else None
    review.claimed_by = None
    review.claimed_until = None


def verdicts_context(trace: Trace, user) -> dict:
    """The reviewers' verdicts on the trace, hidden from a reviewer who has not given theirs
    while the trace waits for more (internal/verdicts.py)."""
    review = Review.objects.filter(trace=trace).select_related("trace__project").first()
    if review is None:
        return {}
    shown = list(review.verdicts.select_related("reviewer").prefetch_related("error_modes"))
    needed = verdicts.needed(review)
    if shown and not verdicts.visible_to(review, shown, user):
        return {"verdicts_hidden": len(shown), "verdicts_needed": needed}
    return {"verdicts": shown, "verdicts_needed": needed}


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
        # Not "messages": the admin's templates show the messages framework's under that name.
        "conversation": [
            {
                "role": m["role"],
                "text": text_of(m),
                "tools": ", ".join(c["function"]["name"] for c in m.get("tool_calls", [])),
            }
            for m in conversations.of_trace(trace.pk)
        ],
        "timeline": events,
        "timeline_truncated": len(events) == TIMELINE_LIMIT,
        **edit_diffs(trace),
        "pairs": list(PreferencePair.objects.filter(trace=trace)[:20]),
        **scores_context(trace),
    }


def edit_diffs(trace: Trace) -> dict:
    """Context for a trace's page: its newest edits diffed against its answer, oldest first,
    and a link to all of them."""
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
                "not_paired": unlike_edit(model_said, event),
            }
        )
    return {
        "diffs": diffs,
        "edits_hidden": total - len(diffs),
        "edits_url": events_url(trace.project_id, trace.key, kind__exact=EventKind.EDIT.value),
    }
