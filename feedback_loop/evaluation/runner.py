"""``evaluate()``: run a frozen dataset version through a task, score each output, record it.

The task and the scorers run in a pool of ``concurrency`` threads (an ``async def`` task runs in
its own event loop there); the results are written by the calling thread, in batches, as they
come in, so memory stays flat whatever the size of the set and an interrupted run keeps what it
finished. A task or scorer that raises is recorded on its item and the run goes on.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, as_completed, wait
from dataclasses import dataclass, field
from typing import Any

from django.db import connections, router, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from feedback_loop.evaluation.registry import resolve
from feedback_loop.evaluation.scoring import Score, Scorer
from feedback_loop.evaluation.summary import summarise
from feedback_loop.internal.datasets import Row, freeze, rows
from feedback_loop.internal.sql import column_field
from feedback_loop.models import (
    Dataset,
    DatasetVersion,
    DatasetVersionItem,
    Experiment,
    ExperimentResult,
    ExperimentStatus,
)

# What a task is given: one dataset item (id, input, messages, expected_output, output, metadata).
Item = Row
Progress = Callable[[int, int], None]
_BATCH = 1000


@dataclass
class _Outcome:
    item: Row
    output: str = ""
    error: str = ""
    latency_ms: float | None = None
    scores: dict[str, dict] = field(default_factory=dict)


def evaluate(
    dataset: Dataset | int | str,
    task: Callable | str,
    *,
    scorers: Sequence[str | Callable],
    name: str | None = None,
    version: DatasetVersion | int | None = None,
    baseline: Experiment | int | str | None = None,
    concurrency: int = 4,
    metadata: dict | None = None,
    resume: Experiment | None = None,
    progress: Progress | None = None,
    user: Any = None,
) -> Experiment:
    """Run ``task`` on every item of a frozen version of ``dataset`` (frozen now if no
    ``version`` is given), score each output with ``scorers`` and return the experiment.

    ``baseline`` is an experiment (or its id, or ``"latest"``: the newest finished one on the
    same dataset) that comparisons go against; ``resume`` continues an experiment that stopped,
    running only the items it has no result for."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    named = [resolve(spec) for spec in scorers]
    call, task_path = _task(task)
    if resume is not None:
        experiment = resume
    else:
        experiment = start(
            dataset, task_path, [n for n, _ in named], name, version, baseline, metadata, user
        )
    run(experiment, call, named, concurrency=concurrency, progress=progress)
    return experiment


def start(
    dataset: Dataset | int | str,
    task_path: str,
    scorer_names: list[str],
    name: str | None = None,
    version: DatasetVersion | int | None = None,
    baseline: Experiment | int | str | None = None,
    metadata: dict | None = None,
    user: Any = None,
) -> Experiment:
    """A new pending experiment: the dataset's version picked (or frozen) and its baseline."""
    dataset = find_dataset(dataset)
    frozen = _version(dataset, version, user)
    return Experiment.objects.create(
        project_id=dataset.project_id,
        dataset=dataset,
        version=frozen,
        name=name or f"{_short(task_path)} on {dataset.name} v{frozen.number}",
        task=task_path,
        scorers=scorer_names,
        metadata=metadata or {},
        baseline=find_baseline(dataset, baseline),
        item_count=frozen.item_count - frozen.erased_items,
        created_by=user if getattr(user, "pk", None) else None,
    )


def run(
    experiment: Experiment,
    call: Callable[[Row], str],
    named: list[tuple[str, Scorer]],
    *,
    concurrency: int = 4,
    progress: Progress | None = None,
) -> None:
    """Run the experiment's items that have no result yet, then write its summary."""
    done = set(experiment.results.values_list("item_id", flat=True))
    total = experiment.item_count
    experiment.status = ExperimentStatus.RUNNING
    experiment.started_at = experiment.started_at or timezone.now()
    experiment.save(update_fields=["status", "started_at"])
    version_items = dict(
        DatasetVersionItem.objects.filter(version_id=experiment.version_id).values_list(
            "item_id", "pk"
        )
    )
    source = rows(experiment.dataset, experiment.version)
    todo = (row for row in source if row.id not in done)
    count = len(done)
    if progress:
        progress(count, total)
    batch: list[ExperimentResult] = []
    try:
        for outcome in _outcomes(todo, call, named, concurrency):
            batch.append(_result(experiment, outcome, version_items))
            count += 1
            if len(batch) >= _BATCH:
                _save(batch)
                batch = []
            if progress:
                progress(count, total)
        _save(batch)
    except BaseException:
        # Stopped (Ctrl-C, a lost worker): the items finished so far are kept, so --resume
        # goes on from them; then the experiment says it did not finish.
        try:
            source.close()  # the server-side cursor, now rather than when collected
            _save(batch)
        finally:
            Experiment.objects.filter(pk=experiment.pk).update(status=ExperimentStatus.FAILED)
            experiment.status = ExperimentStatus.FAILED
        raise
    finish(experiment)


def finish(experiment: Experiment) -> None:
    experiment.summary = summarise(experiment)
    experiment.error_count = experiment.results.exclude(error="").count()
    experiment.status = ExperimentStatus.FINISHED
    experiment.finished_at = timezone.now()
    experiment.save(update_fields=["summary", "error_count", "status", "finished_at"])


def _outcomes(
    items: Iterator[Row], call: Callable[[Row], str], named: list, concurrency: int
) -> Iterator[_Outcome]:
    """Each item's outcome as it completes, with at most a few items per thread in flight."""
    if concurrency == 1:  # in this thread, in the dataset's order, with no pool to wait on
        yield from (_attempt(item, call, named) for item in items)
        return
    window = concurrency * 4
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="fl-eval") as pool:
        pending: set[Future] = set()
        for item in items:
            pending.add(pool.submit(_attempt, item, call, named))
            if len(pending) >= window:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                # The items that finished are yielded (and kept) before one that was stopped.
                for future in sorted(finished, key=lambda f: f.exception() is not None):
                    yield future.result()
        for future in as_completed(pending):
            yield future.result()


def _attempt(item: Row, call: Callable[[Row], str], named: list) -> _Outcome:
    outcome = _Outcome(item)
    began = time.perf_counter()
    try:
        answer = call(item)
        if inspect.isawaitable(answer):
            answer = asyncio.run(_awaited(answer))
        if answer is None:
            raise TypeError("the task returned None, not the output text")
        outcome.output = answer if isinstance(answer, str) else str(answer)
    except Exception as exc:  # the task's failure is this item's, never the run's
        outcome.error = f"{type(exc).__name__}: {exc}"
    outcome.latency_ms = round((time.perf_counter() - began) * 1000, 3)
    for scorer_name, scorer in named:
        outcome.scores[scorer_name] = _score(scorer, item, outcome).as_dict()
    return outcome


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def _score(scorer: Scorer, item: Row, outcome: _Outcome) -> Score:
    if outcome.error:
        return Score(0.0, "the task failed")
    try:
        score = scorer(item, outcome.output)
    except Exception as exc:
        return Score(None, f"the scorer failed: {type(exc).__name__}: {exc}")
    if isinstance(score, bool | int | float):
        return Score(float(score))
    if not isinstance(score, Score):
        return Score(None, f"the scorer returned {type(score).__name__}, not a Score")
    return score


def _result(experiment: Experiment, outcome: _Outcome, version_items: dict) -> ExperimentResult:
    item_id = outcome.item.id
    if item_id.isdigit():
        version_item = version_items.get(int(item_id))
    else:  # "v3-41": a frozen item whose live item is gone, by its own id
        version_item = int(item_id.rpartition("-")[2])
    return ExperimentResult(
        experiment=experiment,
        item_id=item_id,
        version_item_id=version_item,
        output=outcome.output,
        scores=outcome.scores,
        error=outcome.error,
        latency_ms=outcome.latency_ms,
    )


def _save(batch: list[ExperimentResult]) -> None:
    if not batch:
        return
    # Stored in the dataset's order, whatever order the threads finished in.
    batch.sort(key=lambda result: result.version_item_id or 0)
    # Append-only: an item that already has its result keeps it (ON CONFLICT DO NOTHING).
    alias = router.db_for_write(ExperimentResult)
    if connections[alias].vendor == "postgresql":
        _insert_postgres(batch, alias)
    else:
        with transaction.atomic(using=alias):
            ExperimentResult.objects.bulk_create(batch, ignore_conflicts=True)


_COLUMNS = ("experiment", "item_id", "version_item", "output", "scores", "error", "latency_ms")


def _insert_postgres(batch: list[ExperimentResult], alias: str) -> None:
    """One prepared INSERT per row, pipelined by executemany: bulk_create's UNNEST arrays make
    psycopg quote every JSON text inside an array literal, which cost more than the rest of a
    10,000-item run together (bench/evaluate.py)."""
    connection = connections[alias]
    quote = connection.ops.quote_name
    fields = [column_field(ExperimentResult, name) for name in (*_COLUMNS, "created_at")]
    columns = ", ".join(quote(str(field.get_attname_column()[1])) for field in fields)
    placeholders = ", ".join("%s::jsonb" if f.name == "scores" else "%s" for f in fields)
    sql = (
        f"INSERT INTO {quote(ExperimentResult._meta.db_table)} ({columns}) "
        f"VALUES ({placeholders}) ON CONFLICT DO NOTHING"
    )
    now = timezone.now()
    rows = [
        (r.experiment_id, r.item_id, r.version_item_id, r.output, json.dumps(r.scores),
         r.error, r.latency_ms, now)
        for r in batch
    ]  # fmt: skip
    with transaction.atomic(using=alias), connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _task(task: Callable | str) -> tuple[Callable, str]:
    if isinstance(task, str):
        return load_task(task), task
    module = getattr(task, "__module__", "") or ""
    qualname = getattr(task, "__qualname__", type(task).__name__)
    return task, f"{module}:{qualname}" if module else qualname


def _short(task_path: str) -> str:
    """``"myapp.prompts:answer_v2"`` -> ``"answer_v2"``: what a default name needs."""
    return task_path.replace(":", ".").rsplit(".", 1)[-1]


def load_task(path: str) -> Callable:
    """``"pkg.module:function"`` (or ``"pkg.module.function"``) -> the function."""
    try:
        task = import_string(path.replace(":", "."))
    except ImportError as exc:
        raise ValueError(f"cannot import the task {path!r} ({exc})") from exc
    if not callable(task):
        raise ValueError(f"the task {path!r} is not callable")
    return task


def find_dataset(dataset: Dataset | int | str) -> Dataset:
    if isinstance(dataset, Dataset):
        return dataset
    if isinstance(dataset, int) or (isinstance(dataset, str) and dataset.isdigit()):
        found = Dataset.objects.filter(pk=int(dataset)).first()
    else:
        matches = list(Dataset.objects.filter(name=dataset)[:2])
        if len(matches) > 1:
            raise ValueError(
                f"more than one project has a dataset named {dataset!r}; give its id instead"
            )
        found = matches[0] if matches else None
    if found is None:
        raise ValueError(f"no dataset {dataset!r}")
    return found


def _version(dataset: Dataset, version: DatasetVersion | int | None, user: Any) -> DatasetVersion:
    if isinstance(version, DatasetVersion):
        if version.dataset_id != dataset.pk:
            raise ValueError(f"{version} is not a version of {dataset}")
        return version
    if version is None:
        return freeze(dataset, user=user if getattr(user, "pk", None) else None,
                      note="frozen for an experiment")  # fmt: skip
    found = dataset.versions.filter(number=version).first()
    if found is None:
        raise ValueError(f"{dataset} has no version {version}")
    return found


def find_baseline(dataset: Dataset, baseline: Experiment | int | str | None) -> Experiment | None:
    if baseline is None or isinstance(baseline, Experiment):
        return baseline
    if baseline == "latest":
        return (
            Experiment.objects.filter(dataset=dataset, status=ExperimentStatus.FINISHED)
            .order_by("-finished_at", "-pk")
            .first()
        )
    query = Experiment.objects.filter(dataset=dataset)
    found = (
        query.filter(pk=int(baseline)).first()
        if str(baseline).isdigit()
        else query.filter(name=baseline).order_by("-pk").first()
    )
    if found is None:
        raise ValueError(f"no experiment {baseline!r} on {dataset}")
    return found


def resumable(dataset: Dataset, name: str | None = None) -> Experiment | None:
    """The newest experiment on the dataset that did not finish (of that name, if given)."""
    query = Experiment.objects.filter(dataset=dataset).exclude(status=ExperimentStatus.FINISHED)
    if name:
        query = query.filter(name=name)
    return query.order_by("-pk").first()


def scorers_of(experiment: Experiment) -> Iterable[tuple[str, Scorer]]:
    return [resolve(spec) for spec in experiment.scorers]
