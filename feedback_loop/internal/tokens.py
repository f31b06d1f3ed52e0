"""Signed trace tokens: proof that the host rendered this trace for this project (and user)."""

from __future__ import annotations

import time

from django.core import signing

from feedback_loop.conf import app_settings

SALT = "feedback_loop.trace-token"
# The longest token sign_trace() makes: a 128-character trace id and user id of characters
# outside the BMP, each escaped by JSON as 12 bytes, base64-encoded, plus the signature.
MAX_TOKEN_CHARS = 8192


class TokenError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _signer() -> signing.Signer:
    return signing.Signer(salt=SALT)


def sign_trace(
    trace_id: str, *, project, user_id: str | None = None, max_age: int | None = None
) -> str:
    """A token binding ``trace_id`` to ``project`` (and ``user_id`` when given).

    ``project`` is a :class:`~feedback_loop.models.Project` or its public key. The token expires
    after ``max_age`` seconds (default ``FEEDBACK_LOOP["TOKEN_MAX_AGE"]``). It is signed with
    ``SECRET_KEY`` (``SECRET_KEY_FALLBACKS`` still verify, so keys can be rotated).
    """
    from feedback_loop.internal.projects import resolve_project

    if not isinstance(trace_id, str) or not 1 <= len(trace_id) <= 128:
        raise ValueError("trace_id must be a string of 1 to 128 characters.")
    project = resolve_project(project)
    lifetime = app_settings.TOKEN_MAX_AGE if max_age is None else max_age
    payload = {"p": project.pk, "t": trace_id, "x": int(time.time()) + int(lifetime)}
    if user_id:
        payload["u"] = str(user_id)
    return _signer().sign_object(payload, compress=False)


def verify_token(token: object, *, project_pk: int, trace_id: str) -> str | None:
    """Check a token for this project and trace; returns the end user it is bound to, if any.

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
    return payload.get("u")
