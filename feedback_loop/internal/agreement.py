"""Agreement between the users, the reviewers and the triage classifier, on the same traces.

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

**Triage vs reviewers** (``triage_vs_reviewers``): over the traces the classifier runs on
(negative or mixed) with a reviewer verdict, the suggested modes (``Trace.suggested_error_modes``)
against the confirmed ones (none on a dismissed trace): per mode, precision (confirmed among
suggested, n = suggested) and recall (suggested among confirmed, n = confirmed); overall
(``all``), the same summed over the modes (micro precision and recall).

Figures come with their n; below ``MIN_N`` the dashboard says there is not enough data, as
online scoring does. The queries read the reviews (and their modes) of the traces given, and
the reasons of the judged negative traces' votes, by the events' (project, trace) index: their
cost follows the number of reviews, not of traces or events.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from django.contrib.auth import get_user_model
from django.db.models import Exists, F, OuterRef, Q, QuerySet

from feedback_loop.internal.statistics import kappa_of_table, wilson
from feedback_loop.models import (
    NEEDS_REVIEW,
    ErrorMode,
    FeedbackEvent,
    Review,
    ReviewStatus,
    Sentiment,
    Trace,
    trace_keys_q,
)

# Below this many traces, no figures (as online scoring's AGREEMENT_MIN_N).
MIN_N = 5
BAD, FINE = "bad", "fine"
_FINISHED = (ReviewStatus.REVIEWED, ReviewStatus.DISMISSED)
# Traces whose votes' reasons are read per query.
_KEYS_PER_QUERY = 500


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
            "share": _round(self.share),
            "interval": None if interval is None else [_round(x) for x in interval],
            "kappa": _round(self.kappa),
            "enough": self.enough,
        }


@dataclass(frozen=True)
class Detection:
    """The classifier's suggestions of a mode (or all modes) against the confirmed ones."""

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
            "precision": _round(self.precision),
            "recall": _round(self.recall),
            "precision_enough": self.suggested >= MIN_N,
            "recall_enough": self.confirmed >= MIN_N,
        }


@dataclass(frozen=True)
class Figures:
    users: Agreement
    by_reviewer: list[Agreement]
    by_error_mode: list[Agreement]
    triage: Detection
    triage_by_error_mode: list[Detection]
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
                "by_error_mode": [
                    {"error_mode": row.label, "name": self.mode_names.get(row.label, row.label)}
                    | row.as_dict()
                    for row in self.by_error_mode
                ],
            },
            "triage_vs_reviewers": {
                "all": self.triage.as_dict(),
                "by_error_mode": [
                    {"error_mode": row.label, "name": self.mode_names.get(row.label, row.label)}
                    | row.as_dict()
                    for row in self.triage_by_error_mode
                ],
            },
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


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


@dataclass
class _Judged:
    project_id: int
    key: str
    sentiment: str
    status: str
    reviewer: str
    modes: set[str] = field(default_factory=set)

    @property
    def reviewer_verdict(self) -> str | None:
        if self.status == ReviewStatus.DISMISSED:
            return FINE
        return BAD if self.modes else None

    @property
    def user_verdict(self) -> str | None:
        if self.sentiment == Sentiment.POSITIVE:
            return FINE
        return BAD if self.sentiment == Sentiment.NEGATIVE else None


def figures(traces: QuerySet[Trace]) -> Figures:
    """Users vs reviewers and triage vs reviewers over these traces (already scoped and
    windowed by the caller)."""
    username = f"reviewer__{get_user_model().USERNAME_FIELD}"
    rows = Review.objects.filter(
        trace__in=traces.filter(sentiment__in=(Sentiment.POSITIVE, *NEEDS_REVIEW)),
        status__in=_FINISHED,
    ).values_list(
        "trace_id",
        "trace__project_id",
        "trace__key",
        "trace__sentiment",
        "status",
        username,
        "error_modes__slug",
    )
    judged: dict[int, _Judged] = {}
    for trace_id, project_id, key, sentiment, status, reviewer, slug in rows:
        item = judged.setdefault(
            trace_id, _Judged(project_id, key, sentiment, status, reviewer or "")
        )
        if slug is not None and status == ReviewStatus.REVIEWED:
            item.modes.add(slug)
    with_verdict = {pk: t for pk, t in judged.items() if t.reviewer_verdict is not None}

    users, by_reviewer, unclear = _users_vs_reviewers(judged.values())
    reasons = _reasons([t for t in with_verdict.values() if t.user_verdict == BAD])
    by_mode = _modes_of_users(
        [t for t in with_verdict.values() if t.user_verdict is not None], reasons
    )
    triage, triage_by_mode = _triage(traces, with_verdict)
    slugs = {row.label for row in by_mode} | {row.label for row in triage_by_mode}
    return Figures(
        users=users,
        by_reviewer=by_reviewer,
        by_error_mode=by_mode,
        triage=triage,
        triage_by_error_mode=triage_by_mode,
        mode_names=_names(slugs, {t.project_id for t in judged.values()}),
        unclear=unclear,
    )


def _users_vs_reviewers(judged: Iterable[_Judged]) -> tuple[Agreement, list[Agreement], int]:
    overall: Counter[tuple[str, str]] = Counter()
    per_reviewer: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
    unclear = 0
    for trace in judged:
        user, reviewer = trace.user_verdict, trace.reviewer_verdict
        if user is None:
            continue
        if reviewer is None:
            unclear += 1
            continue
        overall[(user, reviewer)] += 1
        per_reviewer[trace.reviewer][(user, reviewer)] += 1
    rows = [Agreement.of(name, table) for name, table in per_reviewer.items()]
    rows.sort(key=lambda row: (-row.n, row.label))
    return Agreement.of("all", overall), rows, unclear


def _reasons(traces: list[_Judged]) -> dict[tuple[int, str], set[str]]:
    """The reasons of these traces' current negative votes, by (project id, trace key)."""
    found: dict[tuple[int, str], set[str]] = defaultdict(set)
    keys = [(t.project_id, t.key) for t in traces]
    for start in range(0, len(keys), _KEYS_PER_QUERY):
        votes = (
            FeedbackEvent.objects.filter(trace_keys_q(keys[start : start + _KEYS_PER_QUERY]))
            .votes("negative")
            .exclude(reasons=[])
            .current()
            .values_list("project_id", "trace_key", "reasons")
        )
        for project_id, trace_key, reasons in votes:
            found[(project_id, trace_key)].update(r for r in reasons or [] if isinstance(r, str))
    return found


def _modes_of_users(
    judged: list[_Judged], reasons: dict[tuple[int, str], set[str]]
) -> list[Agreement]:
    """Per mode: the user's reasons against the reviewer's confirmed modes (see the module)."""
    labelled: list[tuple[set[str], set[str]]] = []
    for trace in judged:
        if trace.user_verdict == BAD:
            said = reasons.get((trace.project_id, trace.key))
            if not said:
                continue  # the user did not say which problem
        else:
            said = set()
        labelled.append((said, trace.modes))
    slugs = {slug for said, confirmed in labelled for slug in said | confirmed}
    rows = []
    for slug in slugs:
        table: Counter[tuple[str, str]] = Counter(
            ("yes" if slug in said else "no", "yes" if slug in confirmed else "no")
            for said, confirmed in labelled
        )
        rows.append(Agreement.of(slug, table))
    rows.sort(key=lambda row: (-row.n, row.label))
    return rows


def _triage(
    traces: QuerySet[Trace], with_verdict: dict[int, _Judged]
) -> tuple[Detection, list[Detection]]:
    """Suggested against confirmed modes on the triaged (negative or mixed) traces judged by a
    reviewer."""
    triaged = {pk: t for pk, t in with_verdict.items() if t.sentiment in NEEDS_REVIEW}
    suggested: dict[int, set[str]] = defaultdict(set)
    if triaged:
        links = Trace.suggested_error_modes.through.objects.filter(
            trace__in=traces.filter(sentiment__in=NEEDS_REVIEW, review__status__in=_FINISHED)
        ).values_list("trace_id", "errormode__slug")
        for trace_id, slug in links:
            if trace_id in triaged:
                suggested[trace_id].add(slug)
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # suggested, confirmed, both
    for pk, trace in triaged.items():
        for slug in suggested[pk]:
            counts[slug][0] += 1
        for slug in trace.modes:
            counts[slug][1] += 1
        for slug in suggested[pk] & trace.modes:
            counts[slug][2] += 1
    rows = [Detection(slug, *figures) for slug, figures in counts.items()]
    rows.sort(key=lambda row: (-max(row.suggested, row.confirmed), row.label))
    total = Detection(
        "all",
        sum(r.suggested for r in rows),
        sum(r.confirmed for r in rows),
        sum(r.both for r in rows),
    )
    return total, rows


def _names(slugs: set[str], project_ids: set[int]) -> dict[str, str]:
    """Error modes' names by slug: the shared modes', else a project's."""
    if not slugs:
        return {}
    names: dict[str, str] = {}
    modes = (
        ErrorMode.objects.filter(slug__in=slugs)
        .filter(Q(project__isnull=True) | Q(project_id__in=project_ids))
        .order_by(F("project_id").asc(nulls_first=True), "pk")
        .values_list("slug", "name")
    )
    for slug, name in modes:
        names.setdefault(slug, name)
    return names
