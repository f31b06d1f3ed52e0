"""Real services for the pipeline tests: a private redis-server and Celery worker processes."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"Timed out after {timeout} s waiting for {what}.")


def require(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        message = f"{binary} is not installed; the real-broker tests need it."
        if os.environ.get("CI"):
            pytest.fail(message)  # CI must run these tests, never skip them
        pytest.skip(message)
    return path


class RedisServer:
    """A redis-server of our own on a free port, which a test may stop and start again."""

    def __init__(self):
        self.binary = require("redis-server")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        wait_for(self.answers, 10, "redis-server to accept connections")

    def answers(self) -> bool:
        import redis

        try:
            return redis.Redis(port=self.port, socket_connect_timeout=0.2).ping()
        except redis.ConnectionError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


class Worker:
    """``celery -A example_project worker`` with two processes, on the test database."""

    def __init__(
        self,
        broker_url: str,
        database_url: str,
        log_dir: Path,
        chunk: int = 20,
        feedback_loop: dict | None = None,
        name: str = "test",
    ):
        import json

        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": broker_url,
            "TEST_PROCESS_CHUNK_TRACES": str(chunk),
            "TEST_FEEDBACK_LOOP": json.dumps(feedback_loop or {}),
        }
        self.name = name
        self.log_dir = log_dir
        self.starts = 0
        self.process: subprocess.Popen | None = None
        self.log: Path | None = None

    def start(self) -> None:
        self.starts += 1
        self.log = self.log_dir / f"{self.name}-worker-{self.starts}.log"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "example_project",
                "worker",
                "--pool=prefork",
                "--concurrency=2",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"{self.name}{self.starts}@%h",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so a kill takes the pool too
        )
        wait_for(
            lambda: "ready." in self.output() or self.process.poll() is not None,
            60,
            "the Celery worker to be ready",
        )
        if self.process.poll() is not None:
            raise AssertionError(f"The worker exited:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text() if self.log and self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes: no clean-up, no acknowledgement."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.process = None

    def kill_pool(self) -> list[int]:
        """SIGKILL the pool processes (the ones running tasks), not the worker's main process."""
        children = subprocess.run(
            ["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        for pid in children:
            os.kill(int(pid), signal.SIGKILL)
        return [int(pid) for pid in children]

    def stop(self) -> None:
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
            self.process = None

    def processed_counts(self, settle: float = 5.0) -> list[int]:
        """What each finished process_events task returned: events it marked processed.

        A task commits its events before the worker logs that it succeeded, so a test that saw
        the events processed may read the log a few milliseconds too early: this waits (up to
        ``settle`` seconds) for the tasks the worker received to have an outcome in the log."""
        task = r"Task feedback_loop\.process_events\[([^\]]+)\]"
        deadline = time.monotonic() + settle
        while True:
            output = self.output()
            received = set(re.findall(task + " received", output))
            ended = set(re.findall(task + " (?:succeeded|raised|failed|retry)", output))
            if received <= ended or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        returned = r"Task feedback_loop\.process_events\[[^\]]+\] succeeded in [\d.e-]+s: (\d+)"
        return [int(n) for n in re.findall(returned, output)]


class Gunicorn:
    """The demo site under gunicorn (2 sync workers, as in production) on a given database."""

    def __init__(self, database_url: str, log_dir: Path, feedback_loop: dict | None = None):
        import json

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log_dir / f"gunicorn-{self.port}.log"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": database_url,
            "TEST_FEEDBACK_LOOP": json.dumps(feedback_loop or {}),
        }
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        gunicorn = Path(sys.executable).parent / "gunicorn"
        self.process = subprocess.Popen(
            [str(gunicorn), "example_project.wsgi:application", "--bind",
             f"127.0.0.1:{self.port}", "--workers", "2", "--graceful-timeout", "5",
             "--log-level", "warning"],
            cwd=ROOT, env=self.env, stdout=self.log.open("w"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        wait_for(self.answers, 30, "gunicorn to answer")

    def answers(self) -> bool:
        import urllib.error
        import urllib.request

        if self.process.poll() is not None:
            raise AssertionError(f"gunicorn exited:\n{self.log.read_text()}")
        try:
            urllib.request.urlopen(self.url + "/feedback/api/v1/schema", timeout=1)
            return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(20)
            self.process = None


class PrivatePostgres:
    """A PostgreSQL server of our own (initdb in a temporary folder, a free port), which a
    test may stop and start again without touching the machine's server."""

    def __init__(self):
        import glob
        import tempfile

        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not bins or shutil.which("runuser") is None:
            message = "PostgreSQL's server binaries (and runuser) are needed for this test."
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
        self.bin = Path(bins[-1]).parent
        self.port = free_port()
        # Outside pytest's private (0700, root's) temporary folder: the server runs as postgres.
        self.base = Path(tempfile.mkdtemp(prefix="fl-test-pg-"))
        self.data = self.base / "pgdata"
        self.data.mkdir()
        shutil.chown(self.base, "postgres")
        shutil.chown(self.data, "postgres")
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/faults"
        self._as_postgres([str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust",
                           "-U", "postgres", "--no-sync"])  # fmt: skip

    def _as_postgres(self, command: list[str]) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *command],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd="/tmp",
        )  # fmt: skip

    def start(self) -> None:
        self._as_postgres([
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-l", str(self.data / "log"),
            "-o", f"-p {self.port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        ])  # fmt: skip

    def stop(self) -> None:
        self._as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                           "-w", "stop"])  # fmt: skip

    def remove(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)

    def create_database(self) -> None:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute("CREATE DATABASE faults")
