"""A reviewer's answer in review mode, and the trace's review it settles.

Each answer is kept as a ``Verdict`` (one per reviewer and trace; answering again replaces
one's own). With the project's ``reviews_per_trace`` at 1, the answer is the review's verdict at
once, as it always was. At N above one, the review stays pending (and in the queue for other
reviewers) until N different reviewers answered, then takes the **majority's** verdict:

- an error mode is confirmed when at least half of the N reviewers named it;
- the review is *dismissed* when more than half dismissed the trace and no mode is confirmed,
  else *reviewed* (a tie leans to "something is wrong": a curator can still dismiss it);
- the expected output is the newest one a reviewer gave; the notes are each reviewer's, signed.

Until a reviewer has answered, the others' verdicts on that trace are not shown to them
(``visible_to``), so each answer is independent; reviewer-against-reviewer agreement
(``internal/agreement.py``) is measured on these verdicts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from feedback_loop.models import ErrorMode, Review, ReviewStatus, Verdict


@dataclass(frozen=True)
class Answer:
    status: str  # ReviewStatus.REVIEWED or DISMISSED
    error_modes: tuple[ErrorMode, ...]
    expected_output: str = ""
    notes: str = ""


@dataclass(frozen=True)
class Outcome:
    review: Review  # as saved
    given: int  # verdicts on the trace, this one included
    needed: int  # the project's reviews per trace
    settled: bool  # the review took a verdict now (or had one already)
    earlier: list[Verdict]  # the other reviewers' verdicts, now this reviewer may see them


def needed(review: Review) -> int:
    return max(1, review.trace.project.reviews_per_trace)


def record(review: Review, reviewer, answer: Answer) -> Outcome:
    """Keep ``reviewer``'s answer on ``review``'s trace, and settle the review when it has the
    verdicts its project asks for. Ends the reviewer's claim."""
    modes = () if answer.status == ReviewStatus.DISMISSED else answer.error_modes
    with transaction.atomic():
        # The review's row serialises the answers on one trace: two reviewers answering at
        # once count each other.
        review = (
            Review.objects.select_for_update().select_related("trace__project").get(pk=review.pk)
        )
        verdict, _created = Verdict.objects.update_or_create(
            review=review,
            reviewer=reviewer,
            defaults={
                "status": answer.status,
                "expected_output": answer.expected_output,
                "notes": answer.notes,
            },
        )
        verdict.error_modes.set(modes)
        verdicts = list(review.verdicts.select_related("reviewer").prefetch_related("error_modes"))
        want = needed(review)
        if want == 1:
            _settle_with(
                review, reviewer, answer.status, list(modes), answer.expected_output, answer.notes
            )
        elif len(verdicts) >= want:  # answering again (going back) settles it anew
            _settle_by_majority(review, reviewer, verdicts, want)
        else:
            Review.objects.filter(pk=review.pk, claimed_by=reviewer).update(
                claimed_by=None, claimed_until=None
            )
    return Outcome(
        review=review,
        given=len(verdicts),
        needed=want,
        settled=review.status != ReviewStatus.PENDING,
        earlier=[v for v in verdicts if v.pk != verdict.pk],
    )


def majority(verdicts: Iterable[Verdict], want: int) -> tuple[str, list[ErrorMode]]:
    """The status and the confirmed modes of ``verdicts`` (see the module)."""
    verdicts = list(verdicts)
    named: Counter[int] = Counter()
    modes: dict[int, ErrorMode] = {}
    for verdict in verdicts:
        for mode in verdict.error_modes.all():
            named[mode.pk] += 1
            modes[mode.pk] = mode
    confirmed = [modes[pk] for pk, count in named.items() if 2 * count >= want]
    dismissed = sum(1 for v in verdicts if v.status == ReviewStatus.DISMISSED)
    if not confirmed and 2 * dismissed > len(verdicts):
        return ReviewStatus.DISMISSED, []
    return ReviewStatus.REVIEWED, sorted(confirmed, key=lambda mode: mode.pk)


def _settle_by_majority(review: Review, reviewer, verdicts: list[Verdict], want: int) -> None:
    status, modes = majority(verdicts, want)
    expected = next(
        (v.expected_output for v in reversed(verdicts) if v.expected_output.strip()), ""
    )
    notes = "\n".join(
        f"{v.reviewer or '-'}: {v.notes.strip()}" for v in verdicts if v.notes.strip()
    )
    _settle_with(review, reviewer, status, modes, expected, notes)


def _settle_with(review: Review, reviewer, status, modes, expected_output, notes) -> None:
    review.status = status
    review.expected_output = expected_output
    review.notes = notes
    review.reviewer = reviewer
    review.reviewed_at = timezone.now()
    review.claimed_by = None
    review.claimed_until = None
    review.save()
    review.error_modes.set(modes if status == ReviewStatus.REVIEWED else [])


def visible_to(review: Review, verdicts: list[Verdict], user) -> bool:
    """Whether ``user`` may see ``verdicts``, the reviewers' verdicts on this trace: once it is
    settled, or once they gave their own."""
    if review.status != ReviewStatus.PENDING or needed(review) == 1:
        return True
    return any(verdict.reviewer_id == user.pk for verdict in verdicts)
