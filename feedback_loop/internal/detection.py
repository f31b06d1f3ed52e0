"""How well automated suggestions find the error modes reviewers confirm: precision and recall
per mode, for the triage classifier and for online scoring's scorers (an LLM judge among them).

**Triage vs reviewers**: over the traces the classifier runs on (negative or mixed) whose
review has a verdict (dismissed, or reviewed with a confirmed mode), the suggested modes
(``Trace.suggested_error_modes``) against the confirmed ones (none on a dismissed trace): per
mode, precision (confirmed among suggested, n = suggested) and recall (suggested among
confirmed, n = confirmed); overall, the same summed over the modes (micro precision and recall).

**Scorers vs reviewers**: a failing score (below 0.5) of a scorer that ``SCORER_ERROR_MODES``
maps to a mode (``{"judge": "hallucination", "refusal": "refusal", ...}``) suggests that mode.
Over the traces with such a score (the newest one by the scorer) and a reviewer verdict, the
same precision and recall for the scorer's mode.

Each figure is counted in the database (grouped queries over the link tables), so its cost
follows the window's reviews, not a Python loop over them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)

from feedback_loop.conf import app_settings
from feedback_loop.internal.statistics import rounded
from feedback_loop.models import NEEDS_REVIEW, Review, ReviewStatus, Trace, TraceScore

MIN_N = 5  # below this many, a precision or recall is "not enough data"
FAILING = 0.5


@dataclass(frozen=True)
class Detection:
    """Suggestions of a mode (or all modes) against the confirmed ones."""

    label: str
    suggested: int  # precision's n
    confirmed: int  # recall's n
    both: int

    @property
    def precision(self) -> float | None:
        return self.both / self.suggested if self.suggested else None

    @property
    def recall(self) -> float | None:
        return self.both / self.confirmed if self.confirmed else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "suggested": self.suggested,
            "confirmed": self.confirmed,
            "both": self.both,
            "precision": rounded(self.precision),
            "recall": rounded(self.recall),
            "precision_enough": self.suggested >= MIN_N,
            "recall_enough": self.confirmed >= MIN_N,
        }


@dataclass(frozen=True)
class ScorerDetection:
    scorer: str
    error_mode: str
    detection: Detection

    def as_dict(self) -> dict[str, Any]:
        return {"scorer": self.scorer, "error_mode": self.error_mode, **self.detection.as_dict()}


def confirms_a_mode() -> Exists:
    """The outer review confirmed at least one error mode (to annotate or filter reviews)."""
    return Exists(Review.error_modes.through.objects.filter(review=OuterRef("pk")))


def with_verdict(reviews: QuerySet[Review]) -> QuerySet[Review]:
    """The finished reviews that say something: dismissed, or reviewed with a confirmed mode."""
    return reviews.filter(
        Q(status=ReviewStatus.DISMISSED) | (Q(status=ReviewStatus.REVIEWED) & Q(confirms_a_mode()))
    )


def _confirmed_here(slug: Any) -> Exists:
    """The outer row's trace (``trace_id``) has a review that confirmed mode ``slug`` (a value,
    or an OuterRef to the outer row's mode)."""
    return Exists(
        Review.error_modes.through.objects.filter(
            review__trace_id=OuterRef("trace_id"),
            review__status=ReviewStatus.REVIEWED,
            errormode__slug=slug,
        )
    )


def triage(traces: QuerySet[Trace]) -> tuple[Detection, list[Detection]]:
    """Suggested against confirmed modes on the window's triaged traces with a reviewer
    verdict: three grouped queries."""
    judged = with_verdict(
        Review.objects.filter(trace__in=traces.filter(sentiment__in=NEEDS_REVIEW))
    )
    trace_ids = judged.values("trace_id")
    links = Trace.suggested_error_modes.through.objects.filter(trace_id__in=trace_ids)
    suggested = count_by_slug(links, "errormode__slug")
    both = count_by_slug(
        links.filter(
            Exists(
                Review.error_modes.through.objects.filter(
                    review__trace_id=OuterRef("trace_id"),
                    review__status=ReviewStatus.REVIEWED,
                    errormode_id=OuterRef("errormode_id"),
                )
            )
        ),
        "errormode__slug",
    )
    confirmed = count_by_slug(
        Review.error_modes.through.objects.filter(
            review__in=judged.filter(status=ReviewStatus.REVIEWED)
        ),
        "errormode__slug",
    )
    rows = [
        Detection(slug, suggested.get(slug, 0), confirmed.get(slug, 0), both.get(slug, 0))
        for slug in suggested.keys() | confirmed.keys()
    ]
    rows.sort(key=lambda row: (-max(row.suggested, row.confirmed), row.label))
    total = Detection(
        "all",
        sum(r.suggested for r in rows),
        sum(r.confirmed for r in rows),
        sum(r.both for r in rows),
    )
    return total, rows


def scorers(traces: QuerySet[Trace]) -> list[ScorerDetection]:
    """Each mapped scorer's failing scores against its mode, on the window's traces with a
    reviewer verdict: one grouped query."""
    mapping: dict[str, str] = dict(app_settings.SCORER_ERROR_MODES or {})
    if not mapping:
        return []
    judged = with_verdict(Review.objects.filter(trace__in=traces)).values("trace_id")
    newest = TraceScore.objects.filter(
        trace_id=OuterRef("trace_id"), scorer=OuterRef("scorer")
    ).order_by("-created_at", "-pk")
    scores = TraceScore.objects.filter(
        trace_id__in=judged, scorer__in=list(mapping), value__isnull=False
    ).filter(pk=Subquery(newest.values("pk")[:1]))
    confirmed = Case(
        *(When(scorer=scorer, then=_confirmed_here(slug)) for scorer, slug in mapping.items()),
        default=Value(False),
        output_field=BooleanField(),
    )
    rows = (
        scores.annotate(confirmed=confirmed)
        .values("scorer")
        .annotate(
            failing_n=Count("pk", filter=Q(value__lt=FAILING)),
            confirmed_n=Count("pk", filter=Q(confirmed=True)),
            both=Count("pk", filter=Q(value__lt=FAILING, confirmed=True)),
        )
        .order_by("scorer")
    )
    return [
        ScorerDetection(
            row["scorer"],
            mapping[row["scorer"]],
            Detection(mapping[row["scorer"]], row["failing_n"], row["confirmed_n"], row["both"]),
        )
        for row in rows
    ]


def count_by_slug(queryset, slug_path: str) -> dict[str, int]:
    """Rows of ``queryset`` per error mode slug (at ``slug_path``)."""
    return dict(
        queryset.values(slug_path).annotate(n=Count("pk")).order_by().values_list(slug_path, "n")
    )
