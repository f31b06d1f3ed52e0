"""Storage of conversations: a 50-turn session whose every answer is a trace holding the whole
conversation before it, stored as this app stores it (each message once per project, traces
listing them) beside the same conversations copied into each trace (a jsonb column per trace),
on PostgreSQL.

Run from the repository root::

    .venv/bin/python bench/conversations.py [--turns 50] [--chars 400] [--database-url URL]

Prints the bytes each way (tables with their indexes and TOAST, from pg_total_relation_size)
and their ratio, and writes them to bench/results/conversations-*.md and .json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.capture import DEFAULT_DATABASE_URL, RESULTS, ensure_database, migrated_django, say


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=50)
    parser.add_argument("--chars", type=int, default=400, help="characters per message")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    args = parser.parse_args()
    ensure_database(args.database_url)
    migrated_django(args.database_url)
    from django.db import connection

    from feedback_loop import record_trace
    from feedback_loop.models import Message, Project, Trace, TraceMessage

    project = Project.objects.filter(name="conversations bench").first()
    if project is not None:
        Trace.objects.filter(project=project).delete()
        Message.objects.filter(project=project).delete()
    else:
        project, _secret = Project.create("conversations bench")
    # The tables' sizes are measured whole: only this benchmark stores conversations there.
    TraceMessage.objects.all().delete()
    Message.objects.all().delete()
    filler = ("The customer asks about their order and its delivery. " * 20)[: args.chars]
    system = {"role": "system", "content": "You are the help desk of a bookshop. " + filler}
    messages = [system]
    naive = []
    say(f"recording a {args.turns}-turn session...")
    started = time.perf_counter()
    for n in range(args.turns):
        messages.append({"role": "user", "content": f"Question {n}: {filler}"})
        record_trace(project, f"turn-{n}", input="", output=f"Answer {n}: {filler}",
                     messages=list(messages), session_id="s")  # fmt: skip
        naive.append(json.dumps(messages))
        messages.append({"role": "assistant", "content": f"Answer {n}: {filler}"})
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE feedback_loop_message")
        cursor.execute("VACUUM ANALYZE feedback_loop_tracemessage")
        cursor.execute("DROP TABLE IF EXISTS bench_naive_conversations")
        cursor.execute("CREATE TABLE bench_naive_conversations (id serial, messages jsonb)")
        cursor.executemany(
            "INSERT INTO bench_naive_conversations (messages) VALUES (%s::jsonb)",
            [(text,) for text in naive],
        )
        cursor.execute("VACUUM ANALYZE bench_naive_conversations")
        sizes = {}
        for table in ("feedback_loop_message", "feedback_loop_tracemessage",
                      "bench_naive_conversations"):  # fmt: skip
            cursor.execute("SELECT pg_total_relation_size(%s)", [table])
            sizes[table] = cursor.fetchone()[0]
        cursor.execute("DROP TABLE bench_naive_conversations")
    stored = sizes["feedback_loop_message"] + sizes["feedback_loop_tracemessage"]
    copied = sizes["bench_naive_conversations"]
    text_bytes = sum(len(text) for text in naive)
    result = {
        "turns": args.turns,
        "chars_per_message": args.chars,
        "messages_stored": Message.objects.filter(project=project).count(),
        "links": TraceMessage.objects.count(),
        "bytes_messages": sizes["feedback_loop_message"],
        "bytes_links": sizes["feedback_loop_tracemessage"],
        "bytes_stored": stored,
        "bytes_copied_jsonb": copied,
        "json_text_copied": text_bytes,
        "record_seconds": round(seconds, 2),
    }
    lines = [
        f"# Storage of a {args.turns}-turn session ({args.chars} characters a message)",
        "",
        "| storage | rows | bytes (with indexes and TOAST) |",
        "|---|---:|---:|",
        f"| messages, each stored once | {result['messages_stored']:,} "
        f"| {result['bytes_messages']:,} |",
        f"| their lists per trace | {result['links']:,} | {result['bytes_links']:,} |",
        f"| **this app, in all** | | **{stored:,}** |",
        f"| baseline: every trace's conversation copied (jsonb) | {args.turns:,} | {copied:,} |",
        "",
        f"This app stores {stored / copied:.0%} of what copying takes "
        f"({copied / stored:.1f}x less); the copied JSON text alone is {text_bytes:,} bytes.",
    ]
    table = "\n".join(lines) + "\n"
    print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"conversations-{stamp}.md").write_text(table)
    (RESULTS / f"conversations-{stamp}.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
