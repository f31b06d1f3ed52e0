"""What the curation pages keep in the default cache, so that erasing an end user's data can
drop it: cached figures would still count their votes and name their traces' models.

Keys depend on who looks (a curator's figures are those of their projects), so every key written
is also listed in a registry entry, and dropping deletes every listed key."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.cache import cache

DASHBOARD_DAYS = (7, 30, 90)
_GENERATION = "feedback_loop:dashboard:generation"
_REGISTRY = "feedback_loop:cached-figures"
_REGISTRY_SIZE = 2000


def dashboard_key(scope: str, project_id: int | None, days: int) -> str:
    """The key of one dashboard as one set of projects sees it (``access.scope_key``): a
    generation number, moved on by every erasure, then the scope, the project and the window."""
    generation = cache.get(_GENERATION, 0)
    return f"feedback_loop:dashboard:{generation}:{scope}:{project_id or ''}:{days}"


def trace_models_key(scope: str) -> str:
    return f"feedback_loop:trace-models:{scope}"


def remember(key: str, value: Any, seconds: int) -> None:
    """``cache.set``, listing the key so that drop_figures() finds it."""
    cache.set(key, value, seconds)
    keys = cache.get(_REGISTRY) or []
    if key not in keys:
        cache.set(_REGISTRY, [*keys, key][-_REGISTRY_SIZE:], None)


def drop_figures(project_ids: Iterable[int] = ()) -> None:
    """Delete every cached dashboard and list of models, then move the dashboards' generation
    on: a dashboard computed while the data was being erased is stored under the old generation,
    never read again, and expires. (``project_ids`` names the projects whose data changed; the
    figures of all projects include them, so everything goes.)"""
    cache.delete_many([*(cache.get(_REGISTRY) or []), _REGISTRY])
    cache.add(_GENERATION, 0, None)
    try:
        cache.incr(_GENERATION)
    except ValueError:  # evicted between add() and incr()
        cache.set(_GENERATION, 1, None)
