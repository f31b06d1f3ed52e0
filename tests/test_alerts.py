"""Alerts: a rule over live feedback, checked on Celery beat, posted once per episode to a
Slack-compatible webhook and listed in the admin."""

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from feedback_loop.internal import alerts
from feedback_loop.models import Alert, AlertRule, ErrorMode, Trace
from feedback_loop.tasks import check_alerts
from tests.curation import ADMIN, page

pytestmark = pytest.mark.django_db


@pytest.fixture
def webhook():
    """A local Slack-like endpoint; returns (its URL, the JSON bodies it received)."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hooks/alerts", received
    server.shutdown()
    server.server_close()


def answers(project, count, *, mode=None, up=0, down=0, minutes_ago=0):
    """``count`` answers, each with ``up``/``down`` current votes, ``mode`` suggested."""
    made = []
    for _ in range(count):
        trace = Trace.objects.create(
            project=project,
            key=f"t{Trace.objects.count()}",
            thumbs_up=up,
            thumbs_down=down,
            created_at=timezone.now() - timedelta(minutes=minutes_ago),
        )
        if mode:
            trace.suggested_error_modes.add(ErrorMode.objects.get(project=None, slug=mode))
        made.append(trace)
    return made


def format_rule(project, url="", **fields) -> AlertRule:
    defaults = {"name": "Format errors", "kind": "above", "metric": "error_mode:format"}
    rule = AlertRule(
        project=project, threshold=fields.pop("threshold", 0.05), last_answers=100,
        webhook_url=url, **{**defaults, **fields},
    )  # fmt: skip
    rule.full_clean()
    rule.save()
    return rule


def test_an_episode_is_posted_once_and_closes_when_the_rate_falls(project, webhook):
    url, received = webhook
    answers(project, 94)
    answers(project, 6, mode="format")
    rule = format_rule(project, url)

    episode = alerts.check(rule)
    assert episode is not None and episode.closed_at is None
    assert episode.message.startswith(
        "Format errors: the format error rate is 6.0% over the last 100 answers (95% interval"
    )
    assert episode.message.endswith("above 5.0%.")
    assert len(received) == 1 and received[0]["text"] == episode.message
    assert received[0]["alert"]["hits"] == 6 and received[0]["alert"]["n"] == 100
    # Still above: the same episode, not posted again.
    assert alerts.check(rule) is None and check_alerts.delay().get() == {"opened": 0}
    assert len(received) == 1 and Alert.objects.count() == 1

    # 100 good answers: the last 100 hold no format error now; the episode closes.
    answers(project, 100)
    assert alerts.check(rule) is None
    episode.refresh_from_db()
    assert episode.closed_at is not None and episode.notified_at is not None
    # Above again: a new episode, posted.
    answers(project, 6, mode="format")
    assert alerts.check(rule) is not None
    assert Alert.objects.count() == 2 and len(received) == 2


def test_only_the_last_answers_count(project):
    answers(project, 50, mode="format", minutes_ago=60)  # an old incident
    answers(project, 100)
    assert alerts.measure(project.pk, "error_mode:format", 100) == (0, 100)
    assert alerts.check(format_rule(project)) is None


def test_satisfaction_below_a_threshold_counts_current_votes(project):
    answers(project, 30, up=1)
    answers(project, 70, down=1)
    rule = AlertRule.objects.create(
        project=project, name="Unhappy", kind="below", metric="satisfaction", threshold=0.5
    )
    episode = alerts.check(rule)
    assert episode.value == pytest.approx(0.3)
    assert "satisfaction is 30.0% over the last 100 votes" in episode.message


def test_a_webhook_that_fails_is_recorded_not_raised(project):
    answers(project, 10, mode="format")
    rule = format_rule(project, "http://127.0.0.1:9/nobody-listens")
    episode = alerts.check(rule)
    assert episode.notified_at is None
    assert episode.notify_error.startswith("URLError")


def test_rules_say_what_is_wrong_with_them(project):
    with pytest.raises(ValidationError, match="is no metric"):
        format_rule(project, metric="error_rate")
    with pytest.raises(ValidationError, match="need a threshold"):
        format_rule(project, threshold=None)


def test_the_admin_lists_rules_and_episodes(admin_client, project):
    answers(project, 10, mode="format")
    alerts.check(format_rule(project))
    text = page(admin_client.get(f"{ADMIN}/alert/"))
    assert "Format errors: the format error rate is 100.0%" in text
    assert page(admin_client.get(f"{ADMIN}/alertrule/")).count("Format errors") >= 1
    assert admin_client.get(f"{ADMIN}/alert/add/").status_code == 403


def test_a_webhook_is_an_http_url(project):
    for url in ("ftp://example.com/x", "hooks.slack.com/services/x", "https://", "https://a b/"):
        with pytest.raises(ValidationError, match="Enter an http:// or https:// URL"):
            format_rule(project, url)
    assert format_rule(project, "https://hooks.slack.com/services/T0/B0/x").pk


def test_the_newest_release_worse_than_the_one_before_fires_once(project, webhook):
    url, received = webhook
    for release, ups, minutes_ago in (("v1", 80, 120), ("v2", 50, 10)):
        for made in (answers(project, ups, up=1, minutes_ago=minutes_ago),
                     answers(project, 100 - ups, down=1, minutes_ago=minutes_ago)):  # fmt: skip
            Trace.objects.filter(pk__in=[t.pk for t in made]).update(release=release)
    rule = AlertRule.objects.create(
        project=project, name="Release", kind="release_worse", metric="satisfaction",
        webhook_url=url,
    )  # fmt: skip
    episode = alerts.check(rule)
    assert episode is not None
    assert episode.message.startswith(
        "Release: satisfaction of release v2 is 50.0% against 80.0% for v1 (100 and 100 votes;"
    )
    assert episode.message.endswith("at 95%): worse.")
    assert received[0]["alert"]["release"] == "v2" and received[0]["alert"]["previous"] == "v1"
    assert alerts.check(rule) is None and len(received) == 1
    # Edits: none on either side, nothing to tell.
    edits = AlertRule.objects.create(
        project=project, name="Edits", kind="release_worse", metric="edit"
    )
    assert alerts.check(edits) is None
