"""Load without loss and a database outage, against gunicorn (2 sync workers) on PostgreSQL,
driven by tests/loadclient.py. Short forms of the full runs named in the README; they run in
the PostgreSQL run of the suite."""

import json
from collections import Counter

import psycopg
import pytest
from django.db import connection

from feedback_loop import sign_trace
from tests.loadclient import problems, run_load
from tests.services import Gunicorn, PrivatePostgres

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.faults,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(180),
]

# No throttle (the clients share one address), no limit per voter (every client sends on one
# trace with one token) and no hand-off (no broker here): the capture path alone.
SETTINGS = {"THROTTLE_RATE": None, "ENQUEUE_ON_CAPTURE": False, "MAX_EVENTS_PER_VOTER": 10**9}


def database_url() -> str:
    settings = connection.settings_dict
    return (
        f"postgres://{settings['USER']}@{settings['HOST'] or '127.0.0.1'}:"
        f"{settings['PORT'] or 5432}/{settings['NAME']}"
    )


def test_load_with_repeats_and_cut_connections_loses_and_doubles_nothing(project, tmp_path):
    url = database_url()
    server = Gunicorn(url, tmp_path, SETTINGS)
    server.start()
    try:
        report = run_load(
            server.url, project.public_key, sign_trace("load", project=project),
            clients=16, seconds=4,
        )  # fmt: skip
    finally:
        server.stop()
    from feedback_loop.models import FeedbackEvent

    stored = Counter(str(e) for e in FeedbackEvent.objects.values_list("event_id", flat=True))
    summary = report.summary()
    assert problems(report, stored) == [], summary
    assert report.statuses[200] > 50 and set(report.statuses) == {200}, summary
    assert report.repeats > 0 and report.cuts > 0, summary
    duplicates = sum(seen.count("duplicate") for seen in report.answers.values())
    assert duplicates > 0  # the repeats were answered "duplicate", never stored twice
    assert len(stored) == len(report.acknowledged)


def test_the_load_clients_command_checks_every_answer_against_the_database(project, tmp_path):
    """`python -m tests.loadclient`, as the README runs it, verifies the database itself."""
    import subprocess
    import sys

    from feedback_loop.models import FeedbackEvent
    from tests.loadclient import Report, stored_counts
    from tests.services import ROOT

    url = database_url()
    server = Gunicorn(url, tmp_path, SETTINGS)
    server.start()
    log = tmp_path / "answers.json"
    token = sign_trace("load", project=project)
    try:
        run = subprocess.run(
            [sys.executable, "-m", "tests.loadclient", "--url", server.url,
             "--key", project.public_key, "--token", token, "--clients", "4",
             "--seconds", "2", "--log", str(log)],
            cwd=ROOT, env={**__import__("os").environ, "DATABASE_URL": url},
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        server.stop()
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Verified against the database" in run.stdout
    # And it does see a lost event: take one away.
    answers = json.loads(log.read_text())
    lost = next(e for e, seen in answers.items() if "accepted" in seen)
    FeedbackEvent.objects.filter(event_id=lost).delete()
    stored = stored_counts(url, project.public_key, "load", 0)
    assert problems(Report(answers=answers), stored) == [
        f"event {lost} was answered {answers[lost]} but is stored 0 times"
    ]


def test_a_database_outage_answers_503_and_the_retries_deliver_everything(tmp_path):
    postgres = PrivatePostgres()
    postgres.start()
    server = None
    try:
        postgres.create_database()
        import subprocess
        import sys

        from tests.services import ROOT

        env = {**server_env(postgres.url)}
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env,
                       check=True)  # fmt: skip
        out = subprocess.run(
            [sys.executable, "manage.py", "feedback_loop_create_project", "Outage", "--no-token"],
            cwd=ROOT, env=env, check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        key = next(line.split()[-1] for line in out.splitlines() if line.startswith("public key"))
        server = Gunicorn(postgres.url, tmp_path, SETTINGS)
        server.start()

        import threading

        result = {}
        load = threading.Thread(
            target=lambda: result.update(
                report=run_load(server.url, key, None, clients=8, seconds=9, cut_share=0.0)
            )
        )
        load.start()
        import time

        time.sleep(2)
        postgres.stop()  # for 3 s, while the clients keep sending
        time.sleep(3)
        postgres.start()
        load.join()
        report = result["report"]
        with psycopg.connect(postgres.url) as conn:
            stored = Counter(
                str(event_id)
                for (event_id,) in conn.execute("SELECT event_id FROM feedback_loop_feedbackevent")
            )
    finally:
        if server is not None:
            server.stop()
        postgres.stop()
        postgres.remove()
    summary = report.summary()
    assert report.statuses[503] > 0, summary  # the outage was seen, as 503 with Retry-After
    assert report.retries_after_503 == report.statuses[503]
    assert not [e for e in report.errors if "Retry-After" in e], summary
    assert problems(report, stored) == [], summary
    # After the outage every client got its answers: nothing was left unacknowledged.
    unanswered = [e for e, seen in report.answers.items() if not seen]
    assert len(unanswered) <= 8 * 10, summary  # at most the batch each client had in flight
    assert set(report.statuses) <= {200, 503}, summary


def server_env(database_url: str) -> dict:
    import os

    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url,
        "TEST_FEEDBACK_LOOP": json.dumps(SETTINGS),
    }
