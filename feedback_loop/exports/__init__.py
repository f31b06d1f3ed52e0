"""Dataset exports, streamed: rows are read from the database in chunks and written as they
come, so memory stays flat whatever the size of the dataset. Each format is the one its tool
reads as it is:

- ``jsonl``: ``{"id", "input", "messages", "expected_output", "output", "metadata",
  "source_trace_id"}`` (``chosen`` and ``rejected`` for a preference set): eval harnesses,
  ``datasets.load_dataset("json")``.
- ``dpo``: TRL's preference format, conversational by default (``{"id", "prompt": [messages],
  "chosen": [assistant], "rejected": [assistant]}``, which TRL renders with the model's chat
  template), or its standard text form (``dpo_form="text"``: the prompt ends with the
  assistant's cue and the completions start with a space, so the prompt's tokens are a clean
  prefix of prompt+completion).
- ``openai-preference`` and ``openai-chat``: OpenAI's fine-tuning formats with the whole
  conversation, system message included, and exactly the keys OpenAI documents; ``manifest()``
  gives their rows' item ids in order.
- ``inspect``: inspect-ai's ``json_dataset`` fields (``id``, ``input``, ``target``,
  ``metadata``).
- ``promptfoo``: promptfoo test cases, the expected output an assertion (``vars``, ``assert``).
- ``csv``: one row per item (RFC 4180 quoting; every cell holding a line break is quoted, a
  bare carriage return too); a cell or a line inside a cell starting with ``= + - @`` (or tab,
  carriage return) gets a ``'`` before it, so that a spreadsheet shows it as text.

Rows that cannot serve (an eval item without an expected output, a pair without a prompt) are
left out, and rows over the length budget kept, unless the options say otherwise
(``ExportOptions``); either way every export's ``Report`` counts them. A split (``split="test"``)
writes one side of a deterministic train/test split by end user, session or time.
``EXPORT_REDACTOR`` is applied to every text written.

Items are unique per dataset by content (see ``DatasetItem.content_hash``), so an export holds
no duplicates; a frozen version (``freeze``) exports the same bytes forever.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Iterator

from django.http import StreamingHttpResponse

from feedback_loop.conf import app_settings
from feedback_loop.exports import formats
from feedback_loop.exports.formats import CSV_COLUMNS, csv_line, neutralise
from feedback_loop.exports.options import (
    ExportOptions,
    Report,
    problems,
    side,
    time_cutoff,
    writable,
)
from feedback_loop.exports.redaction import redacting
from feedback_loop.internal.datasets import (
    Row,
    created_times,
    expected_output,
    latest_edits,
    rows,
)
from feedback_loop.models import Dataset, DatasetKind, DatasetVersion, Trace

__all__ = [
    "CONTENT_TYPES",
    "CSV_COLUMNS",
    "FORMATS",
    "ExportError",
    "ExportOptions",
    "Report",
    "check",
    "csv_line",
    "dataset_download",
    "download",
    "filename",
    "manifest",
    "neutralise",
    "preflight",
    "stream",
    "trace_lines",
]

FORMATS = ("jsonl", "dpo", "openai-preference", "openai-chat", "inspect", "promptfoo", "csv")
PREFERENCE_FORMATS = ("dpo", "openai-preference")
EVAL_FORMATS = ("openai-chat", "inspect", "promptfoo")
CONTENT_TYPES = dict.fromkeys(FORMATS, "application/jsonl") | {"csv": "text/csv; charset=utf-8"}
_CHUNK = 1000  # rows a chunk of the stream holds


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
    if fmt in EVAL_FORMATS and dataset.kind == DatasetKind.PREFERENCE:
        raise ExportError(
            f"{fmt} needs (input, expected output) items; export preference pairs as dpo "
            "or openai-preference."
        )


def _written(
    dataset: Dataset,
    fmt: str,
    version: DatasetVersion | None,
    options: ExportOptions,
    report: Report,
) -> Iterator[Row]:
    """The rows the export writes, redacted, counting in ``report`` what it reads and why it
    leaves rows out."""
    preference = dataset.kind == DatasetKind.PREFERENCE
    cutoff = None
    if options.split and options.split_by == "time":
        cutoff = time_cutoff(created_times(dataset, version), options.test_share)
    redactor = app_settings.EXPORT_REDACTOR
    redact = redacting(redactor)
    for row in rows(dataset, version, groups=bool(options.split)):
        report.read += 1
        if options.split and side(row, options, cutoff) != options.split:
            report.other_split += 1
            continue
        reasons = problems(row, fmt, preference, options)
        if not writable(fmt, reasons, options):
            # One reason a row: what the row lacks before how long it is.
            report.left_out[reasons[0]] += 1
            continue
        report.kept.update(reasons)
        report.written += 1
        yield _redacted(row, redact) if redactor is not None else row


def _redacted(row: Row, redact: Callable) -> Row:
    texts = ("input", "messages", "expected_output", "output", "chosen", "rejected", "metadata")
    return dataclasses.replace(row, **{name: redact(getattr(row, name)) for name in texts})


def stream(
    dataset: Dataset,
    fmt: str,
    version: DatasetVersion | None = None,
    progress=None,
    *,
    options: ExportOptions | None = None,
    report: Report | None = None,
) -> Iterator[str]:
    """The export as text chunks of about a thousand rows; ``progress(read, written)`` is called
    after each chunk; ``report`` (a Report) is filled as the rows go."""
    check(dataset, fmt)
    options = options or ExportOptions()
    report = report if report is not None else Report(fmt)
    preference = dataset.kind == DatasetKind.PREFERENCE
    buffer: list[str] = [csv_line(CSV_COLUMNS)] if fmt == "csv" else []
    for row in _written(dataset, fmt, version, options, report):
        if fmt == "csv":
            buffer.append(csv_line(formats.csv_cells(row)))
        else:
            record = formats.record(fmt, row, preference, options)
            buffer.append(json.dumps(record, ensure_ascii=False) + "\n")
        if len(buffer) >= _CHUNK:
            yield "".join(buffer)
            buffer = []
            if progress:
                progress(report.read, report.written)
    yield "".join(buffer)
    if progress:
        progress(report.read, report.written)


def preflight(
    dataset: Dataset,
    fmt: str,
    version: DatasetVersion | None = None,
    options: ExportOptions | None = None,
) -> Report:
    """What the export would write and leave out, without writing it (the API's header, the
    admin's export page)."""
    check(dataset, fmt)
    report = Report(fmt)
    for _row in _written(dataset, fmt, version, options or ExportOptions(), report):
        pass
    return report


def manifest(
    dataset: Dataset,
    fmt: str,
    version: DatasetVersion | None = None,
    options: ExportOptions | None = None,
) -> Iterator[str]:
    """``{"id": ...}`` per row, in the order of the export made with the same arguments: what
    lines up the rows of OpenAI's formats (which have no room for an id) with the items."""
    check(dataset, fmt)
    report = Report(fmt)
    for row in _written(dataset, fmt, version, options or ExportOptions(), report):
        yield json.dumps({"id": row.id, "source_trace_id": row.source_trace_id}) + "\n"


def trace_lines(traces) -> Iterator[str]:
    """Traces (a queryset) as JSON Lines, for the queue's "Export as JSON Lines" action:
    ``{"input", "output", "expected_output", "metadata", "source_trace_id"}``, the expected
    output chosen as a dataset would (a dismissed review's is not one)."""
    pks = list(traces.values_list("pk", flat=True))
    for start in range(0, len(pks), 2000):
        chunk = list(
            Trace.objects.filter(pk__in=pks[start : start + 2000])
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


def dataset_download(
    dataset: Dataset,
    fmt: str,
    version: DatasetVersion | None = None,
    options: ExportOptions | None = None,
    *,
    as_manifest: bool = False,
) -> StreamingHttpResponse:
    """The export, or its manifest, as a download whose ``X-Export-Report`` header says (as
    JSON) what it writes and leaves out."""
    options = options or ExportOptions()
    report = preflight(dataset, fmt, version, options)
    name = filename(dataset, fmt, version, options)
    if as_manifest:
        chunks = manifest(dataset, fmt, version, options)
        response = download(chunks, filename=name.rsplit(".", 1)[0] + ".manifest.jsonl",
                            content_type="application/jsonl")  # fmt: skip
    else:
        response = download(
            stream(dataset, fmt, version, options=options),
            filename=name,
            content_type=CONTENT_TYPES[fmt],
        )
    response["X-Export-Report"] = json.dumps(report.as_dict(), ensure_ascii=True)
    return response


def filename(
    dataset: Dataset,
    fmt: str,
    version: DatasetVersion | None = None,
    options: ExportOptions | None = None,
) -> str:
    """``golden-v1.csv``, ``golden.jsonl``, ``dpo-pairs.dpo.jsonl``, ``golden.test.inspect.jsonl``:
    the dataset's slug, its version, the split, the format when the extension does not already
    say it, and the extension."""
    from django.utils.text import slugify

    stem = slugify(dataset.name) or f"dataset-{dataset.pk}"
    if version is not None:
        stem += f"-v{version.number}"
    if options is not None and options.split:
        stem += f".{options.split}"
    extension = "csv" if fmt == "csv" else "jsonl"
    return f"{stem}.{extension}" if fmt == extension else f"{stem}.{fmt}.{extension}"
