"""Dataset exports, streamed: rows are read from the database in chunks and written as they
come, so memory stays flat whatever the size of the dataset.

Formats:

- ``jsonl``: ``{"input", "expected_output", "metadata", "source_trace_id"}`` per item (with
  ``chosen`` and ``rejected`` for a preference dataset), for eval harnesses.
- ``dpo``: TRL's preference format, ``{"prompt", "chosen", "rejected"}``.
- ``openai-preference``: OpenAI's preference fine-tuning format: ``{"input": {"messages": [...]},
  "preferred_output": [...], "non_preferred_output": [...]}``.
- ``openai-chat``: OpenAI's chat fine-tuning format, ``{"messages": [user, assistant]}``, from
  items with an expected output.
- ``csv``: one row per item (RFC 4180 quoting; every cell holding a line break is quoted, a bare
  carriage return too); a cell or a line inside a cell starting with ``= + - @`` (or tab,
  carriage return) gets a ``'`` before it, so that a spreadsheet shows it as text instead of
  running it as a formula.

Items are unique per dataset by content (see ``DatasetItem.content_hash``), so an export holds
no duplicates; a frozen version (``freeze``) exports the same bytes forever.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Max

from feedback_loop.models import (
    Dataset,
    DatasetItem,
    DatasetKind,
    DatasetVersion,
    DatasetVersionItem,
)

FORMATS = ("jsonl", "dpo", "openai-preference", "openai-chat", "csv")
PREFERENCE_FORMATS = ("dpo", "openai-preference")
CONTENT_TYPES = {
    "jsonl": "application/jsonl",
    "dpo": "application/jsonl",
    "openai-preference": "application/jsonl",
    "openai-chat": "application/jsonl",
    "csv": "text/csv; charset=utf-8",
}
CSV_COLUMNS = ("input", "expected_output", "chosen", "rejected", "source_trace_id", "metadata")
_CHUNK = 2000
# A formula starter at the start of the cell or of any line in it (after a CR or an LF).
_FORMULA_RE = re.compile(r"(?:^|(?<=[\r\n]))(?=[=+\-@\t\r])")
# What RFC 4180 quotes. csv.writer quotes only the characters of its own line terminator, so
# with "\n" a bare "\r" went out unquoted and every reader started a new row at it.
_QUOTE_RE = re.compile(r'[",\r\n]')


class ExportError(ValueError):
    pass


@dataclass(frozen=True)
class Row:
    input: str
    expected_output: str
    chosen: str
    rejected: str
    metadata: dict
    source_trace_id: str


def check(dataset: Dataset, fmt: str) -> None:
    """Raise ExportError if ``fmt`` cannot be made from this dataset, saying why."""
    if fmt not in FORMATS:
        raise ExportError(f"Unknown format {fmt!r}; one of: {', '.join(FORMATS)}.")
    if fmt in PREFERENCE_FORMATS and dataset.kind != DatasetKind.PREFERENCE:
        raise ExportError(
            f"{fmt} needs preference pairs; {dataset.name!r} is a {dataset.get_kind_display()}."
        )
    if fmt == "openai-chat" and dataset.kind == DatasetKind.PREFERENCE:
        raise ExportError(
            "openai-chat needs (input, expected output) items; export preference pairs as dpo "
            "or openai-preference."
        )


def rows(dataset: Dataset, version: DatasetVersion | None = None) -> Iterator[Row]:
    """The items of the dataset (or of one frozen version), in order, read in chunks."""
    if version is not None:
        query = DatasetVersionItem.objects.filter(version=version).values_list(
            "input", "expected_output", "chosen", "rejected", "metadata", "source_trace_id"
        )
    else:
        query = DatasetItem.objects.filter(dataset=dataset).values_list(
            "input", "expected_output", "chosen", "rejected", "metadata", "trace__key"
        )
    for values in query.order_by("id").iterator(chunk_size=_CHUNK):
        *texts, metadata, trace_id = values
        yield Row(*texts, metadata or {}, trace_id or "")


def count(dataset: Dataset, version: DatasetVersion | None = None) -> int:
    if version is not None:
        return version.item_count - version.erased_items
    return dataset.items.count()


def line(fmt: str, row: Row, preference: bool) -> str | None:
    """One JSON line (without its newline), or None if the row cannot be written in ``fmt``."""
    if fmt == "jsonl":
        record = {
            "input": row.input,
            "expected_output": row.expected_output,
            "metadata": row.metadata,
            "source_trace_id": row.source_trace_id,
        }
        if preference:
            record["chosen"], record["rejected"] = row.chosen, row.rejected
    elif fmt == "dpo":
        if not row.chosen or not row.rejected:
            return None
        record = {"prompt": row.input, "chosen": row.chosen, "rejected": row.rejected}
    elif fmt == "openai-preference":
        if not row.input or not row.chosen or not row.rejected:
            return None
        record = {
            "input": {"messages": [{"role": "user", "content": row.input}]},
            "preferred_output": [{"role": "assistant", "content": row.chosen}],
            "non_preferred_output": [{"role": "assistant", "content": row.rejected}],
        }
    elif fmt == "openai-chat":
        if not row.input or not row.expected_output:
            return None
        record = {
            "messages": [
                {"role": "user", "content": row.input},
                {"role": "assistant", "content": row.expected_output},
            ]
        }
    else:
        raise ExportError(f"{fmt} is not a JSON Lines format.")
    return json.dumps(record, ensure_ascii=False)


def neutralise(cell: str) -> str:
    """A cell a spreadsheet shows as text: a formula starter at the start of the cell or of any
    line in it gets an apostrophe before it."""
    return _FORMULA_RE.sub("'", cell)


def csv_line(cells: Iterable[str]) -> str:
    """One CSV row ending in LF; a cell holding a quote, a comma or a line break is quoted."""
    return (
        ",".join('"' + c.replace('"', '""') + '"' if _QUOTE_RE.search(c) else c for c in cells)
        + "\n"
    )


def stream(
    dataset: Dataset, fmt: str, version: DatasetVersion | None = None, progress=None
) -> Iterator[str]:
    """The export as text chunks of about a thousand rows; ``progress(read, written)`` is called
    after each chunk with the items read and the rows written so far."""
    check(dataset, fmt)
    preference = dataset.kind == DatasetKind.PREFERENCE
    buffer: list[str] = []
    read = written = 0
    if fmt == "csv":
        buffer.append(csv_line(CSV_COLUMNS))
        for row in rows(dataset, version):
            read += 1
            written += 1
            metadata = json.dumps(row.metadata, ensure_ascii=False) if row.metadata else ""
            cells = (row.input, row.expected_output, row.chosen, row.rejected)
            buffer.append(csv_line(map(neutralise, (*cells, row.source_trace_id, metadata))))
            if read % 1000 == 0:
                yield "".join(buffer)
                buffer = []
                if progress:
                    progress(read, written)
        yield "".join(buffer)
    else:
        for row in rows(dataset, version):
            read += 1
            text = line(fmt, row, preference)
            if text is not None:
                buffer.append(text)
                written += 1
            if read % 1000 == 0:
                yield "\n".join(buffer) + "\n" if buffer else ""
                buffer = []
                if progress:
                    progress(read, written)
        if buffer:
            yield "\n".join(buffer) + "\n"
    if progress:
        progress(read, written)


def filename(dataset: Dataset, fmt: str, version: DatasetVersion | None = None) -> str:
    from django.utils.text import slugify

    stem = slugify(dataset.name) or f"dataset-{dataset.pk}"
    if version is not None:
        stem += f"-v{version.number}"
    return f"{stem}.{fmt}.csv" if fmt == "csv" else f"{stem}.{fmt}.jsonl"


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
        for row in rows(dataset):
            batch.append(
                DatasetVersionItem(
                    version=version,
                    input=row.input,
                    expected_output=row.expected_output,
                    chosen=row.chosen,
                    rejected=row.rejected,
                    metadata=row.metadata,
                    source_trace_id=row.source_trace_id,
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
