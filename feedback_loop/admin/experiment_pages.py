"""What an experiment's page and the comparison of two experiments show: the summary per
scorer, the mean score by error mode (an SVG chart, drawn like charts.py's), the items a page at
a time (the work of a page is bounded whatever the size of the experiment: PER_PAGE results are
read, and at most PER_PAGE output diffs made), and the outputs sent to the review queue."""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from django.core.paginator import Page, Paginator
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from feedback_loop import conversations
from feedback_loop.admin import charts
from feedback_loop.admin.diff import diff
from feedback_loop.evaluation.summary import compare
from feedback_loop.models import (
    NEEDS_REVIEW,
    PASS,
    Experiment,
    ExperimentResult,
    Review,
    Sentiment,
    Trace,
)
from feedback_loop.traces import record_traces

PER_PAGE = 20
ITEM_ORDER = (F("version_item_id").asc(nulls_last=True), "id")
SEND_BATCH = 200
# One colour per scorer, in the order the experiment names them (then again from the start).
PALETTE = (charts._LINE, charts.GOOD, "#8a5a00", "#7b4fb5", "#2f7f8f", charts.BAD)


# -- the experiment's page -----------------------------------------------------------------------


def score_rows(scores: dict[str, Any], names: list[str]) -> list[dict[str, Any]]:
    """Each score of a result with its reason, in the experiment's order of scorers."""
    ordered = [n for n in names if n in scores] + sorted(set(scores) - set(names))
    return [
        {
            "name": name,
            "value": scores[name].get("value"),
            "reason": scores[name].get("reason", ""),
            "css": _verdict(scores[name].get("value")),
        }
        for name in ordered
    ]


def _verdict(value: float | None) -> str:
    return "fl-none" if value is None else "fl-positive" if value >= PASS else "fl-negative"


def item_input(result: ExperimentResult | None) -> str:
    """What the item asked: its input, or the last user turn of its conversation."""
    item = result.version_item if result else None
    if item is None:
        return ""
    return item.input or conversations.last_user_text(item.messages or [])


def summary_rows(experiment: Experiment) -> list[dict[str, Any]]:
    scorers = (experiment.summary or {}).get("scorers", {})
    return [{"name": name, **figures} for name, figures in scorers.items()]


def page_of(request, items) -> Page:
    paginator = Paginator(items, PER_PAGE)
    return paginator.get_page(request.GET.get("p"))


def page_links(request, page: Page) -> list[tuple[int | str, str]]:
    """(number or ellipsis, query string) of the page links, keeping the other parameters."""
    params = request.GET.copy()
    links: list[tuple[int | str, str]] = []
    for number in page.paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1):
        if isinstance(number, int):
            params["p"] = str(number)
            links.append((number, params.urlencode()))
        else:
            links.append((str(number), ""))
    return links


def experiment_context(request, experiment: Experiment) -> dict[str, Any]:
    """The summary, the chart and a page of items (only failures with ``?failures=1``)."""
    summary = experiment.summary or {}
    # In the items' order (results are written as they finish, not in that order).
    results = experiment.results.select_related("version_item").order_by(*ITEM_ORDER)
    failures_only = request.GET.get("failures") == "1"
    if failures_only:
        results = results.failed(list(experiment.scorers))
    page = page_of(request, results)
    return {
        "summary_rows": summary_rows(experiment),
        "latency": summary.get("latency_ms") or {},
        "modes_chart": modes_chart(summary.get("by_error_mode") or {}, list(experiment.scorers)),
        "failures_only": failures_only,
        "results_page": page,
        "page_links": page_links(request, page),
        "result_rows": [
            {
                "result": result,
                "input": item_input(result),
                "expected": result.version_item.expected_output if result.version_item else "",
                "scores": score_rows(result.scores or {}, list(experiment.scorers)),
                "failed": result.failed,
            }
            for result in page.object_list
        ],
        "sent_count": sent(experiment).count(),
    }


def modes_chart(by_mode: dict[str, dict[str, float | None]], scorers: list[str]) -> SafeString:
    """Per error mode, a bar per scorer: its mean score (0 to 100%) on the items of that mode."""
    if not by_mode:
        return format_html('<p class="help">{}</p>', _("No scores yet."))
    names = scorers + sorted({n for means in by_mode.values() for n in means} - set(scorers))
    color = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
    row, gap, label_w, right = 16, 10, 210, 56
    bar_w = charts.WIDTH - label_w - right
    parts: list[SafeString] = []
    y = 4
    for mode, means in by_mode.items():
        top = y
        for name in (n for n in names if n in means):
            mean = means[name]
            width = max(bar_w * (mean or 0), 1)
            shown = "-" if mean is None else f"{round(mean * 100)}%"
            bar = format_html(
                '<rect x="{}" y="{}" width="{}" height="12" rx="2" fill="{}">'
                "<title>{} · {}: {}</title></rect>"
                '<text x="{}" y="{}" fill="{}">{}</text>',
                label_w, y, charts._n(width), color[name], mode, name, shown,
                charts._n(label_w + width + 4), y + 10, charts._TEXT, shown,
            )  # fmt: skip
            parts.append(bar)
            y += row
        name_label = format_html(
            '<text x="{}" y="{}" text-anchor="end" fill="{}">{}</text>',
            label_w - 6, charts._n((top + y) / 2 + 2), charts._TEXT, mode[:34],
        )  # fmt: skip
        parts.append(name_label)
        y += gap
    parts.append(_legend(names, color, y))
    label = _("Mean score by error mode, per scorer")
    return charts._svg(charts.WIDTH, y + 18, label, mark_safe("".join(parts)))


def _legend(names: list[str], color: dict[str, str], y: int) -> SafeString:
    entries, x = [], 0.0
    for name in names:
        entries.append((charts._n(x), y, color[name], charts._n(x + 14), y + 9, charts._TEXT, name))
        x += 14 + 7 * min(len(name), 30) + 16
    return format_html_join(
        "",
        '<rect x="{}" y="{}" width="10" height="10" fill="{}"/>'
        '<text x="{}" y="{}" fill="{}">{}</text>',
        entries,
    )


# -- the comparison ------------------------------------------------------------------------------


def _order(item_id: str) -> tuple[int, str]:
    return (int(item_id), "") if item_id.isdigit() else (1 << 62, item_id)


def compare_context(request, experiment: Experiment, other: Experiment) -> dict[str, Any]:
    """``experiment`` against ``other`` (the one before): per scorer the two means and the
    counts, then the items both ran, regressions first (worst first), then improvements, then
    the rest, a page at a time, with the two outputs diffed."""
    comparison = compare(experiment, other)
    changes: dict[str, list] = {}
    best: dict[str, float] = {}
    for scorer in comparison.scorers:
        for change in scorer.regressed + scorer.improved:
            changes.setdefault(change.item_id, []).append(change)
        for change in scorer.improved:
            best[change.item_id] = max(best.get(change.item_id, 0.0), change.delta)
    regressed = comparison.regressed_items
    worse = set(regressed)
    improved = sorted(set(best) - worse, key=lambda i: (-best[i], _order(i)))
    common = set(experiment.results.values_list("item_id", flat=True)) & set(
        other.results.values_list("item_id", flat=True)
    )
    rest = sorted(common - worse - set(improved), key=_order)
    kinds = {**dict.fromkeys(rest, "unchanged"), **dict.fromkeys(improved, "improved")}
    kinds.update(dict.fromkeys(regressed, "regressed"))
    page = page_of(request, [*regressed, *improved, *rest])
    ids = list(page.object_list)
    here = _results(experiment, ids)
    there = _results(other, ids)
    names = list(experiment.scorers) + [n for n in other.scorers if n not in experiment.scorers]
    rows = []
    for item_id in ids:
        after, before = here.get(item_id), there.get(item_id)
        shown = diff(before.output if before else "", after.output if after else "")
        rows.append(
            {
                "item_id": item_id,
                "kind": kinds[item_id],
                "changes": changes.get(item_id, []),
                "input": item_input(after) or item_input(before),
                "expected": _expected(after) or _expected(before),
                "diff": shown,
                "before": before,
                "after": after,
                "scores": _side_by_side(names, before, after),
            }
        )
    return {
        "comparison": comparison,
        "counts": {"regressed": len(regressed), "improved": len(improved), "rest": len(rest)},
        "results_page": page,
        "page_links": page_links(request, page),
        "item_rows": rows,
    }


def _results(experiment: Experiment, ids: list[str]) -> dict[str, ExperimentResult]:
    results = experiment.results.filter(item_id__in=ids).select_related("version_item")
    return {result.item_id: result for result in results}


def _expected(result: ExperimentResult | None) -> str:
    item = result.version_item if result else None
    return item.expected_output if item else ""


def _side_by_side(names, before, after) -> list[dict[str, Any]]:
    rows = []
    for name in names:
        sides = [((r.scores or {}).get(name) if r else None) or {} for r in (before, after)]
        if not any(sides):
            continue
        rows.append(
            {
                "name": name,
                "sides": [
                    {
                        "value": s.get("value"),
                        "reason": s.get("reason", ""),
                        "css": _verdict(s.get("value")),
                        "ran": bool(s),
                    }
                    for s in sides
                ],
            }
        )
    return rows


# -- sending outputs to the review queue ---------------------------------------------------------


def trace_key(experiment: Experiment, item_id: str) -> str:
    return f"experiment-{experiment.pk}-{item_id}"


def sent(experiment: Experiment) -> QuerySet[Trace]:
    """The traces this experiment's outputs were sent as."""
    return Trace.objects.filter(
        project_id=experiment.project_id, key__startswith=f"experiment-{experiment.pk}-"
    )


def send_to_queue(experiment: Experiment, *, failures_only: bool) -> tuple[int, int]:
    """Record a trace in the experiment's project for each of its results (or each failure),
    with the item's conversation, and put it in the review queue; returns (sent, new).

    Sending again updates the same traces (their keys name the experiment and the item) and
    keeps their reviews. The queue lists traces that need review (NEEDS_REVIEW): a failure is
    flagged negative, any other output sent mixed; a trace already flagged keeps its sentiment.
    Results whose frozen item was erased since are not sent."""
    results = (
        experiment.results.exclude(version_item=None)
        .select_related("version_item")
        .order_by(*ITEM_ORDER)
    )
    if failures_only:
        results = results.failed(list(experiment.scorers))
    total = new = 0
    batch: dict[str, dict[str, Any]] = {}
    failed: set[str] = set()
    for result in results.iterator(chunk_size=SEND_BATCH):
        key = trace_key(experiment, result.item_id)
        batch[key] = _trace_fields(experiment, result)
        if result.failed:
            failed.add(key)
        if len(batch) >= SEND_BATCH:
            new += _record(experiment, batch, failed)
            total, batch, failed = total + len(batch), {}, set()
    if batch:
        new += _record(experiment, batch, failed)
        total += len(batch)
    return total, new


def _trace_fields(experiment: Experiment, result: ExperimentResult) -> dict[str, Any]:
    item = result.version_item
    assert item is not None
    metadata = {
        "experiment": experiment.pk,
        "experiment_name": experiment.name,
        "item_id": result.item_id,
    }
    if result.error:
        metadata["error"] = result.error
    model = experiment.metadata.get("model") if isinstance(experiment.metadata, dict) else None
    fields: dict[str, Any] = {
        "input": item.input,
        "output": result.output,
        "model": str(model or experiment.name)[:200],
        "metadata": metadata,
    }
    if item.messages:
        # What record_trace() does with a conversation: checked, then stored by record_traces;
        # one that does not pass leaves the input alone.
        with suppress(conversations.ConversationError):
            fields["messages"] = conversations.clean(item.messages)
    return fields


def _record(experiment: Experiment, batch: dict[str, dict], failed: set[str]) -> int:
    with transaction.atomic():
        created = record_traces(experiment.project, batch)
        traces = Trace.objects.filter(project_id=experiment.project_id, key__in=list(batch))
        unflagged = traces.filter(sentiment=Sentiment.NONE)
        unflagged.filter(key__in=failed).update(sentiment=Sentiment.NEGATIVE)
        unflagged.exclude(key__in=failed).update(sentiment=Sentiment.MIXED)
        # A pending review, as the pipeline gives every trace that needs one: review mode
        # hands out pending reviews.
        flagged = traces.filter(sentiment__in=NEEDS_REVIEW).values_list("pk", flat=True)
        Review.objects.bulk_create([Review(trace_id=pk) for pk in flagged], ignore_conflicts=True)
    return len(created)
