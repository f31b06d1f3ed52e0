"""Project access: which projects a signed-in user may see and curate.

Superusers see every project. Other staff see the projects that name them as curators, or one of
their groups (``Project.members`` and ``Project.member_groups``); a project naming nobody is for
superusers only. What they may do there is still decided by their Django model permissions, in
the admin and in the server API alike.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

_CACHE_ATTR = "_feedback_loop_project_ids"


def project_ids_for(user) -> frozenset[int] | None:
    """The primary keys of the projects ``user`` may curate; None means every project."""
    if user is None or not getattr(user, "is_active", False) or not user.is_staff:
        return frozenset()
    if user.is_superuser:
        return None
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is None:
        from feedback_loop.models import Project

        cached = frozenset(
            Project.objects.filter(Q(members=user) | Q(member_groups__user=user))
            .values_list("pk", flat=True)
            .distinct()
        )
        # Kept on the user object, which lives for one request.
        setattr(user, _CACHE_ATTR, cached)
    return cached


def forget_access(user) -> None:
    """Drop what project_ids_for() kept on this user (after changing memberships)."""
    if hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)


def can_access(user, project_id: int | None) -> bool:
    ids = project_ids_for(user)
    return ids is None or project_id in ids


def scope(queryset: QuerySet, user, path: str = "project", *, shared: bool = False) -> QuerySet:
    """``queryset`` limited to the rows of the projects ``user`` may curate; ``path`` leads from
    the model to its project ("" for projects themselves). ``shared`` also keeps rows that
    belong to no project (the built-in error modes)."""
    ids = project_ids_for(user)
    if ids is None:
        return queryset
    lookup = f"{path}__in" if path else "pk__in"
    q = Q(**{lookup: ids})
    if shared:
        q |= Q(**{f"{path}__isnull": True})
    return queryset.filter(q)


def scope_key(user) -> str:
    """A short string that differs between users who see different projects (for caches)."""
    ids = project_ids_for(user)
    return "all" if ids is None else ",".join(map(str, sorted(ids))) or "none"
