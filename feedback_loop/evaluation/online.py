"""Online scoring: live answers scored by reference-free scorers, as scoring rules ask.

A periodic task (``feedback_loop.apply_scoring_rules``, every 5 minutes) runs each active
``ScoringRule``: the traces of its project created or updated since its last run that match its
filters (the API's trace list filters, as in a dataset rule) and fall in its sample (the same
traces every time, like a dataset rule's), each scored with each of its scorers. A score is
stored once per (trace, scorer, scorer version): a trace already scored by that version is not
scored again, so running a rule again costs nothing, and a new judge prompt (a new version)
scores anew. A scorer that raises leaves a skipped score (value None) with the error as reason.

A run does at most ``SCORES_PER_RUN`` scorer calls per rule (an LLM judge is slow and paid): a
backlog (a new rule on a large project) is scored over several runs, oldest change first.

Here, not in ``internal``: the scorers live in this layer (``scoring``), above the pipeline.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils import timezone

from feedback_loop import conversations
from feedback_loop.evaluation.registry import REFERENCE_FREE, UnknownScorer, resolve
from feedback_loop.evaluation.scoring import Score, Scorer
from feedback_loop.filters import matching_traces
from feedback_loop.internal import agreement as review_agreement
from feedback_loop.internal.datasets import RULE_OVERLAP, Row
from feedback_loop.models import PASS, ScoringRule, Sentiment, Trace, TraceScore
from feedback_loop.models import scoring as scoring_models

logger = logging.getLogger("feedback_loop.online_scoring")

# Scorer calls per rule per run; the rest of a backlog waits for the next runs.
SCORES_PER_RUN = 500
# Traces read, scored and written at a time.
_CHUNK = 100
# Below this many traces with both a score and a user's verdict, the dashboard shows no figures.
AGREEMENT_MIN_N = review_agreement.MIN_N
_REASON_CHARS = 2000


# -- which scorers a rule may name -------------------------------------------------------------


def check_scorer(name: str) -> None:
    """A scoring rule's scorer: one needing no expected output (``REFERENCE_FREE``) or a
    dotted path to the host's own, that resolves; raises ValidationError."""
    try:
        resolve(name)
    except (UnknownScorer, ImportError) as exc:
        raise ValidationError("%(error)s", code="unknown_scorer", params={"error": exc}) from None
    base = name.partition(":")[0]
    if base not in REFERENCE_FREE and "." not in base:
        raise ValidationError(
            "%(name)s needs an expected output, which live answers have not; use one of "
            "%(known)s or a dotted path to your own scorer.",
            code="needs_reference",
            params={"name": name, "known": ", ".join(REFERENCE_FREE)},
        )


if check_scorer not in scoring_models.scorer_checks:
    scoring_models.scorer_checks.append(check_scorer)


# -- running the rules -------------------------------------------------------------------------


def sampled(rule_pk: int, trace_pk: int, rate: float) -> bool:
    """The same answer every time for a (rule, trace): a trace left out stays out."""
    if rate >= 1:
        return True
    if rate <= 0:
        return False
    digest = hashlib.sha256(f"scoring:{rule_pk}:{trace_pk}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


@dataclass(frozen=True)
class Named:
    name: str
    version: str
    scorer: Scorer


def scorers_of(rule: ScoringRule) -> list[Named]:
    """The rule's scorers with their versions; one that no longer resolves is logged, left out."""
    named = []
    for spec in rule.scorers or []:
        try:
            _name, scorer = resolve(spec)
        except (UnknownScorer, ImportError) as exc:
            logger.error("Scoring rule %s: scorer %r left out (%s).", rule.pk, spec, exc)
            continue
        named.append(Named(spec, str(getattr(scorer, "version", "1"))[:64], scorer))
    return named


def apply_scoring_rules(limit: int | None = None) -> dict[str, int]:
    """Run every active scoring rule; returns the scores stored per rule."""
    return {
        f"{rule.project} / {rule}": apply_rule(rule, limit)
        for rule in ScoringRule.objects.filter(active=True).select_related("project")
    }


def apply_rule(rule: ScoringRule, limit: int | None = None) -> int:
    """Score the rule's traces changed since its last run, at most ``limit`` (SCORES_PER_RUN)
    scorer calls; returns the scores stored. The watermark moves to where it stopped."""
    limit = SCORES_PER_RUN if limit is None else limit
    started = timezone.now()
    named = scorers_of(rule)
    traces = matching_traces(rule)
    if rule.checked_at is not None:
        traces = traces.filter(updated_at__gte=rule.checked_at - RULE_OVERLAP)
    traces = traces.order_by("updated_at", "pk")
    stored = calls = 0
    watermark: datetime = started
    after: tuple[datetime, int] | None = None
    while named:
        page = traces
        if after is not None:
            page = page.filter(Q(updated_at__gt=after[0]) | Q(updated_at=after[0], pk__gt=after[1]))
        rows = list(page.values_list("updated_at", "pk")[:_CHUNK])
        if not rows:
            break
        after = rows[-1]
        chunk = [(u, pk) for u, pk in rows if sampled(rule.pk, pk, rule.sample_rate)]
        done, added, used = _score_chunk(named, [pk for _u, pk in chunk], limit - calls)
        stored += added
        calls += used
        if done < len(chunk):
            # Out of calls: the next run goes on from the first trace not scored.
            watermark = chunk[done][0]
            break
    ScoringRule.objects.filter(pk=rule.pk).update(checked_at=watermark)
    rule.checked_at = watermark
    if calls >= limit:
        logger.info("Scoring rule %s used its %d calls; its next run goes on.", rule.pk, limit)
    return stored


def _score_chunk(named: list[Named], trace_pks: list[int], budget: int) -> tuple[int, int, int]:
    """Score these traces (in order) with what they lack, while the budget lasts (a trace is
    scored whole); returns (traces done, scores stored, scorer calls)."""
    have = set(
        TraceScore.objects.filter(
            trace_id__in=trace_pks, scorer__in={n.name for n in named}
        ).values_list("trace_id", "scorer", "scorer_version")
    )
    todo: dict[int, list[Named]] = {}
    done = 0
    calls = 0
    for pk in trace_pks:
        missing = [n for n in named if (pk, n.name, n.version) not in have]
        if missing and calls + len(missing) > budget:
            break
        if missing:
            todo[pk] = missing
            calls += len(missing)
        done += 1
    if not todo:
        return done, 0, 0
    traces = Trace.objects.filter(pk__in=list(todo)).only(
        "pk", "key", "input", "output", "model", "session_id", "metadata", "created_at"
    )
    messages = conversations.of_traces(list(todo))
    scores = [
        TraceScore(
            trace_id=trace.pk,
            scorer=n.name,
            scorer_version=n.version,
            value=score.value,
            reason=score.reason[:_REASON_CHARS],
        )
        for trace in traces
        for n, score in _scored(todo[trace.pk], item(trace, messages.get(trace.pk, [])), trace)
    ]
    stored = TraceScore.objects.filter(trace_id__in=list(todo)).count()
    # ON CONFLICT DO NOTHING: a score another run stored meanwhile stays as it is.
    TraceScore.objects.bulk_create(scores, ignore_conflicts=True)
    stored = TraceScore.objects.filter(trace_id__in=list(todo)).count() - stored
    return done, stored, calls


def item(trace: Trace, messages: list[dict[str, Any]]) -> Row:
    """A trace as a scorer sees an item: no expected output (reference-free scorers only)."""
    return Row(
        id=str(trace.pk),
        input=trace.input,
        messages=messages,
        expected_output="",
        output=trace.output,
        chosen="",
        rejected="",
        # Not the sentiment: a scorer's verdict is compared with the users'.
        metadata={
            "trace_id": trace.key,
            "model": trace.model,
            "session_id": trace.session_id,
            "metadata": trace.metadata,
        },
        source_trace_id=trace.key,
        created_at=trace.created_at,
    )


def _scored(named: Sequence[Named], row: Row, trace: Trace) -> Iterable[tuple[Named, Score]]:
    for n in named:
        yield n, score_one(n.scorer, row, trace.output)


def score_one(scorer: Scorer, row: Row, output: str) -> Score:
    """The scorer's verdict; an error is a skipped score saying what went wrong."""
    try:
        score: Any = scorer(row, output)
    except SoftTimeLimitExceeded:
        raise  # the task stops here; what was stored stays, its next run goes on
    except Exception as exc:
        return Score(None, f"the scorer failed: {type(exc).__name__}: {exc}")
    if isinstance(score, bool | int | float) and 0 <= score <= 1:
        return Score(float(score))
    if not isinstance(score, Score):
        return Score(None, f"the scorer returned {score!r}, not a Score")
    return score


# -- what the admin shows ----------------------------------------------------------------------


def latest(scores: Iterable[TraceScore]) -> list[TraceScore]:
    """Each scorer's newest score (its latest version), by scorer name."""
    newest: dict[str, TraceScore] = {}
    for score in scores:
        kept = newest.get(score.scorer)
        if kept is None or (score.created_at, score.pk) > (kept.created_at, kept.pk):
            newest[score.scorer] = score
    return [newest[name] for name in sorted(newest)]


def scorer_names(rules: QuerySet[ScoringRule]) -> list[str]:
    """The scorers these rules name, sorted."""
    return sorted({name for names in rules.values_list("scorers", flat=True) for name in names})


class Agreement(review_agreement.Agreement):
    """How often a scorer agrees with the users' verdicts on the same traces."""

    @property
    def scorer(self) -> str:
        return self.label


def agreement(traces: QuerySet[Trace]) -> list[Agreement]:
    """For each scorer, over these traces with a user's verdict (positive or negative) and a
    score (its newest, not skipped): how often they agree (a pass with a thumbs up, a fail with
    a thumbs down), and Cohen's kappa."""
    rows = (
        TraceScore.objects.filter(
            trace__in=traces.filter(sentiment__in=(Sentiment.POSITIVE, Sentiment.NEGATIVE)),
        )
        .order_by("created_at", "pk")
        .values_list("trace_id", "scorer", "value", "trace__sentiment")
    )
    newest: dict[tuple[int, str], tuple[float | None, str]] = {}
    for trace_id, scorer, value, sentiment in rows:
        newest[(trace_id, scorer)] = (value, sentiment)
    tables: dict[str, dict[tuple[bool, bool], int]] = defaultdict(lambda: defaultdict(int))
    for (_trace, scorer), (value, sentiment) in newest.items():
        if value is not None:
            tables[scorer][(value >= PASS, sentiment == Sentiment.POSITIVE)] += 1
    return [Agreement.of(scorer, table) for scorer, table in sorted(tables.items())]
