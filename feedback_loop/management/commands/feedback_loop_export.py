import contextlib
import dataclasses
import sys
import time

from django.core.management.base import BaseCommand, CommandError

from feedback_loop import exports
from feedback_loop.exports import ExportOptions
from feedback_loop.internal import datasets
from feedback_loop.management.progress import Progress, find_dataset
from feedback_loop.models import Dataset, DatasetVersion


class Command(BaseCommand):
    help = (
        "Export a dataset (or one frozen version of it) as jsonl, dpo, openai-preference, "
        "openai-chat, inspect, promptfoo or csv; streamed, so memory stays flat for any size. "
        "Says what it left out and why."
    )

    def add_arguments(self, parser):
        parser.add_argument("dataset", help="The dataset's id or name.")
        parser.add_argument("--format", required=True, choices=exports.FORMATS)
        parser.add_argument(
            "--dataset-version",
            type=int,
            dest="dataset_version",
            metavar="N",
            help="Export frozen version N (see the dataset's page) instead of the live items.",
        )
        parser.add_argument(
            "--output",
            "-o",
            help="File to write; '-' for standard output. Default: <dataset>[-v<N>].jsonl or .csv "
            "for those formats, else <dataset>[-v<N>].<format>.jsonl, e.g. dpo-pairs.dpo.jsonl; "
            "with --split, one file per side (<dataset>.train.<format>.jsonl and .test.).",
        )
        parser.add_argument(
            "--freeze",
            action="store_true",
            help="Freeze the dataset as a new numbered version first, and export that version.",
        )
        shape = parser.add_argument_group("rows")
        shape.add_argument(
            "--dpo-form",
            choices=("conversational", "text"),
            default="conversational",
            help="dpo: TRL's conversational form (messages, rendered with the model's chat "
            "template; the default) or its standard text form.",
        )
        shape.add_argument(
            "--keep-incomplete",
            action="store_true",
            help="jsonl: keep items without an expected output (pairs without a prompt) "
            "instead of leaving them out (csv keeps them anyway).",
        )
        shape.add_argument(
            "--drop-long",
            action="store_true",
            help="Leave out rows over the length budget (EXPORT_MAX_LENGTH) instead of "
            "keeping and reporting them.",
        )
        shape.add_argument("--max-length", type=int, metavar="N", help="The length budget.")
        shape.add_argument(
            "--promptfoo-assert",
            choices=("equals", "contains", "icontains", "levenshtein", "similar", "llm-rubric"),
            default="equals",
            help="promptfoo: the assertion that holds the expected output.",
        )
        shape.add_argument(
            "--manifest",
            action="store_true",
            help="Also write <output>.manifest.jsonl: the item id of each row, in order (OpenAI's "
            "formats have no room for one).",
        )
        split = parser.add_argument_group("split (deterministic, no leakage)")
        split.add_argument(
            "--split",
            metavar="test=SHARE",
            help="Write a train and a test file, e.g. --split test=0.1.",
        )
        split.add_argument(
            "--split-by",
            choices=("user", "session", "time"),
            default="user",
            help="Keep each end user's (or session's) items on one side, or test on the newest.",
        )

    def handle(self, *args, **options):
        dataset = find_dataset(options["dataset"])
        frozen = self._version(dataset, options["dataset_version"], options["freeze"])
        fmt = options["format"]
        try:
            exports.check(dataset, fmt)
            share = self._share(options["split"])
            settings = ExportOptions(
                dpo_form=options["dpo_form"],
                keep_incomplete=True if options["keep_incomplete"] else None,
                drop_long=options["drop_long"],
                max_length=options["max_length"],
                promptfoo_assert=options["promptfoo_assert"],
                split_by=options["split_by"],
                test_share=share or ExportOptions.test_share,
            )
        except exports.ExportError as exc:
            raise CommandError(str(exc)) from None
        sides = ("train", "test") if share else (None,)
        for name in sides:
            chosen = dataclasses.replace(settings, split=name) if name else settings
            path = options["output"] or exports.filename(dataset, fmt, frozen, chosen)
            if name and options["output"] and options["output"] != "-":
                stem, dot, extension = options["output"].rpartition(".")
                path = f"{stem}.{name}{dot}{extension}" if dot else f"{path}.{name}"
            self._export(dataset, fmt, frozen, chosen, path, options["manifest"])

    def _version(self, dataset: Dataset, number: int | None, freeze: bool) -> DatasetVersion | None:
        if freeze and number:
            raise CommandError("Use --freeze or --dataset-version, not both.")
        if freeze:
            made = datasets.freeze(dataset, note="feedback_loop_export --freeze")
            self.stderr.write(f"Froze {dataset.name!r} as version {made.number}.")
            return made
        if not number:
            return None
        frozen = DatasetVersion.objects.filter(dataset=dataset, number=number).first()
        if frozen is None:
            numbers = list(dataset.versions.values_list("number", flat=True))
            raise CommandError(
                f"{dataset.name!r} has no version {number}; it has: "
                f"{', '.join(map(str, sorted(numbers))) or 'none'}."
            )
        return frozen

    @staticmethod
    def _share(text: str | None) -> float | None:
        if text is None:
            return None
        name, _sep, value = text.partition("=")
        try:
            share = float(value)
        except ValueError:
            share = -1.0
        if name != "test" or not 0 < share < 1:
            raise exports.ExportError(
                f"--split is test=SHARE with a share between 0 and 1, not {text!r}."
            )
        return share

    def _export(self, dataset, fmt, frozen, settings, path: str, with_manifest: bool) -> None:
        total = datasets.count_items(dataset, frozen)
        progress = Progress(self.stderr, total)
        report = exports.Report(fmt)
        started = time.perf_counter()
        with contextlib.ExitStack() as stack:
            target = (
                sys.stdout
                if path == "-"
                else stack.enter_context(open(path, "w", encoding="utf-8", newline=""))
            )
            chunks = exports.stream(
                dataset, fmt, frozen, progress=progress, options=settings, report=report
            )
            for chunk in chunks:
                target.write(chunk)
        seconds = time.perf_counter() - started
        progress.done()
        where = "standard output" if path == "-" else path
        rate = progress.read / seconds if seconds else 0
        side = f" ({settings.split} side of the split)" if settings.split else ""
        self.stderr.write(
            self.style.SUCCESS(
                f"Wrote {report.written:,} rows of {report.read:,} items to {where}{side} in "
                f"{seconds:.1f} s ({rate:,.0f} items/s)."
            )
        )
        if settings.split:
            self.stderr.write(f"{report.other_split:,} items are on the other side.")
        for warning in report.warnings():
            self.stderr.write(self.style.WARNING(warning))
        if with_manifest and path != "-":
            manifest_path = path.rsplit(".", 1)[0] + ".manifest.jsonl"
            with open(manifest_path, "w", encoding="utf-8") as out:
                out.writelines(exports.manifest(dataset, fmt, frozen, settings))
            self.stderr.write(f"Wrote the row ids to {manifest_path}.")
