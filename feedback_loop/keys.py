"""Project keys: public keys are stored as they are, secret keys only as a SHA-256 digest.

Secret keys carry 192 random bits, so a fast digest is as safe as a slow password hash and lets
the API authenticate a request with one indexed lookup.
"""

from __future__ import annotations

import hashlib
import secrets

PUBLIC_PREFIX = "pk_"
SECRET_PREFIX = "sk_"


def new_public_key() -> str:
    return PUBLIC_PREFIX + secrets.token_urlsafe(18)


def new_secret_key() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(24)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
