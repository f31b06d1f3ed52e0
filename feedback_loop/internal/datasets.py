"""Adding traces to datasets, never twice, by hand or by a dataset's rule; freezing versions."""

from __future__ import annotations

import hashlib
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from feedback_loop import conversations
from feedback_loop.filters import matching_traces, parse_rule
from feedback_loop.internal.rollup import is_trivial_edit
from feedback_loop.models import (
    Dataset,
    DatasetItem,
    DatasetKind,
    DatasetVersion,
    DatasetVersionItem,
    EventKind,
    FeedbackEvent,
    PreferencePair,
    Review,
    ReviewStatus,
    Trace,
)

# Traces updated this long before a rule's last run are looked at again: a pipeline
# transaction that stamped ``updated_at`` before the run may have committed after it.
RULE_OVERLAP = timedelta(minutes=10)
_BATCH = 1000
_CHUNK = 2000  # rows read, and written, at a time


def sampled(dataset_pk: int, trace_pk: int, rate: float) -> bool:
    """The same answer every time for a (dataset, trace), so a trace left out stays out."""
    if rate >= 1:
        return True
    digest = hashlib.sha256(f"{dataset_pk}:{trace_pk}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


def apply_rule(dataset: Dataset) -> int:
    """Add the traces matching the dataset's rule that changed since its last run."""
    started = timezone.now()
    _filters, rate = parse_rule(dataset.rule)
    traces = matching_traces(dataset)
    if dataset.rule_checked_at is not None:
        traces = traces.filter(updated_at__gte=dataset.rule_checked_at - RULE_OVERLAP)
    pks = [pk for pk in traces.values_list("pk", flat=True) if sampled(dataset.pk, pk, rate)]
    added = add_traces(dataset, pks)
    Dataset.objects.filter(pk=dataset.pk).update(rule_checked_at=started)
    dataset.rule_checked_at = started
    return added


def apply_rules() -> dict[str, int]:
    """Run every dataset's rule; returns the items added per dataset."""
    return {
        str(dataset): apply_rule(dataset)
        for dataset in Dataset.objects.exclude(rule__isnull=True).select_related("project")
    }


def add_traces(dataset: Dataset, trace_pks: Iterable[int]) -> int:
    """Add traces (their preference pairs, for a preference dataset), _BATCH at a time;
    returns the items added."""
    trace_pks = list(trace_pks)
    return sum(
        _add_batch(dataset, trace_pks[start : start + _BATCH])
        for start in range(0, len(trace_pks), _BATCH)
    )


def _add_batch(dataset: Dataset, trace_pks: list[int]) -> int:
    # Items copy the conversation before the answer (system prompt, earlier turns).
    messages = conversations.of_traces(trace_pks)
    if dataset.kind == DatasetKind.PREFERENCE:
        items = [
            DatasetItem(
                dataset=dataset,
                trace_id=pair.trace_id,
                pair=pair,
                input=pair.prompt,
                messages=messages.get(pair.trace_id, []),
                chosen=pair.chosen,
                rejected=pair.rejected,
                metadata={
                    "source": pair.source,
                    "trace_id": pair.trace.key,
                    "release": pair.trace.release,
                },
                dedupe_key=f"pair:{pair.pk}",
            )
            for pair in PreferencePair.objects.filter(
                project_id=dataset.project_id, trace_id__in=trace_pks
            ).select_related("trace")
        ]
    else:
        traces = Trace.objects.filter(project_id=dataset.project_id, pk__in=trace_pks)
        reviews = {
            r.trace_id: r
            for r in Review.objects.filter(trace_id__in=trace_pks).prefetch_related("error_modes")
        }
        edits = latest_edits(traces)
        items = []
        for trace in traces:
            review = reviews.get(trace.pk)
            items.append(
                DatasetItem(
                    dataset=dataset,
                    trace=trace,
                    input=trace.input,
                    messages=messages.get(trace.pk, []),
                    expected_output=expected_output(dataset.kind, trace, review, edits),
                    output=trace.output,
                    metadata={
                        "trace_id": trace.key,
                        "model": trace.model,
                        "release": trace.release,
                        "sentiment": trace.sentiment,
                        "error_modes": [m.slug for m in review.error_modes.all()] if review else [],
                    },
                    dedupe_key=f"trace:{trace.pk}",
                )
            )
    for item in items:
        item.content_hash = item.compute_content_hash()
    before = dataset.items.count()
    # ON CONFLICT DO NOTHING: an item already there (same source, or same content) is skipped.
    DatasetItem.objects.bulk_create(items, ignore_conflicts=True)
    return dataset.items.count() - before


def latest_edits(traces: Iterable[Trace]) -> dict[int, str]:
    """Each trace's latest non-trivial edit, by trace pk (processed or not)."""
    by_key = {(t.project_id, t.key): t for t in traces}
    edits: dict[int, str] = {}
    for project_id, trace_key, text in (
        FeedbackEvent.objects.of_traces(by_key)
        .filter(kind=EventKind.EDIT)
        .order_by("timestamp", "pk")
        .values_list("project_id", "trace_key", "text")
    ):
        trace = by_key[(project_id, trace_key)]
        if text.strip() and not is_trivial_edit(trace.output, text):
            edits[trace.pk] = text
    return edits


def expected_output(kind: str, trace: Trace, review: Review | None, edits: dict[int, str]) -> str:
    """The reviewer's expected output, else the user's edit, else (golden sets only) the
    answer itself, which a golden set holds because it was good."""
    if review is not None and review.expected_output and review.status != ReviewStatus.DISMISSED:
        return review.expected_output
    if trace.pk in edits:
        return edits[trace.pk]
    return trace.output if kind == DatasetKind.GOLDEN else ""


# -- reading items, and freezing them as a version ---------------------------------------------


@dataclass(frozen=True)
class Row:
    """One item as exports read it. ``id`` is the live item's, also in a frozen version, so an
    evaluation lines its results up with the items whatever version it ran on."""

    id: str
    input: str
    messages: list
    expected_output: str
    output: str
    chosen: str
    rejected: str
    metadata: dict
    source_trace_id: str
    # What splits go by: digests of the source's end user and session, and when it was made.
    user_digest: str = ""
    session_digest: str = ""
    created_at: datetime | None = None


_ROW_FIELDS = ("input", "messages", "expected_output", "output", "chosen", "rejected", "metadata")


def rows(
    dataset: Dataset, version: DatasetVersion | None = None, *, groups: bool = False
) -> Generator[Row, None, None]:
    """The items of the dataset (or of one frozen version), in order, read in chunks;
    ``groups`` also reads what splits go by (the end user, the session, when it was made)."""
    if version is not None:
        frozen_extra: tuple[str, ...] = ()
        if groups:
            frozen_extra = ("user_digest", "session_digest", "source_created_at")
        frozen = DatasetVersionItem.objects.filter(version=version).values_list(
            "pk", "item_id", *_ROW_FIELDS, "source_trace_id", *frozen_extra
        )
        width = 2 + len(_ROW_FIELDS)
        for values in frozen.order_by("id").iterator(chunk_size=_CHUNK):
            pk, item_id, fields = values[0], values[1], values[2:width]
            item = str(item_id) if item_id else f"v{version.number}-{pk}"
            yield _row(item, fields, values[width], *values[width + 1 :])
        return
    extra = ("trace__user_id", "trace__session_id", "trace__created_at", "created_at")
    live = DatasetItem.objects.filter(dataset=dataset).values_list(
        "pk", *_ROW_FIELDS, "trace__key", *(extra if groups else ())
    )
    width = 1 + len(_ROW_FIELDS)
    for values in live.order_by("id").iterator(chunk_size=_CHUNK):
        split: tuple = ()
        if groups:
            user, session, trace_created, created = values[width + 1 :]
            split = (group_digest(user), group_digest(session), trace_created or created)
        yield _row(str(values[0]), values[1:width], values[width], *split)


def _row(
    item_id: str, fields: tuple, trace_id, user: str = "", session: str = "", created=None
) -> Row:
    input_, messages, expected, output, chosen, rejected, metadata = fields
    return Row(item_id, input_, messages or [], expected, output, chosen, rejected,
               metadata or {}, trace_id or "", user, session, created)  # fmt: skip


def group_digest(value: str | None) -> str:
    """What a split knows of an end user or session: a digest, the same in every export."""
    if not value:
        return ""
    return hashlib.sha256(f"feedback_loop.split:{value}".encode()).hexdigest()[:32]


def created_times(dataset: Dataset, version: DatasetVersion | None = None) -> list[datetime]:
    """When each item's source was made (what a split by time goes by)."""
    if version is not None:
        query = DatasetVersionItem.objects.filter(version=version).values_list(
            "source_created_at", flat=True
        )
        return [t for t in query if t is not None]
    return [
        trace_created or created
        for trace_created, created in DatasetItem.objects.filter(dataset=dataset).values_list(
            "trace__created_at", "created_at"
        )
    ]


def count_items(dataset: Dataset, version: DatasetVersion | None = None) -> int:
    """The items of the dataset, or of one frozen version (without those erased since)."""
    if version is not None:
        return version.item_count - version.erased_items
    return dataset.items.count()


def freeze(dataset: Dataset, *, user=None, note: str = "") -> DatasetVersion:
    """Copy the dataset's items into a new numbered version, whose export never changes."""
    with transaction.atomic():
        # Lock the dataset row: two freezes at once get numbers one after the other.
        Dataset.objects.select_for_update().filter(pk=dataset.pk).first()
        last = dataset.versions.aggregate(n=Max("number"))["n"] or 0
        version = DatasetVersion.objects.create(
            dataset=dataset, number=last + 1, note=note, created_by=user
        )
        batch: list[DatasetVersionItem] = []
        total = 0
        for row in rows(dataset, groups=True):
            batch.append(
                DatasetVersionItem(
                    version=version,
                    item_id=int(row.id),
                    input=row.input,
                    messages=row.messages,
                    expected_output=row.expected_output,
                    output=row.output,
                    chosen=row.chosen,
                    rejected=row.rejected,
                    metadata=row.metadata,
                    source_trace_id=row.source_trace_id,
                    user_digest=row.user_digest,
                    session_digest=row.session_digest,
                    source_created_at=row.created_at,
                )
            )
            if len(batch) == _CHUNK:
                DatasetVersionItem.objects.bulk_create(batch)
                total += len(batch)
                batch = []
        DatasetVersionItem.objects.bulk_create(batch)
        total += len(batch)
        version.item_count = total
        version.save(update_fields=["item_count"])
    return version
