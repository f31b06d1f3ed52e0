"""Benchmark of the capture endpoint, ``POST /feedback/api/v1/events``, under gunicorn on
PostgreSQL, next to a baseline measured in the same run.

Run from the repository root::

    .venv/bin/python bench/capture.py [--duration 10] [--connections 8] [--database-url URL]

It creates the bench database if missing and migrates it, creates a "bench" project, starts
gunicorn on a free port of 127.0.0.1, then for each scenario empties the events table, warms up
with wrk, empties it again and measures with wrk (bench/wrk_events.lua builds every body with
fresh event ids). It prints one Markdown table and writes it, with the raw numbers as JSON, to
bench/results/.

Rows:

* ``capture 1 event`` / ``capture 100-event batch``: the real endpoint (parsing, project lookup,
  throttle, token check per event, one INSERT ... ON CONFLICT DO NOTHING RETURNING).
* ``baseline INSERT 1 row`` / ``baseline executemany 100 rows``: bench/views.py, the same JSON
  body written to the same table with one plain INSERT (or one executemany in one transaction),
  no validation: the floor the endpoint is compared with.
* ``baseline COPY 100 rows``: the same rows streamed with ``COPY ... FROM STDIN``, PostgreSQL's
  bulk loading protocol: the physical limit for a 100-row body.

Server: gunicorn with 2 sync workers (``WORKERS``), the same for every row. Sync workers are
gunicorn's default and what the capture view is written for (it does no I/O but the database);
one worker per core of the 2-core machine this was tuned on keeps both cores busy without
workers queueing behind one another. wrk and PostgreSQL share those cores, so the numbers compare
rows of one run; they are not a capacity figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
LUA = BENCH / "wrk_events.lua"
VENV_BIN = Path(sys.executable).parent

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/feedback_loop_bench"
SETTINGS = "bench.settings"
WORKERS = 2
CAPTURE_PATH = "/feedback/api/v1/events"
TRACE_ID = "t1"
# End users the requests speak for, one picked at random per request: few enough repeats that no
# voter reaches MAX_EVENTS_PER_VOTER (100) in a run.
VOTERS = 50_000
# Time for requests wrk stopped waiting for to reach the database before rows are counted.
SETTLE_SECONDS = 0.5


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    events: int
    baseline: str | None = None  # the row this one is compared with

    @property
    def is_capture(self) -> bool:
        return self.path == CAPTURE_PATH


SCENARIOS = (
    Scenario("capture 1 event", CAPTURE_PATH, 1, baseline="baseline INSERT 1 row"),
    Scenario("baseline INSERT 1 row", "/bench/insert", 1),
    Scenario(
        "capture 100-event batch", CAPTURE_PATH, 100, baseline="baseline executemany 100 rows"
    ),
    Scenario("baseline executemany 100 rows", "/bench/insert-batch", 100),
    Scenario("baseline COPY 100 rows", "/bench/copy-batch", 100),
)


def say(message: str) -> None:
    print(message, flush=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--duration", type=int, default=10, help="measured seconds per scenario (default 10)"
    )
    parser.add_argument(
        "--warmup", type=int, default=2, help="warm-up seconds per scenario (default 2)"
    )
    parser.add_argument("--connections", type=int, default=8, help="wrk connections (default 8)")
    parser.add_argument(
        "--threads", type=int, default=2, help="wrk threads, at most --connections (default 2)"
    )
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE_URL,
        help=f"PostgreSQL database to use, created if missing (default {DEFAULT_DATABASE_URL})",
    )
    args = parser.parse_args()
    if not args.database_url.startswith(("postgres://", "postgresql://")):
        parser.error("--database-url must be a postgres:// URL")
    if min(args.duration, args.warmup, args.connections, args.threads) < 1:
        parser.error("--duration, --warmup, --connections and --threads must be at least 1")
    args.threads = min(args.threads, args.connections)
    return args


# -- database ----------------------------------------------------------------------------------


def migrated_django(url: str) -> None:
    """Set Django up on the bench settings and this database, migrated (the curation, diff-page
    and triage benchmarks)."""
    os.environ.update(DJANGO_SETTINGS_MODULE="bench.settings", DATABASE_URL=url)
    import django

    django.setup()
    from django.core.management import call_command

    say("migrating the bench database...")
    call_command("migrate", interactive=False, verbosity=0)


def ensure_database(url: str) -> None:
    import dj_database_url
    import psycopg
    from psycopg import sql

    config = dj_database_url.parse(url)
    params = {
        "host": config.get("HOST") or None,
        "port": config.get("PORT") or None,
        "user": config.get("USER") or None,
        "password": config.get("PASSWORD") or None,
    }
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]]
        ).fetchone()
        if not exists:
            say(f"creating database {config['NAME']}...")
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(config["NAME"])))


def setup_django(url: str) -> tuple[str, str]:
    """Migrate the bench database; returns the bench project's public key and the path of a
    file of trace tokens, each bound to its own end user (``VOTERS`` of them)."""
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS
    os.environ["DATABASE_URL"] = url
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    from feedback_loop import sign_trace
    from feedback_loop.models import Project

    say("migrating the bench database...")
    call_command("migrate", interactive=False, verbosity=0)
    project = Project.objects.filter(name="bench", is_active=True, require_token=True).first()
    if project is None:
        project, _secret = Project.create("bench")
    # Each request speaks for one end user, as a page does; with one token for every request,
    # one voter would pile up the whole run's events on one trace, which MAX_EVENTS_PER_VOTER
    # forbids (and its count would measure the pile).
    tokens = RESULTS / "capture-tokens.txt"
    RESULTS.mkdir(parents=True, exist_ok=True)
    tokens.write_text(
        "\n".join(
            sign_trace(TRACE_ID, project=project, user_id=f"bench-{n}") for n in range(VOTERS)
        )
        + "\n"
    )
    return project.public_key, str(tokens)


def event_row(trace_key: str, user_id: str, session_id: str, timestamp) -> dict:
    """A row for ``insert_events`` as capture validates it: no signal yet (the caller sets the
    kind and its fields), the voter the user's claimed id."""
    return {
        "event_id": uuid.uuid4(),
        "trace_key": trace_key,
        "value": None,
        "reasons": [],
        "comment": "",
        "text": "",
        "name": "",
        "metadata": {},
        "session_id": session_id,
        "user_id": user_id,
        "voter": f"cu:{user_id}",
        "output": "",
        "timestamp": timestamp,
    }


def _events_table() -> str:
    from django.db import connection

    from feedback_loop.models import FeedbackEvent

    return connection.ops.quote_name(FeedbackEvent._meta.db_table)


def truncate_events() -> None:
    """Empty the events table, and the broker's queue of the tasks capture handed off."""
    import redis
    from django.conf import settings
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {_events_table()} CASCADE")
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()


def analyze_events() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {_events_table()}")


def count_events() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {_events_table()}")
        return cursor.fetchone()[0]


def server_version() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        return cursor.fetchone()[0]


# -- server ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(port: int, url: str, log: Path) -> subprocess.Popen:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": SETTINGS, "DATABASE_URL": url}
    command = [
        str(VENV_BIN / "gunicorn"),
        "example_project.wsgi:application",
        "--chdir",
        str(ROOT),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(WORKERS),
        "--worker-class",
        "sync",
        "--graceful-timeout",
        "5",
        "--log-level",
        "warning",
        "--error-logfile",
        str(log),
    ]
    # Own process group, so that stopping it also stops its workers.
    return subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.DEVNULL)


def stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def post(url: str, payload: dict[str, Any]) -> tuple[int, str]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def envelope(key: str, token: str, count: int) -> dict[str, Any]:
    event = {"trace_id": TRACE_ID, "token": token, "kind": "thumbs", "value": 1}
    return {"key": key, "events": [{**event, "event_id": str(uuid.uuid4())} for _ in range(count)]}


def wait_until_ready(base: str, server: subprocess.Popen, log: Path, key: str, token: str):
    """Wait for gunicorn to answer, then check that every URL under test stores rows."""
    truncate_events()
    deadline = time.monotonic() + 30
    while True:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}:\n{_tail(log)}")
        try:
            status, body = post(base + CAPTURE_PATH, envelope(key, token, 1))
            break
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer in 30 s:\n{_tail(log)}") from None
            time.sleep(0.2)
    if status != 200 or json.loads(body).get("accepted") != 1:
        raise RuntimeError(f"capture smoke test failed: {status} {body}\n{_tail(log)}")
    for scenario in SCENARIOS:
        if not scenario.is_capture:
            status, body = post(base + scenario.path, envelope(key, token, scenario.events))
            if status != 200:
                raise RuntimeError(f"{scenario.path} smoke test failed: {status} {body}")
    expected = 1 + sum(s.events for s in SCENARIOS if not s.is_capture)
    if count_events() != expected:
        raise RuntimeError(f"smoke tests stored {count_events()} rows, expected {expected}")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no gunicorn log)"


def _cpu_seconds(pid: int) -> float | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # fields[0] is the state, field 3 of proc(5)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(parent: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == parent:
                pids.append(int(entry.name))
    return pids


def cpu_snapshot(server: subprocess.Popen) -> dict[str, dict[int, float]]:
    """CPU seconds used so far by each gunicorn worker and each PostgreSQL backend serving them.

    Unlike requests/s, CPU per request hardly moves with other load on the machine. PostgreSQL
    backends are only found when the server runs here.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )
        backends = [pid for (pid,) in cursor.fetchall()]
    snapshot: dict[str, dict[int, float]] = {}
    for name, pids in (("workers", _children(server.pid)), ("postgres", backends)):
        times = {pid: _cpu_seconds(pid) for pid in pids}
        snapshot[name] = {pid: t for pid, t in times.items() if t is not None}
    return snapshot


def cpu_used(before: dict, after: dict) -> dict[str, float | None]:
    return {
        name: sum(t - before[name].get(pid, 0.0) for pid, t in after[name].items())
        if after[name]
        else None
        for name in after
    }


# -- load --------------------------------------------------------------------------------------


def run_wrk(url: str, args: argparse.Namespace, seconds: int, key: str, token: str, events: int):
    command = [
        "wrk",
        f"--threads={args.threads}",
        f"--connections={args.connections}",
        f"--duration={seconds}s",
        "--timeout=10s",
        f"--script={LUA}",
        url,
        "--",
        key,
        token,
        str(events),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = process.communicate(timeout=seconds + 60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    for line in output.splitlines():
        if line.startswith("WRK_JSON "):
            return json.loads(line.removeprefix("WRK_JSON "))
    raise RuntimeError(f"wrk exited with {process.returncode} without results:\n{output}")


def measure(scenario: Scenario, base: str, args, server, key: str, token: str) -> dict[str, Any]:
    url = base + scenario.path
    truncate_events()
    say(f"warming up {scenario.name} for {args.warmup} s...")
    run_wrk(url, args, args.warmup, key, token, scenario.events)
    time.sleep(SETTLE_SECONDS)
    # The warm-up's rows stay, with statistics gathered on them, as autovacuum would gather
    # them on a live site within a minute. This machine runs PostgreSQL with autovacuum off:
    # on a table whose statistics were never gathered (emptied, or new) the planner cannot
    # tell its indexes apart, and capture's count per voter scanned a whole project's events
    # through (project, user_id) instead of reading the voter's entries, which measured the
    # missing statistics, not the endpoint.
    analyze_events()
    rows_before = count_events()
    say(f"running {scenario.name} for {args.duration} s...")
    cpu_before = cpu_snapshot(server)
    raw = run_wrk(url, args, args.duration, key, token, scenario.events)
    time.sleep(SETTLE_SECONDS)
    cpu = cpu_used(cpu_before, cpu_snapshot(server))
    rows = count_events() - rows_before

    seconds = raw["duration_us"] / 1e6
    stored = raw["accepted"] if scenario.is_capture else raw["ok"] * scenario.events
    # Requests wrk sent but stopped waiting for when time was up may still have been stored.
    in_flight = raw["sent_events"] - raw["responses"] * scenario.events
    result = {
        "scenario": scenario.name,
        "path": scenario.path,
        "events_per_request": scenario.events,
        "baseline": scenario.baseline,
        "duration_s": round(seconds, 3),
        "requests": raw["requests"],
        "requests_per_s": raw["requests"] / seconds,
        "events_per_s": stored / seconds,
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "mean_ms": raw["mean_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "stored_per_responses": stored,
        "events_in_flight_at_stop": in_flight,
        "rows_in_table": rows,
        # Includes the requests in flight at the stop: a slight overestimate, alike for all rows.
        "worker_cpu_ms_per_request": _per_request(cpu["workers"], raw["requests"]),
        "postgres_cpu_ms_per_request": _per_request(cpu["postgres"], raw["requests"]),
        "wrk": raw,
    }
    result["problems"] = problems(scenario, raw, stored, in_flight, rows)
    check = f"{rows} rows stored in the run"
    if scenario.is_capture:
        check += f", {raw['accepted']} accepted in responses"
    else:
        check += f", {stored} in 200 responses"
    say(f"  {check}, up to {in_flight} more in flight when wrk stopped")
    for problem in result["problems"]:
        say(f"  !!! {problem}")
    return result


def _per_request(seconds: float | None, requests: int) -> float | None:
    return None if seconds is None or not requests else seconds * 1000 / requests


def problems(scenario: Scenario, raw: dict, stored: int, in_flight: int, rows: int) -> list[str]:
    found = []
    if raw["non_2xx"]:
        found.append(
            f"{raw['non_2xx']} NON-2XX RESPONSES in {scenario.name}; first: {raw['errors'][:1]}"
        )
    sockets = {k: v for k, v in raw.items() if k.startswith("socket_") and v}
    if sockets:
        found.append(f"socket errors in {scenario.name}: {sockets}")
    if scenario.is_capture:
        if raw["duplicates"] or raw["rejected"]:
            found.append(
                f"{raw['duplicates']} duplicates and {raw['rejected']} rejected in {scenario.name}"
            )
        if raw["accepted"] != raw["ok"] * scenario.events:
            found.append(
                f"{raw['accepted']} accepted, expected {raw['ok'] * scenario.events} "
                f"({raw['ok']} responses of {scenario.events} events)"
            )
    if not stored <= rows <= stored + in_flight:
        found.append(
            f"ROW COUNT MISMATCH in {scenario.name}: {rows} rows, expected {stored} "
            f"(+ at most {in_flight} in flight)"
        )
    return found


# -- report ------------------------------------------------------------------------------------


def environment(args: argparse.Namespace) -> dict[str, Any]:
    import django

    def output(*command: str) -> str:
        try:
            return subprocess.run(
                command, capture_output=True, text=True, cwd=ROOT, check=False
            ).stdout.strip()
        except OSError:
            return ""

    wrk = output("wrk", "--version") or ""
    return {
        "git_commit": output("git", "rev-parse", "--short", "HEAD"),
        "git_dirty": bool(output("git", "status", "--porcelain", "--", "feedback_loop")),
        "python": platform.python_version(),
        "django": django.get_version(),
        "gunicorn": output(str(VENV_BIN / "gunicorn"), "--version"),
        "postgresql": server_version(),
        "wrk": wrk.splitlines()[0] if wrk else "",
        "cpus": os.cpu_count(),
        "load_average_before": _load_average(),
        "gunicorn_workers": f"{WORKERS} sync",
        "wrk_threads": args.threads,
        "connections": args.connections,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
    }


def _load_average() -> tuple[float, ...]:
    return tuple(round(a, 2) for a in os.getloadavg())


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} ms"


def _load(averages: tuple[float, float, float]) -> str:
    return "/".join(f"{a:.2f}" for a in averages)


def markdown(results: list[dict[str, Any]], env: dict[str, Any], started: datetime) -> str:
    by_name = {r["scenario"]: r for r in results}
    lines = [
        f"## Capture endpoint benchmark, {started:%Y-%m-%d %H:%M:%S}",
        "",
        f"gunicorn {env['gunicorn_workers']} workers, wrk {env['wrk_threads']} threads / "
        f"{env['connections']} connections, {env['duration_s']} s per row after "
        f"{env['warmup_s']} s warm-up; PostgreSQL {env['postgresql']}, Python {env['python']}, "
        f"Django {env['django']}, {env['cpus']} CPUs, commit {env['git_commit']}"
        + (" (feedback_loop modified)" if env["git_dirty"] else "")
        # Other work on the machine shifts every row; the ratios suffer least.
        + f"; load average {_load(env['load_average_before'])} before, "
        f"{_load(env['load_average_after'])} after",
        "",
        "| scenario | requests/s | events/s | p50 ms | p99 ms | vs baseline |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in results:
        baseline = by_name.get(r["baseline"]) if r["baseline"] else None
        ratio = (
            f"{r['requests_per_s'] / baseline['requests_per_s']:.0%} of baseline"
            if baseline and baseline["requests_per_s"]
            else ""
        )
        lines.append(
            f"| {r['scenario']} | {r['requests_per_s']:,.0f} | {r['events_per_s']:,.0f} "
            f"| {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {ratio} |"
        )
    lines.append("")
    for r in results:
        lines.append(
            f"- {r['scenario']}: {r['requests']} requests, {r['rows_in_table']} rows stored "
            f"({r['stored_per_responses']} stored per responses, up to "
            f"{r['events_in_flight_at_stop']} more in flight at stop), "
            f"{r['wrk']['non_2xx']} non-2xx; CPU per request: gunicorn worker "
            f"{_ms(r['worker_cpu_ms_per_request'])}, PostgreSQL backend "
            f"{_ms(r['postgres_cpu_ms_per_request'])}"
        )
    all_problems = [p for r in results for p in r["problems"]]
    if all_problems:
        lines += ["", "**PROBLEMS:**", ""] + [f"- **{p}**" for p in all_problems]
    return "\n".join(lines) + "\n"


def main() -> int:
    args = parse_args()
    # Ctrl-C and `kill` raise, so that the finally below stops gunicorn (SIGINT is reset too:
    # a shell without job control starts background commands with it ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = datetime.now()
    ensure_database(args.database_url)
    key, token_file = setup_django(args.database_url)
    token = Path(token_file).read_text().split("\n", 1)[0]  # for the readiness checks
    # Before gunicorn starts: the commit and the load describe the code and machine it runs on.
    env = environment(args)

    server = None
    log = Path(tempfile.mkstemp(prefix="bench-gunicorn-", suffix=".log")[1])
    try:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        say(f"starting gunicorn ({WORKERS} sync workers) on {base}...")
        server = start_gunicorn(port, args.database_url, log)
        wait_until_ready(base, server, log, key, token)
        results = [measure(s, base, args, server, key, token_file) for s in SCENARIOS]
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn died during the run:\n{_tail(log)}")
    finally:
        say("stopping gunicorn...")
        stop(server)
        log.unlink(missing_ok=True)

    env["load_average_after"] = _load_average()
    table = markdown(results, env, started)
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"capture-{started:%Y%m%d-%H%M%S}"
    stem.with_suffix(".md").write_text(table)
    report = {"started": started.isoformat(), "environment": env, "results": results}
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    say("")
    say(table)
    say(f"written to {stem.relative_to(ROOT)}.md and .json")
    if any(r["problems"] for r in results):
        say("!!! THE RUN HAD PROBLEMS, see above: its numbers are not trustworthy.")
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        say("interrupted.")
        sys.exit(130)
