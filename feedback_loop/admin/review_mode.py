"""Review mode: the queue one trace at a time, with keyboard shortcuts. Each trace shown is
claimed for the reviewer (see claims.py), so two reviewers never get the same one."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _

from feedback_loop.admin import claims
from feedback_loop.admin.access import scoped
from feedback_loop.admin.trace_page import ReviewForm, trace_context
from feedback_loop.internal import verdicts
from feedback_loop.internal.datasets import add_traces
from feedback_loop.models import Dataset, Review, ReviewStatus

HISTORY = 50  # reviews a reviewer can go back through with "k"
SKIPPED = 500  # reviews a session remembers as skipped


def _url(project_id=None, review=None) -> str:
    url = reverse("admin:feedback_loop_trace_review")
    params = [f"project={project_id}" if project_id else "", f"review={review}" if review else ""]
    query = "&".join(p for p in params if p)
    return f"{url}?{query}" if query else url


def _review(request, wanted: str) -> Review | None:
    """A review of the user's projects by its id (from the URL or the form), or None."""
    if not wanted.isdigit():
        return None
    return (
        scoped(Review.objects.select_related("trace"), request.user).filter(pk=int(wanted)).first()
    )


def view(model_admin, request):
    project = request.GET.get("project") or request.POST.get("project") or ""
    project_id = int(project) if project.isdigit() else None
    if request.method == "POST":
        return _answer(model_admin, request, project_id)
    review = _next_review(request, project_id)
    form = ReviewForm(instance=review, trace=review.trace) if review else None
    return _page(model_admin, request, project_id, review, form)


def _next_review(request, project_id: int | None) -> Review | None:
    """The review asked for by ``?review=`` (going back), else the next one to claim."""
    session = request.session
    skipped: list[int] = session.get("fl_review_skipped", [])
    review = _review(request, request.GET.get("review", ""))
    if review is not None and not claims.claim(review, request.user):
        messages.warning(request, _("Another reviewer has that trace now."))
        review = None
    if review is None:
        review = claims.claim_next(request.user, project_id=project_id, skip=skipped)
    if review is None and skipped:
        # Everything left was skipped: start over with the skipped ones.
        session["fl_review_skipped"] = []
        review = claims.claim_next(request.user, project_id=project_id)
    return review


def _answer(model_admin, request, project_id: int | None):
    """A reviewer's answer on the trace shown: skip, add to a dataset, confirm or dismiss."""
    review = _review(request, request.POST.get("review", ""))
    if review is None:
        return HttpResponseRedirect(_url(project_id))
    if not claims.claim(review, request.user):
        messages.warning(request, _("Another reviewer has this trace now; here is the next."))
        return HttpResponseRedirect(_url(project_id))
    action = request.POST.get("do", "confirm")
    if action == "skip":
        claims.release(review, request.user)
        skipped = request.session.get("fl_review_skipped", [])
        request.session["fl_review_skipped"] = [*skipped, review.pk][-SKIPPED:]
        _remember(request, review)  # "k" goes back to it
        return HttpResponseRedirect(_url(project_id))
    if action == "dataset":
        _add_to_dataset(request, review)
        return HttpResponseRedirect(_url(project_id, review.pk))
    form = ReviewForm(request.POST, instance=review, trace=review.trace)
    if not form.is_valid():
        return _page(model_admin, request, project_id, review, form)
    data = form.cleaned_data
    status = data["status"]
    if action == "dismiss":
        status = ReviewStatus.DISMISSED
    elif status == ReviewStatus.PENDING:
        status = ReviewStatus.REVIEWED
    outcome = verdicts.record(
        review,
        request.user,
        verdicts.Answer(status, tuple(data["error_modes"]), data["expected_output"], data["notes"]),
    )
    model_admin.log_change(request, review.trace, f"Review: {status}.")
    _remember(request, review)
    messages.success(request, _said(outcome.review, status, outcome))
    return HttpResponseRedirect(_url(project_id))


def _remember(request, review: Review) -> None:
    """The reviews shown before, newest last, for "k" (confirmed, dismissed or skipped)."""
    history = [pk for pk in request.session.get("fl_review_history", []) if pk != review.pk]
    request.session["fl_review_history"] = [*history, review.pk][-HISTORY:]


def _said(review: Review, status: str, outcome: verdicts.Outcome) -> str:
    """What review mode confirms once an answer is saved (the next trace is shown then); with
    several reviewers per trace, how many answered and, now that this one has, what the
    others said."""
    key = review.trace.key
    if outcome.needed == 1:
        return _said_of(key, status, review.error_modes.all())
    mine = next(v for v in review.verdicts.all() if v not in outcome.earlier)
    said = _said_of(key, status, mine.error_modes.all())
    if outcome.settled:
        said += " " + _("All %(n)d reviewers answered; the review says: %(verdict)s.") % {
            "n": outcome.needed,
            "verdict": verdict_words(review.status, review.error_modes.all()),
        }
    else:
        said += " " + _("%(given)d of %(n)d reviewers answered; it stays in the queue.") % {
            "given": outcome.given,
            "n": outcome.needed,
        }
    if outcome.earlier:
        said += " " + _("Earlier: %(verdicts)s.") % {
            "verdicts": "; ".join(
                f"{v.reviewer or '-'} {verdict_words(v.status, v.error_modes.all())}"
                for v in outcome.earlier
            )
        }
    return said


def _said_of(key: str, status: str, modes) -> str:
    if status == ReviewStatus.DISMISSED:
        return _("Dismissed trace %(id)s.") % {"id": key}
    names = ", ".join(mode.name for mode in modes)
    if not names:
        return _("Confirmed trace %(id)s as reviewed, with no error mode.") % {"id": key}
    return _("Confirmed trace %(id)s as reviewed, with %(modes)s.") % {"id": key, "modes": names}


def verdict_words(status: str, modes) -> str:
    """ "dismissed", "reviewed (format, length)" or "reviewed (no error mode)"."""
    if status == ReviewStatus.DISMISSED:
        return _("dismissed")
    names = ", ".join(mode.name for mode in modes) or _("no error mode")
    return _("reviewed (%(modes)s)") % {"modes": names}


def _add_to_dataset(request, review: Review) -> None:
    if not request.user.has_perm("feedback_loop.change_dataset"):
        raise PermissionDenied
    dataset = Dataset.objects.filter(
        pk=request.POST.get("dataset") or 0, project_id=review.trace.project_id
    ).first()
    if dataset is None:
        messages.error(request, _("Choose a dataset of this trace's project."))
    elif add_traces(dataset, [review.trace_id]):
        messages.success(request, _("Added to “%(name)s”.") % {"name": dataset.name})
    else:
        messages.success(
            request, _("Already in “%(name)s” (or it has no pair).") % {"name": dataset.name}
        )


def _page(model_admin, request, project_id: int | None, review: Review | None, form):
    history: list[int] = request.session.get("fl_review_history", [])
    previous = next((pk for pk in reversed(history) if not review or pk != review.pk), None)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": _("Review mode"),
        "review": review,
        "form": form,
        "project_id": project_id or "",
        "remaining": claims.queue(request.user, project_id).count(),
        "previous_url": _url(project_id, previous) if previous else "",
        "datasets": Dataset.objects.filter(project_id=review.trace.project_id) if review else [],
        **(trace_context(review.trace) if review else {}),
        "verdicts_needed": verdicts.needed(review) if review else 1,
        "verdicts_given": review.verdicts.count() if review else 0,
    }
    return TemplateResponse(request, "admin/feedback_loop/trace/review_mode.html", context)
