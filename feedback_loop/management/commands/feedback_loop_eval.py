import json
import time

from django.core.management.base import BaseCommand, CommandError

from feedback_loop.evaluation import runner
from feedback_loop.evaluation.registry import UnknownScorer, resolve
from feedback_loop.evaluation.summary import TOLERANCE, Comparison, compare
from feedback_loop.management.progress import Progress, find_dataset
from feedback_loop.models import Experiment

DEFAULT_SCORERS = ["error_mode", "similarity"]


class Command(BaseCommand):
    help = (
        "Run a dataset's items through a task (the next prompt or model), score the outputs, "
        "record an experiment and compare it with a baseline; with --fail-on-regression, exit 1 "
        "when an item got worse: a release gate for CI."
    )

    def add_arguments(self, parser):
        parser.add_argument("dataset", help="The dataset's id or name.")
        parser.add_argument(
            "--task",
            required=True,
            help="The function that answers an item, e.g. myapp.prompts:answer_v2. It takes "
            "the item (its messages or input, and metadata) and returns the output text.",
        )
        parser.add_argument(
            "--scorer",
            action="append",
            dest="scorers",
            metavar="NAME",
            help="A scorer: exact, contains[:TEXT], regex:PATTERN, json_valid, "
            "json_schema:FILE, length[:RATIO], similarity, refusal, judge[:RUBRIC], error_mode, "
            f"or a dotted path; repeat for several. Default: {' and '.join(DEFAULT_SCORERS)}.",
        )
        parser.add_argument(
            "--dataset-version",
            type=int,
            dest="dataset_version",
            metavar="N",
            help="Run frozen version N; by default the dataset is frozen as a new version.",
        )
        parser.add_argument("--name", help="The experiment's name (default: task and version).")
        parser.add_argument(
            "--baseline",
            metavar="EXPERIMENT",
            help="Compare with this experiment (its id or name), or 'latest': the newest "
            "finished experiment on the dataset.",
        )
        parser.add_argument("--concurrency", type=int, default=4, metavar="N")
        parser.add_argument(
            "--metadata",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="Recorded with the experiment, e.g. model=gpt-4o-mini prompt=v7 commit=abc123.",
        )
        parser.add_argument(
            "--resume",
            action="store_true",
            help="Go on with the newest unfinished experiment on the dataset (of --name if "
            "given), running only the items it has no result for.",
        )
        parser.add_argument(
            "--fail-on-regression",
            action="store_true",
            help="Exit with status 1 when any item scored worse than in the baseline.",
        )
        parser.add_argument(
            "--tolerance",
            type=float,
            default=TOLERANCE,
            help=f"How far a score must move to count as a change (default {TOLERANCE}).",
        )
        parser.add_argument("--json", metavar="FILE", help="Write the summary and comparison.")

    def handle(self, *args, **options):
        dataset = find_dataset(options["dataset"])
        if options["concurrency"] < 1:
            raise CommandError("--concurrency must be at least 1.")
        try:
            call = runner.load_task(options["task"])
            if options["resume"]:
                experiment = self._resumable(dataset, options)
                named = list(runner.scorers_of(experiment))
            else:
                named = [resolve(s) for s in options["scorers"] or DEFAULT_SCORERS]
                experiment = runner.start(
                    dataset,
                    options["task"],
                    [name for name, _ in named],
                    name=options["name"],
                    version=options["dataset_version"],
                    baseline=options["baseline"],
                    metadata=self._metadata(options["metadata"]),
                )
        except (ValueError, UnknownScorer) as exc:
            raise CommandError(str(exc)) from exc

        self.stderr.write(
            f"Experiment {experiment.pk} '{experiment.name}': {experiment.item_count:,} items "
            f"of {dataset.name} v{experiment.version.number}, scored by "
            f"{', '.join(name for name, _ in named)}."
        )
        progress = Progress(self.stderr, experiment.item_count)
        started = time.perf_counter()
        runner.run(experiment, call, named, concurrency=options["concurrency"], progress=progress)
        progress.done()
        seconds = time.perf_counter() - started
        experiment.refresh_from_db()
        self.stderr.write(
            self.style.SUCCESS(f"Finished in {seconds:.1f} s; {experiment.error_count} errors.")
        )
        comparison = (
            compare(experiment, experiment.baseline, options["tolerance"])
            if experiment.baseline
            else None
        )
        self.stdout.write(self._table(experiment, comparison))
        if options["json"]:
            self._write_json(options["json"], experiment, comparison)
        if comparison and comparison.regressed_items:
            self.stdout.write(self._regressions(comparison))
            if options["fail_on_regression"]:
                raise SystemExit(1)

    def _resumable(self, dataset, options) -> Experiment:
        experiment = runner.resumable(dataset, options["name"])
        if experiment is None:
            raise CommandError(f"No unfinished experiment on {dataset.name} to resume.")
        return experiment

    def _metadata(self, pairs: list[str]) -> dict:
        metadata = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep or not key:
                raise CommandError(f"--metadata takes KEY=VALUE, not {pair!r}.")
            metadata[key] = value
        return metadata

    def _table(self, experiment: Experiment, comparison: Comparison | None) -> str:
        scorers = experiment.summary.get("scorers", {})
        header = ["scorer", "mean", "passed", "skipped"]
        if comparison:
            header += [f"baseline ({comparison.baseline.pk})", "improved", "regressed", "same"]
        lines = [header]
        changes = {s.scorer: s for s in comparison.scorers} if comparison else {}
        for name, figures in scorers.items():
            row = [
                name,
                _figure(figures["mean"]),
                f"{figures['passed']}/{figures['scored']}",
                str(figures["skipped"]),
            ]
            if comparison:
                change = changes.get(name)
                row += (
                    [
                        _figure(change.baseline_mean),
                        str(len(change.improved)),
                        str(len(change.regressed)),
                        str(change.unchanged),
                    ]
                    if change
                    else ["-", "-", "-", "-"]
                )
            lines.append(row)
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        text = [
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
            for line in lines
        ]
        text.insert(1, "  ".join("-" * width for width in widths))
        return "\n".join(text)

    def _regressions(self, comparison: Comparison) -> str:
        lines = [f"\nRegressed items ({len(comparison.regressed_items)}):"]
        for scorer in comparison.scorers:
            for change in scorer.regressed:
                lines.append(
                    f"  item {change.item_id} {scorer.scorer}: {_figure(change.before)} -> "
                    f"{_figure(change.after)}  {change.reason_after}"
                )
        return "\n".join(lines)

    def _write_json(self, path: str, experiment: Experiment, comparison: Comparison | None):
        document = {
            "experiment": experiment.pk,
            "name": experiment.name,
            "dataset": experiment.dataset_id,
            "version": experiment.version.number,
            "metadata": experiment.metadata,
            "summary": experiment.summary,
            "comparison": comparison.as_dict() if comparison else None,
        }
        with open(path, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=2)
        self.stderr.write(f"Wrote {path}.")


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
