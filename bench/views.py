"""Baselines for bench/capture.py: the least a Django view can do to store the same rows.

Same middleware, same JSON body, same table and columns as the capture endpoint, but no
validation, no token check, no throttle and no per-event results: the floor the endpoint is
compared with.
"""

from __future__ import annotations

import json

from django.db import connection, transaction
from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from feedback_loop.models import Project

INSERT_SQL = (
    'INSERT INTO "feedback_loop_feedbackevent" ("project_id", "event_id", "trace_key", "kind", '
    '"value", "reasons", "comment", "text", "name", "metadata", "session_id", "user_id", '
    '"voter", "output", "timestamp", "created_at") '
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)

# Public key -> project id, looked up once per worker so that each request is one INSERT.
_project_ids: dict[str, int] = {}


def _project_id(key: str) -> int:
    if key not in _project_ids:
        _project_ids[key] = Project.objects.values_list("pk", flat=True).get(public_key=key)
    return _project_ids[key]


def _rows(body: bytes) -> list[tuple]:
    envelope = json.loads(body)
    project_id = _project_id(envelope["key"])
    now = timezone.now()
    return [
        (
            project_id,
            event["event_id"],
            event["trace_id"],
            event["kind"],
            event.get("value"),
            "[]",
            "",
            "",
            "",
            "{}",
            "",
            "",
            f"t:{event['token'][:32]}",
            "",
            now,
            now,
        )
        for event in envelope["events"]
    ]


def _ok() -> HttpResponse:
    return HttpResponse('{"ok":true}', content_type="application/json")


@csrf_exempt
@require_POST
def insert_one(request):
    (row,) = _rows(request.body)
    with connection.cursor() as cursor:
        cursor.execute(INSERT_SQL, row)
    return _ok()


@csrf_exempt
@require_POST
def insert_batch(request):
    rows = _rows(request.body)
    # One transaction, as the endpoint uses: 100 autocommitted rows would measure 100 commits.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(INSERT_SQL, rows)
    return _ok()


COPY_SQL = (
    'COPY "feedback_loop_feedbackevent" ("project_id", "event_id", "trace_key", "kind", '
    '"value", "reasons", "comment", "text", "name", "metadata", "session_id", "user_id", '
    '"voter", "output", "timestamp", "created_at") FROM STDIN'
)


@csrf_exempt
@require_POST
def copy_batch(request):
    """The physical limit: the rows streamed with COPY, PostgreSQL's bulk loading protocol."""
    rows = _rows(request.body)
    with transaction.atomic(), connection.cursor() as cursor, cursor.cursor.copy(COPY_SQL) as copy:
        for row in rows:
            copy.write_row(row)
    return _ok()
