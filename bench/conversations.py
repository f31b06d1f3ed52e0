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
import random
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.capture import DEFAULT_DATABASE_URL, RESULTS, ensure_database, migrated_django, say

_WORD_TEXT = (
    "order delivery parcel refund invoice address account password reset shipping week "
    "tracking number store return label payment card bank transfer discount code voucher "
    "customer support ticket reply yesterday tomorrow morning evening late early damaged "
    "missing wrong size colour book author edition paperback hardcover ebook chapter page "
    "price stock available warehouse courier signature neighbour door weekend holiday "
)
WORDS = tuple(_WORD_TEXT.split())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=50)
    parser.add_argument(
        "--sessions", type=int, default=40, help="sessions recorded (the figures are per session)"
    )
    parser.add_argument("--chars", type=int, default=400, help="characters per message")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    args = parser.parse_args()
    ensure_database(args.database_url)
    migrated_django(args.database_url)
    from django.db import connection

    from feedback_loop import record_trace
    from feedback_loop.models import Conversation, Message, Project, Trace

    project = Project.objects.filter(name="conversations bench").first()
    if project is not None:
        Trace.objects.filter(project=project).delete()
        Message.objects.filter(project=project).delete()
    else:
        project, _secret = Project.create("conversations bench")
    # The tables' sizes are measured whole: only this benchmark stores conversations there.
    Conversation.objects.all().delete()
    Message.objects.all().delete()
    words = random.Random(7).choices(WORDS, k=2_000_000)
    position = 0

    def filler() -> str:
        """Text that compresses as prose does (not one sentence repeated, which TOAST would
        squeeze to nothing)."""
        nonlocal position
        text = []
        while sum(map(len, text)) < args.chars:
            text.append(words[position])
            position += 1
        return " ".join(text)[: args.chars]

    # One system prompt for the product, as a host has.
    system = {"role": "system", "content": "You are the help desk of a bookshop. " + filler()}
    naive = []
    say(f"recording {args.sessions} sessions of {args.turns} turns...")
    started = time.perf_counter()
    for session in range(args.sessions):
        messages = [system]
        for n in range(args.turns):
            messages.append({"role": "user", "content": f"Question {n}: {filler()}"})
            answer = f"Answer {n}: {filler()}"
            record_trace(project, f"s{session}-turn-{n}", input="", output=answer,
                         messages=list(messages), session_id=f"s{session}")  # fmt: skip
            naive.append(json.dumps(messages))
            messages.append({"role": "assistant", "content": answer})
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE feedback_loop_message")
        cursor.execute("VACUUM ANALYZE feedback_loop_conversation")
        cursor.execute("DROP TABLE IF EXISTS bench_naive_conversations")
        cursor.execute("CREATE TABLE bench_naive_conversations (id serial, messages jsonb)")
        cursor.executemany(
            "INSERT INTO bench_naive_conversations (messages) VALUES (%s::jsonb)",
            [(text,) for text in naive],
        )
        cursor.execute("VACUUM ANALYZE bench_naive_conversations")
        sizes = {}
        for table in ("feedback_loop_message", "feedback_loop_conversation",
                      "bench_naive_conversations"):  # fmt: skip
            cursor.execute("SELECT pg_total_relation_size(%s)", [table])
            sizes[table] = cursor.fetchone()[0]
        cursor.execute("DROP TABLE bench_naive_conversations")
    stored = sizes["feedback_loop_message"] + sizes["feedback_loop_conversation"]
    copied = sizes["bench_naive_conversations"]
    text_bytes = sum(len(text) for text in naive)
    per = args.sessions
    result = {
        "sessions": args.sessions,
        "turns": args.turns,
        "chars_per_message": args.chars,
        "messages_stored": Message.objects.filter(project=project).count(),
        "links": Conversation.objects.count(),
        "bytes_messages": sizes["feedback_loop_message"],
        "bytes_links": sizes["feedback_loop_conversation"],
        "bytes_stored": stored,
        "bytes_copied_jsonb": copied,
        "json_text_copied": text_bytes,
        "record_seconds": round(seconds, 2),
    }
    lines = [
        f"# Storage of a {args.turns}-turn session ({args.chars} characters a message; "
        f"per session, of {args.sessions})",
        "",
        "| storage, per session | rows | bytes (tables, indexes, TOAST) |",
        "|---|---:|---:|",
        f"| messages, each stored once | {result['messages_stored'] // per:,} "
        f"| {result['bytes_messages'] // per:,} |",
        f"| each trace's list of message ids | {result['links'] // per:,} "
        f"| {result['bytes_links'] // per:,} |",
        f"| **this app, in all** | | **{stored // per:,}** |",
        f"| baseline: every trace's conversation copied (jsonb) | {args.turns:,} "
        f"| {copied // per:,} |",
        "",
        f"This app stores {stored / copied:.0%} of what copying takes "
        f"({copied / stored:.1f}x less); the copied JSON text alone is {text_bytes // per:,} "
        "bytes a session.",
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
