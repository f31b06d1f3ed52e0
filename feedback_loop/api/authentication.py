"""Server API credentials: a project's secret key as a bearer token, or a staff session."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions, permissions

from feedback_loop.keys import PUBLIC_PREFIX, hash_secret
from feedback_loop.models import Project


class ProjectClient:
    """``request.user`` for a request made with a secret key: the project's backend."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_superuser = False

    def __init__(self, project: Project):
        self.project = project
        self.pk = None

    def __str__(self) -> str:
        return f"backend of {self.project}"


class SecretKeyAuthentication(authentication.BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(_("Use 'Authorization: Bearer sk_...'."))
        try:
            key = parts[1].decode()
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(_("The key is not valid.")) from None
        if key.startswith(PUBLIC_PREFIX):
            raise exceptions.AuthenticationFailed(
                _("A public key cannot read or write through the server API; use the secret key.")
            )
        project = Project.objects.filter(secret_key_hash=hash_secret(key), is_active=True).first()
        if project is None:
            raise exceptions.AuthenticationFailed(_("No active project has this secret key."))
        return ProjectClient(project), project

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="feedback_loop"'


class IsProjectOrCurator(permissions.BasePermission):
    """A secret key, or a staff session holding the Django model permissions the view names for
    the request's method (``view.required_permissions``), exactly as the admin decides. Which
    projects a staff user reaches is decided by project access (``internal/access.py``)."""

    message: str | Promise = _(
        "Send a project's secret key as a bearer token, or sign in as staff."
    )

    def has_permission(self, request, view) -> bool:
        if isinstance(request.auth, Project):
            return True
        user = request.user
        if not (user and user.is_authenticated and user.is_staff and user.is_active):
            return False
        needed = view.required_permissions.get(request.method, ())
        if not user.has_perms(needed):
            self.message = _("Your account lacks the permission this needs: %(perms)s.") % {
                "perms": ", ".join(needed)
            }
            return False
        return True
