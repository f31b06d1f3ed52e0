"""Looking projects up by key, with a short per-process cache for the capture endpoint."""

from __future__ import annotations

import time
from dataclasses import dataclass

from feedback_loop.conf import app_settings
from feedback_loop.origins import parse_allowlist


@dataclass(frozen=True, slots=True)
class CachedProject:
    """What the capture path needs of a project, safe to keep between requests."""

    pk: int
    public_key: str
    origins: tuple[str, ...]
    require_token: bool


_cache: dict[str, tuple[float, CachedProject | None]] = {}
_MAX_ENTRIES = 10_000


def project_for_public_key(public_key: str) -> CachedProject | None:
    """The active project with this public key, or None. May raise ``DatabaseError``."""
    from feedback_loop.models import Project

    ttl = app_settings.PROJECT_CACHE_SECONDS
    now = time.monotonic()
    hit = _cache.get(public_key)
    if hit is not None and hit[0] > now:
        return hit[1]
    row = (
        Project.objects.filter(public_key=public_key, is_active=True)
        .values_list("pk", "allowed_origins", "require_token")
        .first()
    )
    found = None
    if row is not None:
        found = CachedProject(row[0], public_key, tuple(parse_allowlist(row[1])), row[2])
    if ttl:
        if len(_cache) >= _MAX_ENTRIES:
            _cache.clear()
        _cache[public_key] = (now + ttl, found)
    return found


def forget_project(project) -> None:
    """Drop a project from this process's cache (other processes forget it within the TTL)."""
    for key, (_expiry, cached) in list(_cache.items()):
        if cached is not None and cached.pk == project.pk:
            _cache.pop(key, None)
    _cache.pop(project.public_key, None)
