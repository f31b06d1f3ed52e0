"""The real exports for the consumer job: seed a throwaway database the way a site fills it
(record_trace with each conversation, the users' edits through the capture endpoint, the
pipeline), build an eval set and a pair set from the traces, and export every format into DIR
with the names the consumer tests read.

    .venv/bin/python tests/consumers/make_exports.py DIR      (the project's own virtualenv)

The conversations are sample_exports.py's (a system prompt on every one; item-13's expected
answer is its last user turn, so promptfoo's echo provider passes it and fails the rest).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1:
        print(__doc__)
        return 2
    out = Path(args[0])
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["DATABASE_URL"] = f"sqlite:///{tmp}/exports.sqlite3"
        os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        regression, pairs = seed()
        write(out, regression, pairs)
    print(f"exports written to {out}: {', '.join(sorted(p.name for p in out.iterdir()))}")
    return 0


def seed():
    from django.test import Client
    from sample_exports import CONVERSATIONS, SYSTEM

    from feedback_loop import record_trace, sign_trace
    from feedback_loop.internal.datasets import add_traces
    from feedback_loop.models import Dataset, DatasetKind, Project, Trace

    project, _secret = Project.create("Consumer proof")
    client = Client()
    for n, (_item, turns, expected, output) in enumerate(CONVERSATIONS):
        roles = ["user", "assistant"]
        messages = [{"role": "system", "content": SYSTEM}] + [
            {"role": roles[i % 2], "content": text} for i, text in enumerate(turns)
        ]
        key = f"conversation-{n + 1}"
        user = f"user-{n % 5}"
        record_trace(project, key, input="", output=output, messages=messages, user_id=user)
        # The user's own version of the answer, as the widget sends it (the source).
        event = {
            "event_id": str(uuid.uuid4()),
            "trace_id": key,
            "token": sign_trace(key, project=project, user_id=user),
            "kind": "edit",
            "text": expected,
            "metadata": {"text_format": "source"},
        }
        answer = client.post(
            "/feedback/api/v1/events",
            json.dumps({"key": project.public_key, "events": [event]}),
            content_type="application/json",
        )
        assert answer.json()["accepted"] == 1, answer.content
    regression = Dataset.objects.create(project=project, name="Eval set")
    pairs = Dataset.objects.create(project=project, name="Pair set", kind=DatasetKind.PREFERENCE)
    traces = list(Trace.objects.filter(project=project).order_by("pk").values_list("pk", flat=True))
    add_traces(regression, traces)
    add_traces(pairs, traces)
    return regression, pairs


def write(out: Path, regression, pairs) -> None:
    from feedback_loop import exports
    from feedback_loop.exports import ExportOptions

    files = [
        ("jsonl.jsonl", regression, "jsonl", ExportOptions()),
        ("openai-chat.jsonl", regression, "openai-chat", ExportOptions()),
        ("inspect.jsonl", regression, "inspect", ExportOptions()),
        ("promptfoo.jsonl", regression, "promptfoo", ExportOptions()),
        ("dpo.jsonl", pairs, "dpo", ExportOptions()),
        ("dpo-text.jsonl", pairs, "dpo", ExportOptions(dpo_form="text")),
        ("openai-preference.jsonl", pairs, "openai-preference", ExportOptions()),
    ]
    for name, dataset, fmt, options in files:
        report = exports.Report(fmt)
        (out / name).write_text("".join(exports.stream(dataset, fmt, options=options,
                                                        report=report)))  # fmt: skip
        assert report.written == report.read, (name, report.as_dict())
        if fmt.startswith("openai"):
            manifest = "".join(exports.manifest(dataset, fmt, options=options))
            (out / name.replace(".jsonl", ".manifest.jsonl")).write_text(manifest)


if __name__ == "__main__":
    sys.exit(main())
