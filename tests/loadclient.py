"""A load client for the capture endpoint that remembers every answer, to prove nothing is lost.

Each of N concurrent clients loops: it sends a batch of 1-10 fresh events over its own HTTP/1.1
connection, as the widget does. Some requests are sent again 1-3 times (a retry after a lost
answer: each repeat must come back ``duplicate``). Some connections are cut half-way through
the body, as a phone losing signal does; that batch is then sent again on a new connection
until it gets an answer. A 503 or 429 is retried after its ``Retry-After``. Every event id
and every answer is logged; the database is then checked against the answers: each event that
got an answer is stored exactly once, and nothing else is.

The full run (64 clients, 60 s, against gunicorn on PostgreSQL) and the short one in the test
suite share this code::

    DATABASE_URL=postgres://... .venv/bin/python -m tests.loadclient \\
        --url http://127.0.0.1:8000 --key pk_... --token ... [--log answers.json]

It exits 1 and names the problem when an answer and the database disagree.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

PATH = "/feedback/api/v1/events"


@dataclass
class Report:
    requests: int = 0
    statuses: Counter = field(default_factory=Counter)
    repeats: int = 0
    cuts: int = 0
    retries_after_503: int = 0
    # event id -> statuses the server answered for it ("accepted", "duplicate", ...)
    answers: dict[str, list[str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    false_success: list[str] = field(default_factory=list)

    @property
    def acknowledged(self) -> set[str]:
        return {e for e, seen in self.answers.items() if seen}

    def summary(self) -> dict:
        return {
            "requests": self.requests,
            "statuses": dict(self.statuses),
            "repeats": self.repeats,
            "cuts": self.cuts,
            "retries_after_503": self.retries_after_503,
            "events_acknowledged": len(self.acknowledged),
            "errors": self.errors[:5],
        }


async def _request(host: str, port: int, body: bytes, cut: bool) -> tuple[int, dict, bytes]:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        head = (
            f"POST {PATH} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Content-Type: text/plain;charset=UTF-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        if cut:
            writer.write(head + body[: len(body) // 2])
            await writer.drain()
            writer.transport.abort()  # a connection reset, not a clean close
            return 0, {}, b""
        writer.write(head + body)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), timeout=30)
    finally:
        writer.close()
    head_raw, _, payload = raw.partition(b"\r\n\r\n")
    lines = head_raw.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if headers.get("transfer-encoding") == "chunked":
        payload = _unchunk(payload)
    return status, headers, payload


def _unchunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out, data = out + rest[:size], rest[size + 2 :]
    return out


async def _client(
    number: int, url: str, key: str, token: str, trace_id: str, deadline: float, report: Report,
    repeat_share: float, cut_share: float, seed: int,
) -> None:  # fmt: skip
    rng = random.Random(seed * 1000 + number)
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or 80
    while time.monotonic() < deadline:
        events = [
            {
                "event_id": str(uuid.uuid4()),
                "trace_id": trace_id,
                "token": token,
                "kind": "thumbs",
                "value": rng.choice((1, -1)),
                "session_id": f"load-{number}",
            }
            for _ in range(rng.randint(1, 10))
        ]
        for event in events:
            report.answers[event["event_id"]] = []
        body = json.dumps({"key": key, "events": events}).encode()
        sends = 1 + (rng.randint(1, 3) if rng.random() < repeat_share else 0)
        report.repeats += sends - 1
        sent = 0
        while sent < sends and time.monotonic() < deadline + 30:
            cut = rng.random() < cut_share
            try:
                status, headers, payload = await _request(host, port, body, cut)
            except (TimeoutError, OSError) as exc:
                report.errors.append(f"client {number}: {exc!r}")
                await asyncio.sleep(0.05)
                continue  # the answer was lost: send the same body again
            report.requests += 1
            if cut:
                report.cuts += 1
                continue  # no answer: send the same body again, as the widget would
            report.statuses[status] += 1
            if status in (429, 503):
                if status == 503:
                    report.retries_after_503 += 1
                    if not headers.get("retry-after"):
                        report.errors.append("503 without Retry-After")
                    try:
                        answer = json.loads(payload)
                        if answer.get("accepted"):
                            report.false_success.append(payload.decode()[:200])
                    except ValueError:
                        pass
                await asyncio.sleep(min(float(headers.get("retry-after", 1)), 2.0) * rng.random())
                continue
            if status != 200:
                report.errors.append(f"HTTP {status}: {payload[:200]!r}")
                break
            for result in json.loads(payload)["results"]:
                report.answers[result["event_id"]].append(result["status"])
            sent += 1


async def _run(url, key, token, trace_id, clients, seconds, repeat_share, cut_share, seed):
    report = Report()
    deadline = time.monotonic() + seconds
    await asyncio.gather(
        *(
            _client(n, url, key, token, trace_id, deadline, report, repeat_share, cut_share, seed)
            for n in range(clients)
        )
    )
    return report


def run_load(
    url: str,
    key: str,
    token: str | None,
    *,
    trace_id: str = "load",
    clients: int = 64,
    seconds: float = 60,
    repeat_share: float = 0.3,
    cut_share: float = 0.05,
    seed: int = 1,
) -> Report:
    args = (url, key, token, trace_id, clients, seconds, repeat_share, cut_share, seed)
    # A thread of its own, with its own event loop: the caller's thread may run one already
    # (Playwright's, in the test session).
    result: dict[str, Report] = {}
    thread = threading.Thread(target=lambda: result.update(report=asyncio.run(_run(*args))))
    thread.start()
    thread.join()
    return result["report"]


def problems(report: Report, stored: Counter) -> list[str]:
    """What went wrong, given how many rows each event id has in the database."""
    found = []
    if report.statuses.get(500) or any(500 <= s < 600 and s != 503 for s in report.statuses):
        found.append(f"5xx answers other than 503: {dict(report.statuses)}")
    if report.false_success:
        found.append(f"a 503 that claimed success: {report.false_success[:1]}")
    for event_id, seen in report.answers.items():
        if not seen:
            continue  # never answered (the run ended mid-retry): may or may not be stored
        # Accepted (or a duplicate of an accepted one): stored once. Rejected (an invalid
        # token, a voter over its limit): never stored.
        expected = 1 if {"accepted", "duplicate"} & set(seen) else 0
        if stored.get(event_id, 0) != expected:
            found.append(f"event {event_id} was answered {seen} but is stored "
                         f"{stored.get(event_id, 0)} times")  # fmt: skip
            if len(found) > 5:
                break
        if seen.count("accepted") > 1:
            found.append(f"event {event_id} was accepted twice: {seen}")
    extra = set(stored) - set(report.answers)
    if extra:
        found.append(f"{len(extra)} stored events the clients never sent")
    return found


def stored_counts(database_url: str, key: str, trace_id: str, since: float) -> Counter:
    """How many rows each event id has in the database, for the project's events on the trace
    received since ``since`` (a Unix time): what ``problems`` compares the answers with."""
    from datetime import UTC, datetime

    import dj_database_url

    db = dj_database_url.parse(database_url)
    sql = (
        "SELECT e.event_id FROM feedback_loop_feedbackevent e "
        "JOIN feedback_loop_project p ON p.id = e.project_id "
        "WHERE p.public_key = {0} AND e.trace_key = {0} AND e.created_at >= {0}"
    )
    after = datetime.fromtimestamp(since, UTC)
    if db["ENGINE"].endswith("sqlite3"):
        import sqlite3

        with sqlite3.connect(db["NAME"]) as conn:
            stamp = after.strftime("%Y-%m-%d %H:%M:%S")  # how Django stores datetimes there
            rows = conn.execute(sql.format("?"), (key, trace_id, stamp)).fetchall()
        return Counter(str(uuid.UUID(row[0])) for row in rows)
    import psycopg

    with psycopg.connect(
        dbname=db["NAME"], user=db["USER"], host=db["HOST"], port=db["PORT"] or None,
        password=db["PASSWORD"] or None,
    ) as conn:  # fmt: skip
        rows = conn.execute(sql.format("%s"), (key, trace_id, after)).fetchall()
    return Counter(str(row[0]) for row in rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="base URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--key", required=True)
    parser.add_argument("--token", required=True, help="a token for --trace-id")
    parser.add_argument("--trace-id", default="load")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--log", help="write every event id and its answers here (JSON)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="the server's database, to check every answer against it (default: $DATABASE_URL;"
        " postgres://... or sqlite:///...)",
    )
    args = parser.parse_args()
    if not args.database_url:
        parser.error("name the server's database: --database-url or DATABASE_URL")
    started = time.time() - 1  # the database's clock may round down
    report = run_load(
        args.url, args.key, args.token, trace_id=args.trace_id, clients=args.clients,
        seconds=args.seconds,
    )  # fmt: skip
    print(json.dumps(report.summary(), indent=2))
    if args.log:
        with open(args.log, "w") as out:
            json.dump(report.answers, out)
    stored = stored_counts(args.database_url, args.key, args.trace_id, started)
    found = problems(report, stored)
    for problem in found:
        print(f"PROBLEM: {problem}")
    if found:
        return 1
    print(
        f"Verified against the database: each of the {len(report.acknowledged)} events that got"
        f" an answer is stored once ({len(stored)} rows), none twice, none the clients never sent."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
