import contextlib
import sys
import time

from django.core.management.base import BaseCommand, CommandError

from feedback_loop import exports
from feedback_loop.internal import datasets
from feedback_loop.models import Dataset, DatasetVersion


class Command(BaseCommand):
    help = (
        "Export a dataset (or one frozen version of it) as jsonl, dpo, openai-preference, "
        "openai-chat or csv; streamed, so memory stays flat for any size."
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
            "for those formats, else <dataset>[-v<N>].<format>.jsonl, e.g. dpo-pairs.dpo.jsonl",
        )
        parser.add_argument(
            "--freeze",
            action="store_true",
            help="Freeze the dataset as a new numbered version first, and export that version.",
        )

    def handle(self, *args, dataset, format, dataset_version, output, freeze, **options):
        dataset = self._dataset(dataset)
        version = dataset_version
        if freeze and version:
            raise CommandError("Use --freeze or --dataset-version, not both.")
        frozen = None
        if freeze:
            frozen = datasets.freeze(dataset, note="feedback_loop_export --freeze")
            self.stderr.write(f"Froze {dataset.name!r} as version {frozen.number}.")
        elif version:
            frozen = DatasetVersion.objects.filter(dataset=dataset, number=version).first()
            if frozen is None:
                numbers = list(dataset.versions.values_list("number", flat=True))
                raise CommandError(
                    f"{dataset.name!r} has no version {version}; it has: "
                    f"{', '.join(map(str, sorted(numbers))) or 'none'}."
                )
        try:
            exports.check(dataset, format)
        except exports.ExportError as exc:
            raise CommandError(str(exc)) from None
        path = output or exports.filename(dataset, format, frozen)
        total = datasets.count_items(dataset, frozen)
        progress = Progress(self.stderr, total)
        started = time.perf_counter()
        with contextlib.ExitStack() as stack:
            target = (
                sys.stdout
                if path == "-"
                else stack.enter_context(open(path, "w", encoding="utf-8", newline=""))
            )
            for chunk in exports.stream(dataset, format, frozen, progress=progress):
                target.write(chunk)
        seconds = time.perf_counter() - started
        progress.done()
        where = "standard output" if path == "-" else path
        rate = progress.read / seconds if seconds else 0
        self.stderr.write(
            self.style.SUCCESS(
                f"Wrote {progress.written:,} rows of {progress.read:,} items to {where} in "
                f"{seconds:.1f} s ({rate:,.0f} items/s)."
            )
        )
        skipped = progress.read - progress.written
        if skipped and format != "csv":
            self.stderr.write(
                f"{skipped:,} items were left out: {format} needs "
                + (
                    "an input and an expected output."
                    if format == "openai-chat"
                    else "a chosen and a rejected text"
                    + (" and a prompt." if format == "openai-preference" else ".")
                )
            )

    def _dataset(self, name_or_id: str) -> Dataset:
        if name_or_id.isdigit():
            found = Dataset.objects.filter(pk=int(name_or_id)).first()
            if found:
                return found
        matches = list(Dataset.objects.filter(name=name_or_id).select_related("project")[:2])
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise CommandError(
                f"Several projects have a dataset named {name_or_id!r}; give its id instead."
            )
        names = ", ".join(f"{d.pk}: {d.name}" for d in Dataset.objects.order_by("pk")[:20])
        raise CommandError(f"No dataset {name_or_id!r}. Datasets: {names or 'none yet'}.")


class Progress:
    """A progress bar on standard error: redrawn in place on a terminal, every 10% otherwise."""

    WIDTH = 30

    def __init__(self, stream, total: int):
        self.stream = stream
        self.total = total
        self.read = self.written = 0
        self.started = time.perf_counter()
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.last_step = -1

    def __call__(self, read: int, written: int) -> None:
        self.read, self.written = read, written
        share = read / self.total if self.total else 1.0
        if self.tty:
            self.stream.write("\r" + self.line(share), ending="")
            self.stream.flush()
        elif int(share * 10) > self.last_step:
            self.last_step = int(share * 10)
            self.stream.write(self.line(share))

    def line(self, share: float) -> str:
        filled = int(share * self.WIDTH)
        seconds = time.perf_counter() - self.started
        rate = self.read / seconds if seconds > 0 else 0
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        return f"[{bar}] {self.read:,}/{self.total:,} items {share:4.0%}  {rate:,.0f}/s"

    def done(self) -> None:
        if self.tty:
            self.stream.write("")
