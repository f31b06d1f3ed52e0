"""Agreement between the users, the reviewers, the triage classifier and the scorers, on the
same traces.

**Verdicts.** A trace's *user verdict* is its sentiment: ``positive`` is "fine", ``negative``
is "bad"; ``mixed`` and ``none`` are no verdict. A trace's *reviewer verdict* is its finished
review: ``dismissed`` is "fine" (the reviewer found no problem), ``reviewed`` with at least one
confirmed error mode is "bad"; a pending review, or one marked reviewed with no error mode (the
bulk "mark as reviewed" action, or a reviewer who named no problem), is no verdict. A trace is
*judged* when it has both verdicts.

**Users vs reviewers** (``users_vs_reviewers``): over the judged traces, the share whose
verdicts agree, with its Wilson interval, and Cohen's kappa of the 2x2 table; overall (``all``)
and per reviewer (``by_reviewer``: the review's reviewer; none when that account is gone).

**Per error mode** (``users_vs_reviewers.by_error_mode``): the users' reasons against the
reviewers' modes. For a mode (by slug), over the judged traces where the user said which
problem they saw, each rater says "this mode" or "not this mode": the user says it when the mode
is among the reasons of the trace's current negative votes (a user who found the answer fine
names no mode), the reviewer when they confirmed it (a dismissal confirms none). Judged traces
with a negative user verdict and no reason are left out of these tables: the user did not say
which problem it was.

**Reviewers vs reviewers** (``reviewers_vs_reviewers``): where a project asks for several
reviewers per trace, each one's own verdict (``Verdict``, internal/verdicts.py) on the same
trace: the share of agreeing pairs of verdicts and Fleiss' kappa (any number of reviewers per
trace), overall and per mode ("named it" or not).

**Triage and scorers vs reviewers** (``triage_vs_reviewers``, ``scorers_vs_reviewers``):
precision and recall of the suggested modes against the confirmed ones (internal/detection.py).

Figures come with their n; below ``MIN_N`` the dashboard says there is not enough data, as
online scoring does. The dashboard shows them from the cache (``AGREEMENT``, a ``Deferred``:
computed by the ``feedback_loop.refresh_agreement`` task, again when older than
FRESH_SECONDS); the server API computes them on each call. Counted in the database by grouped
queries over the reviews of the traces given (one row per reviewer and verdict); only the
judged negative traces' reasons are read, a row per vote, by the events' (project, trace)
index.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Self

from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from feedback_loop.internal import detection
from feedback_loop.internal.deferred import Deferred, projects_of
from feedback_loop.internal.detection import Detection, ScorerDetection
from feedback_loop.internal.statistics import fleiss_kappa, kappa_of_table, rounded, wilson
from feedback_loop.models import (
    NEEDS_REVIEW,
    ErrorMode,
    FeedbackEvent,
    Review,
    ReviewStatus,
    Sentiment,
    Trace,
    Verdict,
)

# Below this many traces, no figures (as online scoring's AGREEMENT_MIN_N).
MIN_N = 5
# The dashboard's figures: kept a day, computed again when older than ten minutes.
CACHE_SECONDS = 24 * 3600
FRESH_SECONDS = 600
BAD, FINE = "bad", "fine"
_FINISHED = (ReviewStatus.REVIEWED, ReviewStatus.DISMISSED)


@dataclass(frozen=True)
class Agreement:
    """Two raters' labels on the same traces: the share that agree and Cohen's kappa."""

    label: str  # what the row is about: "all", a reviewer's name, an error mode's slug
    n: int
    agree: int
    kappa: float | None
    # The 2x2 table: {(user's label, reviewer's label): traces}, labels "bad"/"fine" (per mode:
    # "yes"/"no").
    table: dict[tuple[Any, Any], int] = field(default_factory=dict)

    @classmethod
    def of(cls, label: str, table: Mapping[tuple[Any, Any], int]) -> Self:
        n = sum(table.values())
        agree = sum(count for (a, b), count in table.items() if a == b)
        return cls(label, n, agree, kappa_of_table(table), dict(table))

    @property
    def share(self) -> float | None:
        return self.agree / self.n if self.n else None

    @property
    def enough(self) -> bool:
        return self.n >= MIN_N

    def as_dict(self) -> dict[str, Any]:
        interval = wilson(self.agree, self.n)
        return {
            "n": self.n,
            "agree": self.agree,
            "share": rounded(self.share),
            "interval": None if interval is None else [rounded(x) for x in interval],
            "kappa": rounded(self.kappa),
            "enough": self.enough,
        }


@dataclass(frozen=True)
class RaterAgreement:
    """Several reviewers' labels on the same traces: the share of agreeing pairs of verdicts
    and Fleiss' kappa (which takes any number of reviewers per trace)."""

    label: str
    traces: int  # with two or more labelled verdicts
    pairs: int
    agree: int  # agreeing pairs
    kappa: float | None

    @classmethod
    def of(cls, label: str, subjects: list[Counter[str]]) -> Self:
        rated = [counts for counts in subjects if counts.total() >= 2]
        pairs = sum(c.total() * (c.total() - 1) // 2 for c in rated)
        agree = sum(n * (n - 1) // 2 for c in rated for n in c.values())
        return cls(label, len(rated), pairs, agree, fleiss_kappa(rated))

    @property
    def share(self) -> float | None:
        return self.agree / self.pairs if self.pairs else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "n": self.traces,
            "pairs": self.pairs,
            "agree": self.agree,
            "share": rounded(self.share),
            "kappa": rounded(self.kappa),
            "enough": self.traces >= MIN_N,
        }


@dataclass(frozen=True)
class Figures:
    users: Agreement
    by_reviewer: list[Agreement]
    by_error_mode: list[Agreement]
    reviewers: RaterAgreement
    reviewers_by_error_mode: list[RaterAgreement]
    triage: Detection
    triage_by_error_mode: list[Detection]
    scorers: list[ScorerDetection]
    mode_names: dict[str, str]
    unclear: int  # reviewed traces with a user verdict but no confirmed mode: left out

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the API and the dashboard's cache."""
        return {
            "min_n": MIN_N,
            "users_vs_reviewers": {
                "all": self.users.as_dict(),
                "reviewed_without_error_mode": self.unclear,
                "by_reviewer": [
                    {"reviewer": row.label or None, **row.as_dict()} for row in self.by_reviewer
                ],
                "by_error_mode": [self._mode(row) | row.as_dict() for row in self.by_error_mode],
            },
            "reviewers_vs_reviewers": {
                "all": self.reviewers.as_dict(),
                "by_error_mode": [
                    self._mode(row) | row.as_dict() for row in self.reviewers_by_error_mode
                ],
            },
            "triage_vs_reviewers": {
                "all": self.triage.as_dict(),
                "by_error_mode": [
                    self._mode(row) | row.as_dict() for row in self.triage_by_error_mode
                ],
            },
            "scorers_vs_reviewers": [
                row.as_dict() | {"name": self.mode_names.get(row.error_mode, row.error_mode)}
                for row in self.scorers
            ],
        }

    def _mode(self, row: Any) -> dict[str, str]:
        return {"error_mode": row.label, "name": self.mode_names.get(row.label, row.label)}


# -- which traces disagree ---------------------------------------------------------------------


def _confirmed_any() -> Exists:
    """The outer trace's review confirmed at least one error mode."""
    return Exists(Review.error_modes.through.objects.filter(review__trace=OuterRef("pk")))


def disagreement_q() -> Q:
    """Traces whose user verdict and reviewer verdict differ: negative and dismissed, or
    positive and reviewed with a confirmed error mode."""
    return Q(sentiment=Sentiment.NEGATIVE, review__status=ReviewStatus.DISMISSED) | (
        Q(sentiment=Sentiment.POSITIVE, review__status=ReviewStatus.REVIEWED) & Q(_confirmed_any())
    )


def agreement_q() -> Q:
    """Judged traces whose verdicts agree: positive and dismissed, or negative and reviewed with
    a confirmed error mode."""
    return Q(sentiment=Sentiment.POSITIVE, review__status=ReviewStatus.DISMISSED) | (
        Q(sentiment=Sentiment.NEGATIVE, review__status=ReviewStatus.REVIEWED) & Q(_confirmed_any())
    )


# -- the figures -------------------------------------------------------------------------------


def figures(traces: QuerySet[Trace]) -> Figures:
    """Users vs reviewers, reviewers vs reviewers, triage and scorers vs reviewers over these
    traces (already scoped and windowed by the caller)."""
    finished = Review.objects.filter(
        trace__in=traces.filter(sentiment__in=(Sentiment.POSITIVE, *NEEDS_REVIEW)),
        status__in=_FINISHED,
    )
    users, by_reviewer, unclear = _users_vs_reviewers(finished)
    by_mode = _modes_of_users(finished)
    reviewers, reviewers_by_mode = _reviewers_vs_reviewers(traces)
    triage, triage_by_mode = detection.triage(traces)
    scorers = detection.scorers(traces)
    slugs = {row.label for row in by_mode} | {row.label for row in reviewers_by_mode}
    slugs |= {row.label for row in triage_by_mode} | {row.error_mode for row in scorers}
    return Figures(
        users=users,
        by_reviewer=by_reviewer,
        by_error_mode=by_mode,
        reviewers=reviewers,
        reviewers_by_error_mode=reviewers_by_mode,
        triage=triage,
        triage_by_error_mode=triage_by_mode,
        scorers=scorers,
        mode_names=_names(slugs, traces),
        unclear=unclear,
    )


def _user_verdict(sentiment: str) -> str | None:
    if sentiment == Sentiment.POSITIVE:
        return FINE
    return BAD if sentiment == Sentiment.NEGATIVE else None


def _reviewer_verdict(status: str, confirmed_any: bool) -> str | None:
    if status == ReviewStatus.DISMISSED:
        return FINE
    return BAD if confirmed_any else None


def _users_vs_reviewers(finished: QuerySet[Review]) -> tuple[Agreement, list[Agreement], int]:
    """One grouped query: finished reviews by reviewer, user verdict, status and whether they
    confirmed a mode."""
    username = f"reviewer__{get_user_model().USERNAME_FIELD}"
    rows = (
        finished.annotate(confirmed_any=detection.confirms_a_mode())
        .values_list(username, "trace__sentiment", "status", "confirmed_any")
        .annotate(n=Count("pk"))
        .order_by()
    )
    overall: Counter[tuple[str, str]] = Counter()
    per_reviewer: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
    unclear = 0
    for reviewer_name, sentiment, status, confirmed_any, n in rows:
        user, reviewer = _user_verdict(sentiment), _reviewer_verdict(status, confirmed_any)
        if user is None:
            continue
        if reviewer is None:
            unclear += n
            continue
        overall[(user, reviewer)] += n
        per_reviewer[reviewer_name or ""][(user, reviewer)] += n
    rows_out = [Agreement.of(name, table) for name, table in per_reviewer.items()]
    rows_out.sort(key=lambda row: (-row.n, row.label))
    return Agreement.of("all", overall), rows_out, unclear


def _modes_of_users(finished: QuerySet[Review]) -> list[Agreement]:
    """Per mode: the user's reasons against the reviewer's confirmed modes (see the module).
    The positive traces' side is counted in the database; the negative ones need their votes'
    reasons, read once (one row per such vote)."""
    judged = detection.with_verdict(finished)
    links = Review.error_modes.through.objects.filter(review__status=ReviewStatus.REVIEWED)
    positive = judged.filter(trace__sentiment=Sentiment.POSITIVE)
    n_positive = positive.count()
    confirmed_positive = detection.count_by_slug(
        links.filter(review__in=positive), "errormode__slug"
    )
    negative = judged.filter(trace__sentiment=Sentiment.NEGATIVE)
    said = _reasons(negative)
    confirmed: dict[int, set[str]] = defaultdict(set)
    for trace_id, slug in links.filter(review__in=negative).values_list(
        "review__trace_id", "errormode__slug"
    ):
        if trace_id in said:
            confirmed[trace_id].add(slug)
    n = n_positive + len(said)
    slugs = set(confirmed_positive) | {
        s for modes in (*said.values(), *confirmed.values()) for s in modes
    }
    rows = []
    for slug in slugs:
        yes_yes = sum(1 for pk, modes in said.items() if slug in modes and slug in confirmed[pk])
        yes = sum(1 for modes in said.values() if slug in modes)
        both_no_user = confirmed_positive.get(slug, 0) + sum(
            1 for pk, modes in said.items() if slug not in modes and slug in confirmed[pk]
        )
        table = {
            ("yes", "yes"): yes_yes,
            ("yes", "no"): yes - yes_yes,
            ("no", "yes"): both_no_user,
            ("no", "no"): n - yes - both_no_user,
        }
        rows.append(Agreement.of(slug, table))
    rows.sort(key=lambda row: (-row.n, row.label))
    return rows


def _reasons(reviews: QuerySet[Review]) -> dict[int, set[str]]:
    """The reasons of the current negative votes on these reviews' traces, by trace pk; only
    traces whose votes gave a reason. One query, joined by the events' (project, trace) index."""
    traces = Trace.objects.filter(
        pk__in=reviews.values("trace_id"),
        project_id=OuterRef("project_id"),
        key=OuterRef("trace_key"),
    )
    votes = (
        FeedbackEvent.objects.filter(Exists(traces))
        .votes("negative")
        .exclude(reasons=[])
        .current()
        .annotate(trace_pk=Subquery(traces.values("pk")[:1]))
        .values_list("trace_pk", "reasons")
    )
    found: dict[int, set[str]] = defaultdict(set)
    for trace_pk, reasons in votes:
        found[trace_pk].update(r for r in reasons or [] if isinstance(r, str))
    return {pk: modes for pk, modes in found.items() if modes}


def _reviewers_vs_reviewers(traces: QuerySet[Trace]) -> tuple[RaterAgreement, list[RaterAgreement]]:
    """Reviewers' own verdicts (internal/verdicts.py) on the traces more than one answered:
    "bad" (reviewed with a mode) or "fine" (dismissed), and per mode "yes"/"no"; a verdict
    reviewed with no mode says neither and is left out."""
    several = (
        Verdict.objects.filter(review__trace__in=traces)
        .values("review_id")
        .annotate(n=Count("pk"))
        .filter(n__gte=2)
        .values("review_id")
    )
    rows = Verdict.objects.filter(review_id__in=several).values_list(
        "review_id", "pk", "status", "error_modes__slug"
    )
    verdicts: dict[int, dict[int, tuple[str, set[str]]]] = defaultdict(dict)
    for review_id, pk, status, slug in rows:
        _status, modes = verdicts[review_id].setdefault(pk, (status, set()))
        if slug is not None and status == ReviewStatus.REVIEWED:
            modes.add(slug)
    labelled = [
        [
            (status, modes)
            for status, modes in answers.values()
            if status == ReviewStatus.DISMISSED or modes
        ]
        for answers in verdicts.values()
    ]
    overall = [
        Counter(FINE if status == ReviewStatus.DISMISSED else BAD for status, _m in answers)
        for answers in labelled
    ]
    slugs = {slug for answers in labelled for _status, modes in answers for slug in modes}
    per_mode = [
        RaterAgreement.of(
            slug,
            [
                Counter("yes" if slug in modes else "no" for _s, modes in answers)
                for answers in labelled
            ],
        )
        for slug in slugs
    ]
    per_mode.sort(key=lambda row: (-row.traces, row.label))
    return RaterAgreement.of("all", overall), per_mode


def _names(slugs: set[str], traces: QuerySet[Trace]) -> dict[str, str]:
    """Error modes' names by slug: the shared modes', else one of the traces' projects'."""
    if not slugs:
        return {}
    names: dict[str, str] = {}
    modes = (
        ErrorMode.objects.filter(slug__in=slugs)
        .filter(Q(project__isnull=True) | Q(project_id__in=traces.values("project_id")))
        .order_by(F("project_id").asc(nulls_first=True), "pk")
        .values_list("slug", "name")
    )
    for slug, name in modes:
        names.setdefault(slug, name)
    return names


def _dashboard_figures(scope: str, days: int) -> dict[str, Any]:
    """The figures of a scope's traces with a signal in the last ``days`` days, as plain data."""
    now = timezone.now()
    traces = Trace.objects.filter(last_signal_at__gte=now - timedelta(days=days))
    projects = projects_of(scope)
    if projects is not None:
        traces = traces.filter(project_id__in=projects)
    return {"computed_at": now, **figures(traces).as_dict()}


AGREEMENT = Deferred(
    "agreement", _dashboard_figures, cache_seconds=CACHE_SECONDS, fresh_seconds=FRESH_SECONDS
)
