"""What the commands share: finding a dataset by id or name, and a progress bar."""

from __future__ import annotations

import time

from django.core.management.base import CommandError

from feedback_loop.models import Dataset


def find_dataset(name_or_id: str) -> Dataset:
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

    def __init__(self, stream, total: int, unit: str = "items"):
        self.unit = unit
        self.stream = stream
        self.total = total
        self.read = self.written = 0
        self.started = time.perf_counter()
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.last_step = -1

    def __call__(self, read: int, written: int | None = None) -> None:
        self.read, self.written = read, read if written is None else written
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
        return f"[{bar}] {self.read:,}/{self.total:,} {self.unit} {share:4.0%}  {rate:,.0f}/s"

    def done(self) -> None:
        if self.tty:
            self.stream.write("")
