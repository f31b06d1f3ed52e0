"""The capture path: parse a batch, validate each event, insert all of them in one statement.

Validation is plain Python rather than DRF serializers: the endpoint sees every click of every
visitor, and a hand-written check per field is several times faster while still naming the field
and the rule an event broke.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connections, models, router, transaction

from feedback_loop.conf import MAX_ID_CHARS, app_settings
from feedback_loop.internal.sql import array_type, column_field
from feedback_loop.models import EventKind, FeedbackEvent, claimed_voter
from feedback_loop.tokens import MISSING_USER_IDS, Binding, TokenError, verify_token

KINDS = frozenset(EventKind.values)
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class CaptureError(Exception):
    """A whole request is refused: answered with ``status`` and ``{"error": {...}}``."""

    def __init__(self, status: int, code: str, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


class EventError(Exception):
    """One event is refused: it gets ``rejected`` in the results, the rest go on."""

    def __init__(self, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "field": self.field}


def parse_envelope(body: bytes) -> dict[str, Any]:
    """Decode the request body into the ``{"key": ..., "events": [...]}`` envelope."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CaptureError(
            400, "invalid_encoding", f"Body is not valid UTF-8 (byte {exc.start})."
        ) from None
    try:
        envelope = json.loads(text)
    except RecursionError:
        raise CaptureError(400, "invalid_json", "Body is nested too deeply.") from None
    except json.JSONDecodeError as exc:
        raise CaptureError(400, "invalid_json", f"Body is not valid JSON: {exc}.") from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise CaptureError(400, "invalid_json", f"Body is not valid JSON: {exc}.") from None
    if not isinstance(envelope, dict):
        raise CaptureError(400, "invalid_envelope", 'Body must be an object: {"events": [...]}.')
    events = envelope.get("events")
    if not isinstance(events, list):
        raise CaptureError(400, "invalid_envelope", '"events" must be a list of event objects.')
    if not events:
        raise CaptureError(400, "invalid_envelope", '"events" must hold at least one event.')
    return envelope


def check_batch_size(events: list) -> None:
    """413 for a batch over the limit (checked once the project is known: the widget reads it)."""
    limit = app_settings.MAX_BATCH_SIZE
    if len(events) > limit:
        raise CaptureError(
            413,
            "too_many_events",
            f"A request may carry at most {limit} events; this one has {len(events)}. "
            "Split the batch.",
        )


# -- field checks ------------------------------------------------------------------------------


def _check_text(value: str, field: str) -> str:
    if "\x00" in value:
        raise EventError("invalid_field", f"{field} must not contain NUL characters.", field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise EventError(
            "invalid_field", f"{field} holds an unpaired surrogate (\\ud800-\\udfff).", field
        ) from None
    return value


def _string(
    event: dict, field: str, max_chars: int, *, required: bool = False, min_chars: int = 0
) -> str:
    value = event.get(field)
    if value is None:
        if required:
            raise EventError("missing_field", f"{field} is required.", field)
        return ""
    if not isinstance(value, str):
        raise EventError(
            "invalid_field", f"{field} must be a string, not {type(value).__name__}.", field
        )
    if len(value) > max_chars:
        raise EventError(
            "invalid_field", f"{field} is {len(value)} characters; at most {max_chars}.", field
        )
    if len(value) < min_chars or (required and not value):
        raise EventError("invalid_field", f"{field} must not be empty.", field)
    return _check_text(value, field)


def _check_json(value: Any, field: str, depth: int) -> None:
    if depth > app_settings.MAX_METADATA_DEPTH:
        raise EventError(
            "invalid_field",
            f"{field} is nested deeper than {app_settings.MAX_METADATA_DEPTH} levels.",
            field,
        )
    if isinstance(value, str):
        _check_text(value, field)
    elif isinstance(value, float) and not math.isfinite(value):
        raise EventError("invalid_field", f"{field} holds a number that is not finite.", field)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, field)
            _check_json(item, field, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_json(item, field, depth + 1)


def _metadata(event: dict) -> dict:
    value = event.get("metadata")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise EventError("invalid_field", "metadata must be an object.", "metadata")
    if not value:
        return value
    _check_json(value, "metadata", 1)
    size = len(json.dumps(value, ensure_ascii=False).encode())
    if size > app_settings.MAX_METADATA_BYTES:
        raise EventError(
            "invalid_field",
            f"metadata is {size} bytes as JSON; at most {app_settings.MAX_METADATA_BYTES}.",
            "metadata",
        )
    return value


def _reasons(event: dict) -> list[str]:
    value = event.get("reasons")
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(r, str) and r for r in value):
        raise EventError(
            "invalid_field", "reasons must be a list of error mode slugs (strings).", "reasons"
        )
    if len(value) > app_settings.MAX_REASONS:
        raise EventError(
            "invalid_field", f"reasons holds more than {app_settings.MAX_REASONS} items.", "reasons"
        )
    limit = app_settings.MAX_REASON_CHARS
    for reason in value:
        if len(reason) > limit:
            raise EventError(
                "invalid_field", f"each reason must be at most {limit} characters.", "reasons"
            )
        _check_text(reason, "reasons")
    return list(dict.fromkeys(value))


def _value(event: dict, kind: str) -> float | None:
    value = event.get("value")
    if value is not None and (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or abs(value) > 1e15
    ):
        raise EventError("invalid_field", "value must be a number.", "value")
    if kind == EventKind.THUMBS:
        if value not in (1, -1, 0):
            raise EventError(
                "invalid_field", "value of a thumbs event must be 1, -1 or 0 (retract).", "value"
            )
    elif kind == EventKind.RATING:
        scale = app_settings.RATING_SCALE
        if value is None or value != int(value) or not 1 <= value <= scale:
            raise EventError(
                "invalid_field",
                f"value of a rating event must be a whole number from 1 to {scale}.",
                "value",
            )
    return None if value is None else float(value)


def _timestamp(event: dict, now: datetime) -> datetime:
    value = event.get("timestamp")
    if value is None:
        return now
    if not isinstance(value, str) or len(value) > 40:
        raise EventError("invalid_field", "timestamp must be an ISO 8601 string.", "timestamp")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise EventError(
            "invalid_field",
            f"timestamp {value!r} is not ISO 8601, such as 2026-11-24T10:00:00Z.",
            "timestamp",
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if parsed < _EPOCH:
        raise EventError("invalid_field", "timestamp is before the year 2000.", "timestamp")
    if parsed > now + timedelta(seconds=app_settings.CLOCK_SKEW_SECONDS):
        return now
    return parsed


def _binding(token: Any, project_pk: int, trace_key: str, cache: dict | None) -> Binding:
    # A batch usually repeats one token (many signals on one answer): check each once.
    key = (token, trace_key) if isinstance(token, str) else None
    if cache is not None and key in cache:
        result = cache[key]
    else:
        try:
            result = verify_token(token, project_pk=project_pk, trace_id=trace_key)
        except TokenError as exc:
            result = EventError(exc.code, exc.message, "token")
        if cache is not None and key is not None:
            cache[key] = result
    if isinstance(result, EventError):
        raise result
    return result


def _identity(event: dict, project, trace_key: str, event_id, token_cache) -> tuple[str, str, str]:
    """(user id, session id, voter) of an event: what its token binds decides the voter (and
    the user id); without tokens, the ids the client claims."""
    user_id = _string(event, "user_id", MAX_ID_CHARS)
    if user_id in MISSING_USER_IDS:
        user_id = ""  # a page's {{ user.pk }} for an anonymous visitor, not a user
    session_id = _string(event, "session_id", MAX_ID_CHARS)
    token = event.get("token")
    if not project.require_token and token is None:
        return user_id, session_id, claimed_voter(user_id, session_id, event_id)
    if token is None:
        raise EventError("missing_token", "token is required by this project.", "token")
    binding = _binding(token, project.pk, trace_key, token_cache)
    if binding.user_id is not None:
        if user_id and user_id != binding.user_id:
            raise EventError("invalid_token", "token was issued for another user_id.", "token")
        user_id = binding.user_id
    # The token decides whom the event counts for; the event's own ids cannot.
    return user_id, session_id, binding.voter(token)


def validate_event(
    event: Any, project, now: datetime, token_cache: dict | None = None
) -> dict[str, Any]:
    """Check one event against the contract; returns the row to insert or raises EventError.

    ``token_cache`` (a dict kept for one request) remembers tokens already checked."""
    if not isinstance(event, dict):
        raise EventError("invalid_event", "each event must be an object.")
    raw_id = event.get("event_id")
    if not isinstance(raw_id, str):
        raise EventError("missing_field", "event_id is required (a UUID string).", "event_id")
    try:
        event_id = uuid.UUID(raw_id)
    except ValueError:
        raise EventError("invalid_field", "event_id must be a UUID.", "event_id") from None
    trace_key = _string(event, "trace_id", MAX_ID_CHARS, required=True)
    kind = event.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:  # a dict or list is not hashable
        raise EventError(
            "invalid_field", f"kind must be one of {', '.join(sorted(KINDS))}.", "kind"
        )
    user_id, session_id, voter = _identity(event, project, trace_key, event_id, token_cache)
    text_limit = app_settings.MAX_TEXT_CHARS
    row = {
        "event_id": event_id,
        "trace_key": trace_key,
        "kind": kind,
        "value": _value(event, kind),
        "reasons": _reasons(event),
        "comment": _string(
            event,
            "comment",
            app_settings.MAX_COMMENT_CHARS,
            required=kind == EventKind.COMMENT,
        ),
        "text": _string(event, "text", text_limit, required=kind == EventKind.EDIT),
        "name": _string(
            event, "name", app_settings.MAX_NAME_CHARS, required=kind == EventKind.CUSTOM
        ),
        "metadata": _metadata(event),
        "session_id": session_id,
        "user_id": user_id,
        "voter": voter,
        "output": _string(event, "output", text_limit),
        "timestamp": _timestamp(event, now),
    }
    return row


def over_voter_limit(project_pk: int, rows: list[dict[str, Any]]) -> set[uuid.UUID]:
    """Event ids of the rows that would take their voter past MAX_EVENTS_PER_VOTER events on
    their trace (counting what is stored). Rows already stored are left to the insert, which
    answers them as duplicates. Concurrent requests of one voter may pass the limit by a batch."""
    limit = app_settings.MAX_EVENTS_PER_VOTER
    groups = sorted({(row["trace_key"], row["voter"]) for row in rows})
    room = {group: limit - stored for group, stored in _stored_per_voter(project_pk, groups)}
    over = []
    for row in rows:
        group = (row["trace_key"], row["voter"])
        room[group] -= 1
        if room[group] < 0:
            over.append(row["event_id"])
    if not over:
        return set()
    stored_ids = FeedbackEvent.objects.filter(project_id=project_pk, event_id__in=over)
    return set(over) - set(stored_ids.values_list("event_id", flat=True))


def _stored_per_voter(project_pk: int, groups: list[tuple[str, str]]):
    """((trace key, voter), events stored, counted up to MAX_EVENTS_PER_VOTER + 1) of each
    group, in one statement whose work is bounded by the limit whatever a voter stored: each
    count reads at most limit + 1 entries of the (project, trace_key, voter) index."""
    connection = connections[router.db_for_write(FeedbackEvent)]
    q = connection.ops.quote_name
    cap = app_settings.MAX_EVENTS_PER_VOTER + 1
    count = (
        f"(SELECT count(*) FROM (SELECT 1 FROM {q(FeedbackEvent._meta.db_table)} e "
        "WHERE e.project_id = %s AND e.trace_key = g.t AND e.voter = g.v LIMIT %s) AS s)"
    )
    if connection.vendor == "postgresql":
        sql = f"SELECT g.t, g.v, {count} FROM unnest(%s::varchar[], %s::varchar[]) AS g(t, v)"
        params = [project_pk, cap, [t for t, _v in groups], [v for _t, v in groups]]
    else:
        values = ", ".join(["(%s, %s)"] * len(groups))
        sql = f"WITH g(t, v) AS (VALUES {values}) SELECT g.t, g.v, {count} FROM g"
        params = [item for group in groups for item in group] + [project_pk, cap]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [((t, v), n) for t, v, n in cursor.fetchall()]


VOTER_LIMIT_ERROR = "voter_limit"


# -- storage -----------------------------------------------------------------------------------

# The columns capture writes: every field of an event but those the database or the pipeline
# fills (id, created_at from "now", processed_at), and the project, which is the request's.
_COLUMNS = tuple(
    f.name
    for f in FeedbackEvent._meta.concrete_fields
    if f.name not in ("id", "project", "created_at", "processed_at", "requeued_at")
)
# (field name, column name) of each column, the keys of the JSON records on PostgreSQL.
_RECORD_KEYS = tuple((name, str(column_field(FeedbackEvent, name).column)) for name in _COLUMNS)
_PLAIN_FIELDS = (models.CharField, models.TextField, models.FloatField)
# Rows per INSERT statement on SQLite, well under its bound-parameter limit.
_CHUNK = 500


@functools.cache
def _sql(vendor: str, quote_name) -> tuple[str, str]:
    """(start of the INSERT up to VALUES/SELECT, its ON CONFLICT ... RETURNING tail)."""
    meta = FeedbackEvent._meta
    field = functools.partial(column_field, FeedbackEvent)
    columns = ["project", *_COLUMNS, "created_at"]
    names = ", ".join(quote_name(field(name).column) for name in columns)
    head = f"INSERT INTO {quote_name(meta.db_table)} ({names}) "
    conflict = f"{quote_name(field('project').column)}, {quote_name('event_id')}"
    returning = f"{quote_name('id')}, {quote_name('event_id')}"
    tail = f" ON CONFLICT ({conflict}) DO NOTHING RETURNING {returning}"
    if vendor == "postgresql":
        # The record's columns take the types of the arrays unnest() was given before.
        record = ", ".join(
            f"{quote_name(field(name).column)} {array_type(field(name))[:-2]}" for name in _COLUMNS
        )
        head += f"SELECT %s, r.*, %s FROM json_to_recordset(%s::json) AS r({record})"
    else:
        head += "VALUES "
    return head, tail


def insert_events(project_pk: int, rows: list[dict[str, Any]], now) -> dict[uuid.UUID, int]:
    """Insert rows, skipping event ids the project already has; returns the primary keys of the
    rows inserted by their event ids.

    One ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` statement: a repeat (also a concurrent
    one) never makes a second row, and RETURNING says which rows are new without a second
    query. On PostgreSQL the rows travel as one JSON document read by ``json_to_recordset()``:
    the statement's text is the same for any batch, and the driver quotes one string instead
    of escaping every element of an array per column (which cost more than the insert).
    """
    db = router.db_for_write(FeedbackEvent)
    connection = connections[db]
    # PostgreSQL and SQLite only (feedback_loop.E005 says so at start-up): both answer
    # INSERT ... ON CONFLICT DO NOTHING RETURNING, which makes a repeat a duplicate, never a row.
    head, tail = _sql(connection.vendor, connection.ops.quote_name)
    inserted: dict[uuid.UUID, int] = {}
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            batch = json.dumps(
                [{column: row[name] for name, column in _RECORD_KEYS} for row in rows],
                ensure_ascii=False,
                default=str,  # UUIDs and aware datetimes, in forms PostgreSQL reads back
            )
            cursor.execute(head + tail, [project_pk, now, batch])
            inserted.update((event_id, pk) for pk, event_id in cursor.fetchall())
            return inserted
        # Strings, numbers and None go to the driver as they are; UUIDs, JSON and datetimes
        # need the backend's adaptation.
        adapters = [
            None if isinstance(f, _PLAIN_FIELDS) else f.get_db_prep_save
            for f in (column_field(FeedbackEvent, name) for name in _COLUMNS)
        ]
        stamp = column_field(FeedbackEvent, "created_at").get_db_prep_save(now, connection)
        placeholder = "(" + ", ".join(["%s"] * (len(_COLUMNS) + 2)) + ")"
        # One statement is atomic by itself; several chunks need a transaction.
        with transaction.atomic(using=db) if len(rows) > _CHUNK else contextlib.nullcontext():
            for start in range(0, len(rows), _CHUNK):
                chunk = rows[start : start + _CHUNK]
                params: list[Any] = []
                for row in chunk:
                    params.append(project_pk)
                    for adapt, name in zip(adapters, _COLUMNS, strict=True):
                        value = row[name]
                        params.append(value if adapt is None else adapt(value, connection))
                    params.append(stamp)
                cursor.execute(head + ", ".join([placeholder] * len(chunk)) + tail, params)
                inserted.update((uuid.UUID(eid), pk) for pk, eid in cursor.fetchall())
    return inserted
