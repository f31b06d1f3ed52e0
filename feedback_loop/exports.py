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

from django.http import StreamingHttpResponse

from feedback_loop.internal.datasets import Row, expected_output, latest_edits, rows
from feedback_loop.models import Dataset, DatasetKind, DatasetVersion, Trace

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


def trace_lines(traces) -> Iterator[str]:
    """Traces (a queryset) as JSON Lines, for the queue's "Export as JSON Lines" action:
    ``{"input", "output", "expected_output", "metadata", "source_trace_id"}``, the expected
    output chosen as a dataset would (a dismissed review's is not one)."""
    pks = list(traces.values_list("pk", flat=True))
    for start in range(0, len(pks), _CHUNK):
        chunk = list(
            Trace.objects.filter(pk__in=pks[start : start + _CHUNK])
            .select_related("review")
            .order_by("pk")
        )
        edits = latest_edits(chunk)
        lines = []
        for trace in chunk:
            review = getattr(trace, "review", None)
            record = {
                "input": trace.input,
                "output": trace.output,
                "expected_output": expected_output(DatasetKind.REGRESSION, trace, review, edits),
                "metadata": {"model": trace.model, "sentiment": trace.sentiment},
                "source_trace_id": trace.key,
            }
            lines.append(json.dumps(record, ensure_ascii=False) + "\n")
        yield "".join(lines)


def download(chunks: Iterable[str], *, filename: str, content_type: str) -> StreamingHttpResponse:
    """An export as a streamed download (the admin's and the API's)."""
    response = StreamingHttpResponse(chunks, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def dataset_download(dataset: Dataset, fmt: str, version: DatasetVersion | None = None):
    return download(
        stream(dataset, fmt, version),
        filename=filename(dataset, fmt, version),
        content_type=CONTENT_TYPES[fmt],
    )


def filename(dataset: Dataset, fmt: str, version: DatasetVersion | None = None) -> str:
    """``golden-v1.csv``, ``golden.jsonl``, ``dpo-pairs.dpo.jsonl``: the dataset's slug, its
    version, the format when the extension does not already say it, and the extension."""
    from django.utils.text import slugify

    stem = slugify(dataset.name) or f"dataset-{dataset.pk}"
    if version is not None:
        stem += f"-v{version.number}"
    extension = "csv" if fmt == "csv" else "jsonl"
    return f"{stem}.{extension}" if fmt == extension else f"{stem}.{fmt}.{extension}"
