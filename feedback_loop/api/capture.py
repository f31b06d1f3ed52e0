"""``POST {mount}/api/v1/events``: the public endpoint the widget sends feedback to.

It authenticates with a public key, checks the origin, verifies each event's trace token,
writes the batch in one statement and answers; everything slow happens later, on Celery.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from django.core.exceptions import DisallowedHost
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework.views import APIView

from feedback_loop import handoff
from feedback_loop.api import schema
from feedback_loop.conf import app_settings
from feedback_loop.internal import capture
from feedback_loop.internal.capture import CaptureError, EventError
from feedback_loop.internal.projects import project_for_public_key
from feedback_loop.internal.throttle import client_address, throttle_wait
from feedback_loop.keys import PUBLIC_PREFIX, SECRET_PREFIX
from feedback_loop.origins import origin_allowed, parse_allowlist, same_origin

logger = logging.getLogger("feedback_loop.capture")

_MEDIA_TYPES = ("application/json", "text/plain")
_ALLOW_HEADERS = "Content-Type, X-Feedback-Key"


def _json(status: int, payload: dict[str, Any], headers: dict[str, str] | None = None):
    try:
        body = json.dumps(payload, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        # A result echoing an event_id that holds a lone surrogate: escaped, as it came.
        body = json.dumps(payload).encode()
    response = HttpResponse(body, status=status, content_type="application/json")
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _error(exc: CaptureError) -> HttpResponse:
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
    return _json(exc.status, {"error": {"code": exc.code, "message": exc.message}}, headers)


def _cors(response: HttpResponse, origin: str | None) -> HttpResponse:
    # Credentials are never allowed: the endpoint reads no cookies.
    if origin:
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Expose-Headers"] = "Retry-After"
    response["Vary"] = "Origin"
    return response


CAPTURE_SCHEMA = schema.document(
    operation_id="capture_events",
    summary="Send feedback events (public key)",
    description=(
        "Called by the widget. The body may be sent as application/json or text/plain "
        "(navigator.sendBeacon). Each event is answered on its own in `results`; a repeated "
        "`event_id` is a `duplicate`, never a second row."
    ),
    auth=[{}],
    tags=["capture"],
    request={
        "application/json": schema.CaptureRequestSerializer,
        "text/plain": schema.CaptureRequestSerializer,
    },
    parameters=[
        OpenApiParameter(
            "X-Feedback-Key",
            str,
            OpenApiParameter.HEADER,
            description="The project's public key, instead of `key` in the body.",
        )
    ],
    responses={
        200: schema.CaptureResponseSerializer,
        400: OpenApiResponse(schema.ErrorSerializer, description="Malformed envelope."),
        401: OpenApiResponse(schema.ErrorSerializer, description="Unknown or missing key."),
        403: OpenApiResponse(schema.ErrorSerializer, description="Origin not allowed."),
        413: OpenApiResponse(schema.ErrorSerializer, description="Body or batch too large."),
        415: OpenApiResponse(schema.ErrorSerializer, description="Unsupported media type."),
        429: OpenApiResponse(schema.ErrorSerializer, description="Throttled; see Retry-After."),
        503: OpenApiResponse(schema.ErrorSerializer, description="Storage unavailable."),
    },
)


class CaptureSchemaView(APIView):
    """The capture endpoint as the OpenAPI document describes it (schema_view adds it there).
    Requests never reach this class: ``api.views.events`` hands them to capture_response()."""

    authentication_classes = ()
    permission_classes = ()
    schema = AutoSchema()

    @CAPTURE_SCHEMA
    def post(self, request, *args, **kwargs):  # pragma: no cover - documentation only
        raise NotImplementedError


def capture_response(request: HttpRequest) -> HttpResponse:
    """Answer a capture POST; never raises for anything a client can send.

    Answers carry CORS headers only once the project is known and allows the origin (413, 429
    and 503 included: the widget reads them). Before that (a malformed body, an unknown key, a
    refused origin) the browser hides the answer from the page, which learns nothing, not even
    whether a key exists."""
    origin = request.META.get("HTTP_ORIGIN")
    try:
        project, envelope = _admit(request, origin)
    except CaptureError as exc:
        readable = isinstance(exc, _BodyTooLarge) and exc.readable
        return _cors(_error(exc), origin if readable else None)
    try:
        response = _capture(request, project, envelope)
    except CaptureError as exc:
        response = _error(exc)
    return _cors(response, origin)


def preflight_response(request: HttpRequest) -> HttpResponse:
    """CORS preflight. Browsers send neither body nor custom header with it, so the origin is
    checked against ``?key=`` when the widget passes it, else against any active project; the
    POST checks it again against its own project."""
    origin = request.META.get("HTTP_ORIGIN")
    response = HttpResponse(status=204)
    if origin and _preflight_allowed(request, origin):
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response["Access-Control-Allow-Headers"] = _ALLOW_HEADERS
        response["Access-Control-Max-Age"] = "86400"
    elif origin:
        response = _json(
            403, {"error": {"code": "origin_not_allowed", "message": "Origin is not allowed."}}
        )
    response["Allow"] = "GET, POST, OPTIONS"
    response["Vary"] = "Origin"
    return response


def _preflight_allowed(request: HttpRequest, origin: str) -> bool:
    from feedback_loop.models import Project

    key = request.GET.get("key")
    try:
        if key:
            project = project_for_public_key(key)
            return project is not None and _origin_ok(request, origin, project)
        allowlists = Project.objects.filter(is_active=True).values_list(
            "allowed_origins", flat=True
        )
        return any(origin_allowed(origin, parse_allowlist(a)) for a in allowlists)
    except DatabaseError:
        return True  # let the POST answer 503 with Retry-After, which the client honours


def _admit(request: HttpRequest, origin: str | None):
    """The project and the envelope of a request, once the project allows the origin."""
    header_key = request.META.get("HTTP_X_FEEDBACK_KEY")
    try:
        body = _read_body(request)
    except _BodyTooLarge as exc:
        key = header_key if header_key is not None else _leading_key(exc.head)
        exc.readable = key is not None and _allows(request, key, origin)
        raise
    envelope = capture.parse_envelope(body)
    key = envelope.get("key")
    if key is not None and header_key is not None and key != header_key:
        raise CaptureError(
            400, "invalid_envelope", "The key in the body and in X-Feedback-Key differ."
        )
    key = key if key is not None else header_key
    project = _project(key)
    if not _origin_ok(request, origin, project):
        raise CaptureError(
            403, "origin_not_allowed", f"Origin {origin} is not allowed for this project."
        )
    return project, envelope


def _allows(request: HttpRequest, key: str, origin: str | None) -> bool:
    try:
        project = _project(key)
    except CaptureError:
        return False
    return _origin_ok(request, origin, project)


def _origin_ok(request: HttpRequest, origin: str | None, project) -> bool:
    """A request from a server (no Origin), from the site's own pages, or from an origin the
    project allows. The site's own origin needs no entry: an allowlist for a chat page on
    another domain must not block the chat page the site serves itself."""
    if origin is None or origin_allowed(origin, project.origins):
        return True
    try:
        own = f"{request.scheme}://{request.get_host()}"
    except DisallowedHost:
        return False
    return same_origin(origin, own)


# The widget writes {"key": ..., "events": [...]} in that order, so the first bytes of a body too
# large to read still name its project.
_LEADING_KEY_RE = re.compile(r'^\s*\{\s*"key"\s*:\s*"(pk_[\w-]*)"')


def _leading_key(head: bytes) -> str | None:
    match = _LEADING_KEY_RE.match(head.decode("ascii", "replace"))
    return match[1] if match else None


def _capture(request: HttpRequest, project, envelope: dict[str, Any]) -> HttpResponse:
    capture.check_batch_size(envelope["events"])
    wait = throttle_wait(f"{project.pk}:{client_address(request.META)}")
    if wait is not None:
        raise CaptureError(
            429, "throttled", f"Too many requests; retry in {wait} s.", retry_after=wait
        )
    now = timezone.now()
    results, rows = _validate(envelope["events"], project, now)
    inserted = _store(project, rows, results, now) if rows else {}
    return _answer(results, inserted)


def _validate(events: list, project, now) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A result for each event (its status, or for a row to insert its event id, resolved
    after the insert), and the rows to insert, a repeated event id once."""
    results: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    seen: set = set()
    token_cache: dict = {}
    for event in events:
        raw_id = event.get("event_id") if isinstance(event, dict) else None
        result: dict[str, Any] = {"event_id": raw_id if isinstance(raw_id, str) else None}
        try:
            row = capture.validate_event(event, project, now, token_cache)
        except EventError as exc:
            result["status"] = "rejected"
            result["error"] = exc.as_dict()
        else:
            if row["event_id"] in seen:
                result["status"] = "duplicate"
            else:
                seen.add(row["event_id"])
                rows.append(row)
                result["status"] = row["event_id"]
        results.append(result)
    return results, rows


def _store(project, rows: list[dict[str, Any]], results: list[dict[str, Any]], now) -> dict:
    """Insert the rows (but those over their voter's limit), then hand them to the pipeline;
    returns the new rows' primary keys by event id."""
    try:
        over = capture.over_voter_limit(project.pk, rows)
        if over:
            rows = [row for row in rows if row["event_id"] not in over]
            _refuse_over_limit(results, over)
        inserted = capture.insert_events(project.pk, rows, now) if rows else {}
    except DatabaseError:
        logger.exception("Could not store feedback events.")
        raise _unavailable() from None
    if inserted:
        handoff.enqueue(list(inserted.values()))
    return inserted


def _answer(results: list[dict[str, Any]], inserted: dict) -> HttpResponse:
    counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
    for result in results:
        status = result["status"]
        if not isinstance(status, str):
            status = result["status"] = "accepted" if status in inserted else "duplicate"
        counts[status] += 1
    return _json(
        200,
        {
            "accepted": counts["accepted"],
            "duplicates": counts["duplicate"],
            "rejected": counts["rejected"],
            "results": results,
        },
    )


def _refuse_over_limit(results: list[dict[str, Any]], over: set) -> None:
    limit = app_settings.MAX_EVENTS_PER_VOTER
    error = EventError(
        capture.VOTER_LIMIT_ERROR,
        f"This voter has sent {limit} events on this trace, the most one voter may "
        "(FEEDBACK_LOOP['MAX_EVENTS_PER_VOTER']); this one was not stored.",
    ).as_dict()
    for result in results:
        if result["status"] in over:
            result["status"] = "rejected"
            result["error"] = error


def _unavailable() -> CaptureError:
    return CaptureError(
        503,
        "unavailable",
        "Feedback storage is unavailable; nothing was stored. Retry later.",
        retry_after=app_settings.RETRY_AFTER_SECONDS,
    )


_HEAD_BYTES = 256


class _BodyTooLarge(CaptureError):
    """413, with the first bytes of the body; ``readable`` once they name a project that allows
    the origin."""

    def __init__(self, head: bytes):
        limit = app_settings.MAX_BODY_BYTES
        super().__init__(413, "body_too_large", f"The body is over {limit} bytes.")
        self.head = head
        self.readable = False


def _read_body(request) -> bytes:
    # Django reads no more than Content-Length says, so without one the body is empty.
    if request.META.get("CONTENT_LENGTH") in (None, "", "0"):
        raise CaptureError(400, "invalid_json", "The body is empty.")
    content_type = request.META.get("CONTENT_TYPE", "")
    media_type, _sep, params = content_type.partition(";")
    media_type = media_type.strip().lower()
    if media_type not in _MEDIA_TYPES:
        raise CaptureError(
            415,
            "unsupported_media_type",
            f"Send the body as application/json or text/plain, not {media_type or 'nothing'}.",
        )
    charset = params.partition("charset=")[2].strip().strip('"').lower()
    if charset and charset not in ("utf-8", "utf8"):
        raise CaptureError(415, "unsupported_media_type", "The body must be UTF-8.")
    encoding = request.META.get("HTTP_CONTENT_ENCODING", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise CaptureError(
            415, "unsupported_media_type", f"Content-Encoding {encoding} is not accepted."
        )
    limit = app_settings.MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise CaptureError(400, "invalid_request", "Content-Length is not a number.") from None
    if declared > limit:
        raise _BodyTooLarge(request.read(_HEAD_BYTES))
    # Read at most one byte past the limit: a body without Content-Length cannot grow memory.
    body = request.read(limit + 1)
    if len(body) > limit:
        raise _BodyTooLarge(body[:_HEAD_BYTES])
    if not body:
        raise CaptureError(400, "invalid_json", "The body is empty.")
    return body


def _project(key: Any):
    if key is None:
        raise CaptureError(
            401, "missing_key", 'Send the public key as "key" in the body or in X-Feedback-Key.'
        )
    if not isinstance(key, str) or len(key) > 64:
        raise CaptureError(401, "invalid_key", "key must be a project's public key (pk_...).")
    if key.startswith(SECRET_PREFIX):
        raise CaptureError(
            401,
            "invalid_key",
            "This is a secret key: never put it in a page. Use the public key (pk_...).",
        )
    try:
        project = project_for_public_key(key) if key.startswith(PUBLIC_PREFIX) else None
    except DatabaseError:
        logger.exception("Could not look up a project.")
        raise _unavailable() from None
    if project is None:
        raise CaptureError(401, "invalid_key", "No active project has this public key.")
    return project
