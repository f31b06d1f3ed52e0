"""Figures too costly to compute while a page waits: computed by a Celery task, kept in the
cache, and shown from there.

A ``Deferred`` names one kind of figures (the themes in comments, the agreement between
raters) and the function that computes them for a set of projects (a *scope*: "all", "none" or
their ids, as ``scope_of`` writes it) over a window of days. The dashboard:

- reads the cached result (``panel``); when there is none, when it is older than its
  ``fresh_seconds`` (shown meanwhile), or on ``?refresh=1``, queues the task (at most once per
  PENDING_SECONDS for one scope and window: a page reloaded while the worker is busy does not
  queue it again) and says the figures are being computed;
- notes the (scope, days) it asked for (``want``), so that the periodic task keeps those fresh
  (``refresh`` with no arguments) for WANTED_SECONDS after the last visit.

In Celery's eager mode (the demo, the tests) the task runs at once and the page shows its
result. Keys go through ``dashboard_key``, whose generation an erasure moves on: a result
computed across an erasure is stored under the old generation and never read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from django.core.cache import cache

from feedback_loop.internal.caches import DASHBOARD_DAYS, dashboard_key, remember

logger = logging.getLogger("feedback_loop.deferred")

PENDING_SECONDS = 600
WANTED_SECONDS = 7 * 24 * 3600
_WANTED_SIZE = 50

Compute = Callable[[str, int], dict[str, Any]]
Enqueue = Callable[[str, int], Any]


def scope_of(project_ids: Iterable[int] | None) -> str:
    """The cache's name of a set of projects: "all" or their ids, sorted ("none" for no
    project)."""
    if project_ids is None:
        return "all"
    return ",".join(map(str, sorted(set(project_ids)))) or "none"


def projects_of(scope: str) -> list[int] | None:
    """The project ids of a scope; None for all."""
    if scope == "all":
        return None
    return [] if scope == "none" else [int(pk) for pk in scope.split(",")]


class Deferred:
    def __init__(
        self, name: str, compute: Compute, *, cache_seconds: int, fresh_seconds: int | None = None
    ):
        self.name = name
        self.compute = compute
        self.cache_seconds = cache_seconds
        # A result older than this is shown while a newer one is queued (None: kept as is
        # until the periodic task computes it again).
        self.fresh_seconds = fresh_seconds
        self._wanted_key = f"feedback_loop:{name}:wanted"

    def key(self, scope: str, days: int) -> str:
        return dashboard_key(f"{self.name}:{scope}", None, days)

    def cached(self, scope: str, days: int) -> dict[str, Any] | None:
        return cache.get(self.key(scope, days))

    def run(self, scope: str, days: int) -> dict[str, Any]:
        """Compute the figures of (scope, days) and keep them in the cache; returns them."""
        key = self.key(scope, days)  # before reading: an erasure meanwhile makes it stale
        started = time.perf_counter()
        result = self.compute(scope, days)
        result["seconds"] = round(time.perf_counter() - started, 3)
        result["computed_ts"] = time.time()
        remember(key, result, self.cache_seconds)
        cache.delete(f"{key}:pending")
        return result

    def request(self, scope: str, days: int, enqueue: Enqueue) -> bool:
        """Note that (scope, days) was asked for, and call ``enqueue(scope, days)`` unless a
        computation was queued in the last PENDING_SECONDS. Returns whether it enqueued."""
        self.want(scope, days)
        if not cache.add(f"{self.key(scope, days)}:pending", True, PENDING_SECONDS):
            return False
        try:
            enqueue(scope, days)
        except Exception:  # a broker that is down: the periodic task computes it later
            logger.warning("Could not queue the %s of %s over %d days.", self.name, scope, days)
            return False
        return True

    def want(self, scope: str, days: int) -> None:
        now = time.time()
        wanted = {
            (s, d): t for s, d, t in cache.get(self._wanted_key) or () if now - t < WANTED_SECONDS
        }
        wanted[(scope, days)] = now
        newest = sorted(wanted.items(), key=lambda item: -item[1])[:_WANTED_SIZE]
        cache.set(self._wanted_key, [(s, d, t) for (s, d), t in newest], None)

    def wanted(self) -> list[tuple[str, int]]:
        """The (scope, days) pairs to refresh: every one asked for in the last WANTED_SECONDS,
        and all projects over 30 days."""
        now = time.time()
        pairs = [
            (s, d) for s, d, t in cache.get(self._wanted_key) or () if now - t < WANTED_SECONDS
        ]
        return list(dict.fromkeys([("all", 30), *pairs]))

    def refresh(
        self, scope: str | None = None, days: int | None = None
    ) -> dict[str, dict[str, Any]]:
        """Compute one (scope, days), or every wanted pair: {"scope:days": result}."""
        pairs = [(scope, days or 30)] if scope is not None else self.wanted()
        return {f"{s}:{d}": self.run(s, d) for s, d in pairs if d in DASHBOARD_DAYS}

    def panel(
        self, scope: str, days: int, enqueue: Enqueue, *, refresh: bool = False
    ) -> dict[str, Any]:
        """What a page shows: {"result": the cached result or None, "computing": whether it
        is not there yet}. A missing result (or ``refresh``) queues its computation; the cache
        is read again after, for Celery's eager mode."""
        result = self.cached(scope, days)
        stale = (
            result is not None
            and self.fresh_seconds is not None
            and time.time() - result.get("computed_ts", 0) > self.fresh_seconds
        )
        if result is None or refresh or stale:
            if self.request(scope, days, enqueue):
                result = self.cached(scope, days) or result
        else:
            self.want(scope, days)
        return {"result": result, "computing": result is None}
