"""A fixed-window request counter per public key and client address, in a Django cache."""

from __future__ import annotations

import logging
import math
import time

from django.core.cache import caches

from feedback_loop.conf import app_settings, parse_rate

logger = logging.getLogger("feedback_loop.capture")


def client_address(meta: dict) -> str:
    """REMOTE_ADDR, or the address ``NUM_PROXIES`` trusted proxies put in X-Forwarded-For."""
    proxies = app_settings.NUM_PROXIES
    if proxies:
        forwarded = [a.strip() for a in meta.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [a for a in forwarded if a]
        if forwarded:
            return forwarded[-min(proxies, len(forwarded))]
    return meta.get("REMOTE_ADDR", "")


def throttle_wait(scope: str) -> int | None:
    """Seconds until ``scope`` may send again, or None when it is under the rate.

    When the cache itself fails, requests are let through: losing the throttle for a while is
    better than losing feedback.
    """
    rate = parse_rate(app_settings.THROTTLE_RATE)
    if rate is None:
        return None
    allowed, period = rate
    now = time.time()
    window = int(now // period)
    key = f"feedback_loop:throttle:{scope}:{window}"
    try:
        cache = caches[app_settings.THROTTLE_CACHE]
        if cache.add(key, 1, period + 1):
            count = 1
        else:
            try:
                count = cache.incr(key)
            except ValueError:  # expired between add() and incr()
                cache.set(key, 1, period + 1)
                count = 1
    except Exception:
        logger.warning("Throttle cache unavailable; not throttling.", exc_info=True)
        return None
    if count > allowed:
        return max(1, math.ceil((window + 1) * period - now))
    return None
