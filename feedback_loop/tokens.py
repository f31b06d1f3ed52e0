"""Signed trace tokens: proof that the host rendered this trace for this project, and for whom.

A token binds the end user it was rendered for: the signed-in user's id, or for an anonymous
visitor a digest of the host's session key (never the key itself: tokens sit in pages). That
binding is the voter an event counts for, whatever ids the event itself carries; a token bound
to nobody counts as one voter.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from django.core import signing
from django.utils.crypto import salted_hmac

from feedback_loop.conf import MAX_ID_CHARS, app_settings

SALT = "feedback_loop.trace-token"
# The longest token sign_trace() makes: a 128-character trace id and user id of characters
# outside the BMP, each escaped by JSON as 12 bytes, base64-encoded, plus the signature.
MAX_TOKEN_CHARS = 8192
# Strings a template or f-string makes of a missing user id; never a real one.
MISSING_USER_IDS = frozenset({"None", "null", "undefined", "AnonymousUser"})


class TokenError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Binding:
    """Whom a verified token was issued for: a user id, a session digest, or nobody."""

    user_id: str | None = None
    session: str | None = None

    def voter(self, token: str) -> str:
        if self.user_id:
            return f"u:{self.user_id}"
        if self.session:
            return f"s:{self.session}"
        return f"t:{hashlib.sha256(token.encode()).hexdigest()[:32]}"


def _signer() -> signing.Signer:
    return signing.Signer(salt=SALT)


def session_digest(session_key: str) -> str:
    """What a token keeps of a session key: enough to tell sessions apart, useless to steal."""
    return salted_hmac("feedback_loop.voter", session_key, algorithm="sha256").hexdigest()[:32]


def request_voter(request) -> tuple[str | None, str | None]:
    """(user id, session key) of a request's end user: the signed-in user, else the session,
    which is created when the visitor has none yet (so the key exists to bind)."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.pk is not None:
        return str(user.pk), None
    session = getattr(request, "session", None)
    if session is None:
        return None, None
    if not session.session_key:
        # Saving an empty session stores nothing the middleware keeps; a marker makes it real.
        session["feedback_loop"] = 1
        session.save()
    return None, session.session_key


def clean_user_id(user_id) -> str | None:
    """A user id as a string, or None for "no user": ``str(None)`` and friends are not ids."""
    if user_id is None:
        return None
    text = str(user_id)
    return None if not text or text in MISSING_USER_IDS else text


def sign_trace(
    trace_id: str,
    *,
    project,
    user_id: str | None = None,
    session_key: str | None = None,
    request=None,
    max_age: int | None = None,
) -> str:
    """A token binding ``trace_id`` to ``project`` and to the end user it is rendered for.

    ``project`` is a :class:`~feedback_loop.models.Project` or its public key. The end user is
    ``user_id``, else ``session_key`` (an anonymous visitor's session), else the one of
    ``request`` (its signed-in user, or its session); events sent with the token count for that
    user, whatever ids they carry. A token bound to nobody counts as one voter. It expires after
    ``max_age`` seconds (default ``FEEDBACK_LOOP["TOKEN_MAX_AGE"]``) and is signed with
    ``SECRET_KEY`` (``SECRET_KEY_FALLBACKS`` still verify, so keys can be rotated).
    """
    from feedback_loop.models import Project

    if not isinstance(trace_id, str) or not 1 <= len(trace_id) <= MAX_ID_CHARS:
        raise ValueError(f"trace_id must be a string of 1 to {MAX_ID_CHARS} characters.")
    project = Project.objects.resolve(project)
    user_id = clean_user_id(user_id)
    if user_id is None and not session_key and request is not None:
        user_id, session_key = request_voter(request)
    lifetime = app_settings.TOKEN_MAX_AGE if max_age is None else max_age
    payload: dict = {"p": project.pk, "t": trace_id, "x": int(time.time()) + int(lifetime)}
    if user_id:
        payload["u"] = user_id
    elif session_key:
        payload["s"] = session_digest(str(session_key))
    return _signer().sign_object(payload, compress=False)


def verify_token(token: object, *, project_pk: int, trace_id: str) -> Binding:
    """Check a token for this project and trace; returns whom it binds.

    Raises :class:`TokenError` with ``invalid_token`` or ``token_expired``.
    """
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        raise TokenError("invalid_token", "token must be the string that sign_trace() returned.")
    try:
        payload = _signer().unsign_object(token)
    except (signing.BadSignature, ValueError, UnicodeError):
        raise TokenError("invalid_token", "token signature does not verify.") from None
    if not isinstance(payload, dict):
        raise TokenError("invalid_token", "token is malformed.")
    if payload.get("p") != project_pk:
        raise TokenError("invalid_token", "token was issued for another project.")
    if payload.get("t") != trace_id:
        raise TokenError("invalid_token", "token was issued for another trace_id.")
    expiry = payload.get("x")
    if not isinstance(expiry, int) or expiry < time.time():
        raise TokenError("token_expired", "token has expired; render the page again for a new one.")
    user, session = payload.get("u"), payload.get("s")
    return Binding(
        user_id=user if isinstance(user, str) and user else None,
        session=session if isinstance(session, str) and session else None,
    )
