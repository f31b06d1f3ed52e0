"""Erasing one end user's data: what they wrote or were shown, and every copy of it.

What the user wrote or was shown is their events (comment, text, output, metadata) and the
traces of their own conversations (registered by the host with their ``user_id``). The app
copies such text, exactly, into these columns and nowhere else:

- ``Trace.output``, ``session_id``, ``user_id`` of a trace the host never registered: from its
  first events (``pipeline.trace_seeds``);
- ``PreferencePair.prompt``, ``chosen``, ``rejected``: a trace's input and output, an edit's
  text, an event's output (``pipeline``);
- ``Review.expected_output``: prefilled from the latest edit (``admin.trace_page.ReviewForm``);
  ``Verdict.expected_output`` likewise (a reviewer's answer in review mode);
- ``DatasetItem.input``, ``expected_output``, ``chosen``, ``rejected``: a trace's input, the
  review's expected output, an edit or the answer, a pair's texts (``datasets``);
- ``DatasetVersionItem``: a dataset item's texts and its trace's id, frozen
  (``internal.datasets.freeze``).

Copies are found by their link to the source (trace, pair, event; a frozen item by its source
trace id) and by equality with a string that only this user left on that trace, never by a
search through everyone's text: a one-word edit ("Yes") takes no other trace's items, nor an
item whose text another user's event on the trace holds too.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from django.db import models, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from feedback_loop import conversations
from feedback_loop.internal import caches
from feedback_loop.internal.pipeline import process_traces, trace_seeds
from feedback_loop.models import (
    DatasetItem,
    DatasetVersion,
    DatasetVersionItem,
    EventKind,
    FeedbackEvent,
    PairSource,
    PreferencePair,
    ProcessingFailure,
    Project,
    Review,
    Trace,
    Verdict,
)

_ITEM_TEXTS = ("input", "expected_output", "chosen", "rejected")
_PAIR_TEXTS = ("prompt", "chosen", "rejected")
_SEEDED = ("output", "session_id", "user_id")
# Values per IN (...) list, well under SQLite's bound-parameter limit.
_BATCH = 500


@dataclass
class Forgotten:
    """What erasing one end user removed (or, for a dry run, would remove)."""

    events: int = 0
    traces: int = 0
    pairs: int = 0
    dataset_items: int = 0
    version_items: int = 0
    reviews_cleared: int = 0
    traces_cleared: int = 0
    answers_cleared: int = 0
    traces_updated: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass
class _Plan:
    events: set[int] = field(default_factory=set)
    traces: dict[int, str] = field(default_factory=dict)  # deleted: pk -> host trace id
    reseeds: dict[int, dict[str, str]] = field(default_factory=dict)  # pk -> new seed fields
    pairs: set[int] = field(default_factory=set)
    items: set[int] = field(default_factory=set)
    version_items: dict[int, int] = field(default_factory=dict)  # pk -> version pk
    reviews: set[int] = field(default_factory=set)
    verdicts: set[int] = field(default_factory=set)  # reviewers' answers holding the text
    # Items that keep their other texts but held what the user was shown as the model's answer.
    item_answers: set[int] = field(default_factory=set)
    version_answers: set[int] = field(default_factory=set)
    failures: set[int] = field(default_factory=set)
    touched: list[tuple[int, str]] = field(default_factory=list)

    def report(self) -> Forgotten:
        return Forgotten(
            events=len(self.events),
            traces=len(self.traces),
            pairs=len(self.pairs),
            dataset_items=len(self.items),
            version_items=len(self.version_items),
            reviews_cleared=len(self.reviews) + len(self.verdicts),
            traces_cleared=len(self.reseeds),
            answers_cleared=len(self.item_answers) + len(self.version_answers),
            traces_updated=len(self.touched),
        )


def forget_user(project: Project, user_id: str, *, dry_run: bool = False) -> Forgotten:
    """Delete everything one end user left in a project and every copy of it: their events,
    the traces of their own conversations (with everything on them), the pairs, dataset items
    and frozen version items holding their text, the expected outputs of reviews prefilled from
    their edits, and the outputs of unregistered traces made from their events (taken again
    from the remaining events). Traces they only voted on are rolled up again without them,
    and the cached dashboards are dropped. ``dry_run`` counts the same without changing
    anything."""
    if not user_id:
        raise ValueError("user_id must not be empty.")
    if dry_run:
        return _plan(project, user_id).report()
    with transaction.atomic():
        # The pipeline locks the same rows, in the same order, before it reads their events.
        mine = FeedbackEvent.objects.filter(project=project, user_id=user_id)
        list(
            Trace.objects.select_for_update()
            .filter(project=project)
            .filter(Q(key__in=mine.values("trace_key")) | Q(user_id=user_id))
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        plan = _plan(project, user_id)
        _apply(plan, project.pk)
    try:
        process_traces(plan.touched)
    finally:
        caches.drop_figures([project.pk])
    return plan.report()


def _plan(project: Project, user_id: str) -> _Plan:
    plan = _Plan()
    theirs = FeedbackEvent.objects.filter(project=project, user_id=user_id)
    mine = list(theirs.values("pk", "trace_key", "text", "comment", "output"))
    traces = {
        t.key: t
        for t in Trace.objects.filter(project=project)
        .filter(Q(key__in=theirs.values("trace_key")) | Q(user_id=user_id))
        .only("pk", "key", "input", "output", "registered", *_SEEDED)
    }
    _plan_traces(plan, project, user_id, traces)
    plan.events = {row["pk"] for row in mine} | set(
        FeedbackEvent.objects.filter(
            project=project, trace_key__in=list(plan.traces.values())
        ).values_list("pk", flat=True)
    )
    erased = _erased_strings(plan, project, user_id, mine, traces)
    _plan_copies(plan, project, user_id, erased)
    _plan_frozen_copies(plan, project, erased, traces)
    _plan_afterwards(plan, project, user_id, {row["trace_key"] for row in mine}, traces)
    return plan


def _plan_afterwards(
    plan: _Plan, project: Project, user_id: str, keys: set[str], traces: dict[str, Trace]
) -> None:
    """The traces to roll up again (those they had events on, and those of the pairs
    deleted, which the pipeline may pair again from what is left), and the processing
    failures of traces that are gone."""
    deleted = set(plan.traces.values())
    paired = PreferencePair.objects.filter(pk__in=plan.pairs).values_list(
        "trace__key", "rejected_trace__key"
    )
    keys_paired = {key for pair in paired for key in pair if key}
    plan.touched = sorted((project.pk, key) for key in (keys | keys_paired) - deleted)
    orphans = keys - set(traces)  # events the pipeline has not made a trace of yet
    orphans -= set(
        FeedbackEvent.objects.filter(project=project, trace_key__in=list(orphans))
        .exclude(user_id=user_id)
        .values_list("trace_key", flat=True)
    )
    plan.failures = set(
        ProcessingFailure.objects.filter(
            project=project, trace_key__in=[*deleted, *orphans]
        ).values_list("pk", flat=True)
    )


def _plan_traces(plan: _Plan, project: Project, user_id: str, traces: dict[str, Trace]) -> None:
    """The user's own conversations go; an unregistered trace is made again from the events
    left on it (like the pipeline made it), or goes when none are left."""
    unregistered = [t for t in traces.values() if not t.registered]
    for trace in traces.values():
        if trace.registered and trace.user_id == user_id:
            plan.traces[trace.pk] = trace.key
    seeds = trace_seeds(
        FeedbackEvent.objects.filter(
            project=project, trace_key__in=[t.key for t in unregistered]
        ).exclude(user_id=user_id)
    )
    for trace in unregistered:
        seed = seeds.get((project.pk, trace.key))
        if seed is None:
            plan.traces[trace.pk] = trace.key
            continue
        fields = {name: seed[name] for name in _SEEDED}
        if any(getattr(trace, name) != value for name, value in fields.items()):
            plan.reseeds[trace.pk] = fields


def _erased_strings(
    plan: _Plan,
    project: Project,
    user_id: str,
    mine: Sequence[Mapping[str, Any]],
    traces: dict[str, Trace],
) -> dict[int, set[str]]:
    """By trace pk, for the traces that stay: the strings the user left on it (their edits,
    copies and comments; what they were shown, when the trace was made of it) that nothing
    left on the trace still holds."""
    erased: dict[int, set[str]] = defaultdict(set)
    for row in mine:
        trace = traces.get(row["trace_key"])
        if trace is None or trace.pk in plan.traces:
            continue
        erased[trace.pk] |= {row["text"], row["comment"]}
        if not trace.registered:
            erased[trace.pk].add(row["output"])
    by_key = {t.key: t for t in traces.values() if t.pk in erased}
    for trace in by_key.values():
        reseed = plan.reseeds.get(trace.pk, {})
        erased[trace.pk] -= {"", trace.input, reseed.get("output", trace.output)}
    candidates = set().union(*erased.values()) if erased else set()
    for chunk in _chunks(candidates):
        kept = (
            FeedbackEvent.objects.filter(project=project, trace_key__in=list(by_key))
            .exclude(user_id=user_id)
            .filter(Q(text__in=chunk) | Q(comment__in=chunk) | Q(output__in=chunk))
            .values_list("trace_key", "text", "comment", "output")
        )
        for trace_key, *texts in kept:
            erased[by_key[trace_key].pk] -= set(texts)
    return {pk: strings for pk, strings in erased.items() if strings}


def _plan_copies(plan: _Plan, project: Project, user_id: str, erased: dict[int, set[str]]) -> None:
    """Pairs and dataset items of the deleted traces, of the user's events, votes and id, or
    holding a string the user left on their trace; reviews holding such a string."""
    deleted, staying = list(plan.traces), list(erased)
    own_vote = FeedbackEvent.objects.for_trace_ref(
        "rejected_trace__",
        user_id=user_id,
        kind=EventKind.THUMBS,
        session_id=OuterRef("session_id"),
    )
    made_of_theirs = (
        Q(user_id=user_id)
        | Q(event__user_id=user_id)
        | (Q(source=PairSource.SESSION) & Q(Exists(own_vote)))
        | Q(trace_id__in=deleted)
        | Q(rejected_trace_id__in=deleted)
    )
    pairs = PreferencePair.objects.filter(project=project)
    plan.pairs = set(pairs.filter(made_of_theirs).values_list("pk", flat=True))
    plan.pairs |= _pks(
        _holding(
            pairs.filter(Q(trace_id__in=staying) | Q(rejected_trace_id__in=staying)),
            _PAIR_TEXTS,
            erased,
            ("trace_id", "rejected_trace_id"),
        )
    )
    items = DatasetItem.objects.all()
    plan.items = set(
        items.filter(Q(trace_id__in=deleted) | Q(pair_id__in=list(plan.pairs))).values_list(
            "pk", flat=True
        )
    )
    plan.items |= _pks(
        _holding(items.filter(trace_id__in=staying), _ITEM_TEXTS, erased, ("trace_id",))
    )
    reviews = Review.objects.filter(trace_id__in=staying)
    plan.reviews = _pks(_holding(reviews, ("expected_output",), erased, ("trace_id",)))
    verdicts = Verdict.objects.filter(review__trace_id__in=staying)
    plan.verdicts = _pks(_holding(verdicts, ("expected_output",), erased, ("review__trace_id",)))
    kept = items.filter(trace_id__in=staying).exclude(pk__in=list(plan.items))
    plan.item_answers = _pks(_holding(kept, ("output",), erased, ("trace_id",)))


def _plan_frozen_copies(
    plan: _Plan, project: Project, erased: dict[int, set[str]], traces: dict[str, Trace]
) -> None:
    """Items of frozen versions copied from the deleted traces or from the items and pairs
    being deleted, or holding a string the user left on their source trace."""
    frozen = DatasetVersionItem.objects.filter(version__dataset__project=project)
    for chunk in _chunks(plan.traces.values()):
        plan.version_items.update(
            frozen.filter(source_trace_id__in=chunk).values_list("pk", "version_id")
        )
    # A frozen item is an exact copy of a live one: same source trace id and texts.
    copied: set[tuple] = set()
    for chunk in _chunks(plan.items):
        for dataset_id, trace_id, *texts in DatasetItem.objects.filter(pk__in=chunk).values_list(
            "dataset_id", "trace__key", *_ITEM_TEXTS
        ):
            copied.add((dataset_id, trace_id or "", *texts))
    for chunk in _chunks(plan.pairs):
        for trace_id, prompt, chosen, rejected in PreferencePair.objects.filter(
            pk__in=chunk
        ).values_list("trace__key", *_PAIR_TEXTS):
            copied.add((None, trace_id, prompt, "", chosen, rejected))  # in any dataset
    for chunk in _chunks({copy[1] for copy in copied}):
        for pk, version_id, dataset_id, *row in frozen.filter(
            source_trace_id__in=chunk
        ).values_list("pk", "version_id", "version__dataset_id", "source_trace_id", *_ITEM_TEXTS):
            if (dataset_id, *row) in copied or (None, *row) in copied:
                plan.version_items[pk] = version_id
    # And frozen items whose live original is gone already.
    by_id = {t.key: erased[t.pk] for t in traces.values() if t.pk in erased}
    for chunk in _chunks(by_id):
        rows = _holding(
            frozen.filter(source_trace_id__in=chunk),
            _ITEM_TEXTS,
            by_id,
            ("source_trace_id",),
            "version_id",
        )
        plan.version_items.update((row["pk"], row["version_id"]) for row in rows)
        kept = frozen.filter(source_trace_id__in=chunk).exclude(pk__in=list(plan.version_items))
        plan.version_answers |= _pks(_holding(kept, ("output",), by_id, ("source_trace_id",)))


def _holding(
    queryset: models.QuerySet,
    columns: tuple[str, ...],
    strings: dict,
    links: tuple[str, ...],
    *also: str,
) -> list[dict[str, Any]]:
    """The rows of ``queryset`` (pk, links, columns and ``also``) with one of ``columns``
    equal to one of ``strings[link]``, for the values of its ``links`` columns (a trace pk, a
    source trace id)."""
    candidates = set().union(*strings.values()) if strings else set()
    found: dict[int, dict[str, Any]] = {}
    for chunk in _chunks(candidates):
        equal = Q(pk__in=[])
        for column in columns:
            equal |= Q(**{f"{column}__in": chunk})
        for row in queryset.filter(equal).values("pk", *links, *columns, *also):
            theirs = set().union(*(strings.get(row[link], set()) for link in links))
            if any(row[column] in theirs for column in columns):
                found[row["pk"]] = row
    return list(found.values())


def _pks(rows: list[dict[str, Any]]) -> set[int]:
    return {row["pk"] for row in rows}


def _chunks(values: Iterable) -> Iterator[list]:
    values = sorted(values, key=str)
    for start in range(0, len(values), _BATCH):
        yield values[start : start + _BATCH]


def _apply(plan: _Plan, project_pk: int) -> None:
    now = timezone.now()
    erased_per_version = Counter(plan.version_items.values())
    _delete(DatasetVersionItem, plan.version_items)
    for version_pk, count in erased_per_version.items():
        DatasetVersion.objects.filter(pk=version_pk).update(erased_items=F("erased_items") + count)
    _delete(DatasetItem, plan.items)
    for model, pks in (
        (DatasetItem, plan.item_answers),
        (DatasetVersionItem, plan.version_answers),
    ):
        for chunk in _chunks(pks):
            model._default_manager.filter(pk__in=chunk).update(output="")
    _delete(PreferencePair, plan.pairs)
    for chunk in _chunks(plan.reviews):
        Review.objects.filter(pk__in=chunk).update(expected_output="", updated_at=now)
    for chunk in _chunks(plan.verdicts):
        Verdict.objects.filter(pk__in=chunk).update(expected_output="")
    _delete(FeedbackEvent, plan.events)
    _delete(Trace, plan.traces)
    for pk, fields in plan.reseeds.items():
        Trace.objects.filter(pk=pk).update(**fields, updated_at=now)
    _delete(ProcessingFailure, plan.failures)
    # The messages of the conversations deleted with their traces, unless another trace has
    # them too (a system prompt, say).
    conversations.drop_orphans(project_pk)


def _delete(model: type[models.Model], pks: Iterable[int]) -> None:
    for chunk in _chunks(pks):
        model._default_manager.filter(pk__in=chunk).delete()
