"""Review mode hands out the queue one trace at a time: a reviewer claims a pending review for
CLAIM_MINUTES, and nobody else gets it meanwhile; a trace that needs several reviewers'
verdicts goes to each of them in turn, never twice to the same one. Claims are taken with
``SELECT ... FOR UPDATE SKIP LOCKED``, so two reviewers asking at the same moment get two
different traces rather than waiting for each other."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from feedback_loop.internal import access
from feedback_loop.models import NEEDS_REVIEW, Review, ReviewStatus

CLAIM_MINUTES = 15


def queue(user, project_id: int | None = None):
    """The pending reviews of the projects ``user`` curates (of one, with ``project_id``)."""
    reviews = access.scope(
        Review.objects.filter(status=ReviewStatus.PENDING, trace__sentiment__in=NEEDS_REVIEW),
        user,
        "trace__project",
    )
    if project_id:
        reviews = reviews.filter(trace__project_id=project_id)
    # A trace that needs several reviewers stays pending until they answered: not for one
    # who already did.
    reviews = reviews.exclude(verdicts__reviewer=user) if user.pk else reviews
    return reviews.order_by("-trace__last_signal_at", "-pk")


def claim_next(user, *, project_id: int | None = None, skip=()) -> Review | None:
    """The reviewer's current claim if they hold one, else the next free pending review."""
    now = timezone.now()
    mine = (
        queue(user, project_id).filter(claimed_by=user, claimed_until__gt=now).exclude(pk__in=skip)
    )
    for review in mine[:1]:
        return review
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lte=now)
    for _attempt in range(20):
        with transaction.atomic():
            # One row at a time: SKIP LOCKED then hands concurrent reviewers different rows.
            review = (
                queue(user, project_id)
                .select_for_update(skip_locked=True, of=("self",))
                .filter(free)
                .exclude(pk__in=skip)
                .first()
            )
            if review is None:
                return None
            # Compare-and-set: on databases without SKIP LOCKED (SQLite) two reviewers may
            # read the same row; only one of them changes it, the other tries the next.
            if _take(review, user, free, now):
                return review
    return None


def _take(review: Review, user, condition: Q, now) -> bool:
    until = now + timedelta(minutes=CLAIM_MINUTES)
    taken = Review.objects.filter(condition, pk=review.pk).update(
        claimed_by=user, claimed_until=until
    )
    if taken:
        review.claimed_by, review.claimed_until = user, until
    return bool(taken)


def claim(review: Review, user) -> bool:
    """Claim this review (going back to it); False if another reviewer holds it, or if it is
    in a project the user does not curate."""
    if not access.can_access(user, review.trace.project_id):
        return False
    now = timezone.now()
    with transaction.atomic():
        updated = (
            Review.objects.filter(pk=review.pk)
            .filter(Q(claimed_by=user) | Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
            .update(claimed_by=user, claimed_until=now + timedelta(minutes=CLAIM_MINUTES))
        )
    return bool(updated)


def release(review: Review, user) -> None:
    Review.objects.filter(pk=review.pk, claimed_by=user).update(claimed_by=None, claimed_until=None)
