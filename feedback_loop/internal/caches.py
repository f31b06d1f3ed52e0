"""What the curation pages keep in the default cache, so that erasing an end user's data can
drop it: cached figures would still count their votes and name their traces' models."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.cache import cache

DASHBOARD_DAYS = (7, 30, 90)
TRACE_MODELS = "feedback_loop:trace-models"
_GENERATION = "feedback_loop:dashboard:generation"


def dashboard_key(project_id: int | None, days: int) -> str:
    """The key of one dashboard (a project or all, a window): a generation number, moved on by
    every erasure, then the project and the window."""
    generation = cache.get(_GENERATION, 0)
    return f"feedback_loop:dashboard:{generation}:{project_id or ''}:{days}"


def drop_figures(project_ids: Iterable[int]) -> None:
    """Delete the cached dashboards of these projects and of all projects, and the list of
    models, then move the dashboards' generation on: a dashboard computed while the data was
    being erased is stored under the old generation, never read again, and expires."""
    keys = [
        dashboard_key(project_id, days)
        for project_id in (None, *project_ids)
        for days in DASHBOARD_DAYS
    ]
    cache.delete_many([*keys, TRACE_MODELS])
    cache.add(_GENERATION, 0, None)
    try:
        cache.incr(_GENERATION)
    except ValueError:  # evicted between add() and incr()
        cache.set(_GENERATION, 1, None)
