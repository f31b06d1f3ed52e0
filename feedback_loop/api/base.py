"""What every server API view shares: credentials and permissions, the caller's projects, the
error shape of the contract, JSON in and out."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import DatabaseError, DataError
from django.http import Http404, JsonResponse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions, generics, serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.filters import BaseFilterBackend
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from feedback_loop.api.authentication import IsProjectOrCurator, SecretKeyAuthentication
from feedback_loop.api.pagination import NewestFirstPagination
from feedback_loop.api.parsers import JSONParser
from feedback_loop.api.renderers import JSONRenderer
from feedback_loop.conf import app_settings
from feedback_loop.internal import access
from feedback_loop.models import Project

logger = logging.getLogger("feedback_loop.api")

PROJECT_PARAM = OpenApiParameter(
    "project", str, description="Public key of one project (staff sessions; optional)."
)


def perms(*codenames: str) -> tuple[str, ...]:
    """The app's Django permissions by codename: ``perms("view_trace")``."""
    return tuple(f"feedback_loop.{codename}" for codename in codenames)


class BadRequest(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "The request cannot be answered as it is."
    default_code = "bad_request"


class UnknownParameter(BadRequest):
    default_code = "unknown_parameter"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "It exists already."
    default_code = "conflict"


def exception_handler(exc, context):
    """DRF's handler, answering in the ``{"error": {"code", "message"}}`` shape of the contract."""
    if isinstance(exc, DataError):
        # A value the database refused that validation let through: the request's fault.
        logger.warning("The database refused a value: %s", exc)
        return Response(
            {
                "error": {
                    "code": "invalid",
                    "message": "The database refused a value of the request.",
                }
            },
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, DatabaseError):
        logger.exception("Database unavailable in the server API.")
        response = Response(
            {"error": {"code": "unavailable", "message": "Storage is unavailable; retry later."}},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
        response["Retry-After"] = str(app_settings.RETRY_AFTER_SECONDS)
        return response
    # DRF turns Django's Http404 and PermissionDenied into its own; do it first to reshape them.
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    handled = drf_exception_handler(exc, context)
    if handled is None:
        return None
    response = handled
    if isinstance(exc, exceptions.ValidationError):
        response.data = {
            "error": {
                "code": "invalid",
                "message": "The request is not valid; see fields.",
                "fields": response.data,
            }
        }
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        response.data = {
            "error": {
                "code": codes if isinstance(codes, str) else exc.default_code,
                "message": str(exc.detail),
            }
        }
    return response


class AlwaysJSON(BaseContentNegotiation):
    # JSON whatever the Accept header says: a beacon cannot choose, and errors must be JSON.
    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None


class ServerAPIView(generics.GenericAPIView):
    """A server API view: a secret key or a staff session holding ``required_permissions``
    (by method); rows limited to the caller's projects by ``scope()``."""

    authentication_classes = (SecretKeyAuthentication, SessionAuthentication)
    permission_classes = (IsProjectOrCurator,)
    # The Django model permissions a staff session needs, by method (a secret key needs none).
    required_permissions: dict[str, tuple[str, ...]] = {}
    throttle_classes = ()
    renderer_classes = (JSONRenderer,)
    parser_classes = (JSONParser,)
    pagination_class: type[BasePagination] | None = NewestFirstPagination
    filter_backends: Sequence[type[BaseFilterBackend]] = (DjangoFilterBackend,)
    # The query parameters a view reads besides its filters, its pages and ``project``.
    query_serializer: type[serializers.Serializer] | None = None
    schema = AutoSchema()

    def get_exception_handler(self):
        return exception_handler

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # Strict: a misspelt filter must not quietly answer everything.
        nul = sorted(name for name, value in request.query_params.items() if "\x00" in value)
        if nul:
            raise exceptions.ValidationError(
                {name: ["A NUL character is not allowed here."] for name in nul}
            )
        known = self.known_parameters()
        unknown = sorted(set(request.query_params) - known)
        if unknown:
            raise UnknownParameter(
                f"Unknown query parameter{'s' if len(unknown) > 1 else ''}: "
                f"{', '.join(map(repr, unknown))}. Known parameters: {', '.join(sorted(known))}."
            )

    def known_parameters(self) -> set[str]:
        known = {"project"}
        pagination = self.pagination_class
        if pagination is not None:
            known |= {getattr(pagination, "cursor_query_param", "cursor")}
            known |= {getattr(pagination, "page_size_query_param", None) or "page_size"}
        filterset = getattr(self, "filterset_class", None)
        if filterset is not None and DjangoFilterBackend in self.filter_backends:
            known |= set(filterset.base_filters)
        if self.query_serializer is not None:
            known |= set(self.query_serializer().fields)
        return known

    def scope(self, queryset, prefix: str = ""):
        """Limit to the caller's projects: the secret key's one, or for staff the projects they
        curate (all for superusers), narrowed to one with ``?project=pk_...``."""
        if isinstance(self.request.auth, Project):
            return queryset.filter(**{f"{prefix}project": self.request.auth})
        queryset = access.scope(queryset, self.request.user, f"{prefix}project")
        key = self.request.query_params.get("project")
        if key:
            self.target_project(key)  # a clear 403 for a project the user does not curate
            queryset = queryset.filter(**{f"{prefix}project__public_key": key})
        return queryset

    def target_project(self, key: str | None) -> Project:
        """The project a write goes to: the secret key's, or the one a staff session names."""
        auth = self.request.auth
        if isinstance(auth, Project):
            if key and key != auth.public_key:
                raise exceptions.PermissionDenied("This secret key belongs to another project.")
            return auth
        if not key:
            raise exceptions.ValidationError({"project": ["Staff sessions must name the project."]})
        project = Project.objects.filter(public_key=key).first()
        if project is None:
            raise exceptions.ValidationError({"project": ["No project has this key."]})
        if not access.can_access(self.request.user, project.pk):
            raise exceptions.PermissionDenied(
                "You are not a curator of this project; a superuser can add you (or one of "
                "your groups) to its curators."
            )
        return project

    def query(self) -> dict:
        """The validated query parameters of ``query_serializer`` (read from a dict, not the
        QueryDict: DRF reads a QueryDict as a form, where "?days=" means unset)."""
        assert self.query_serializer is not None
        query = self.query_serializer(data=self.request.query_params.dict())
        query.is_valid(raise_exception=True)
        return query.validated_data


def not_found(request, *args, **kwargs):
    return JsonResponse(
        {"error": {"code": "not_found", "message": f"No API endpoint at {request.path}."}},
        status=404,
    )


class FiguresAPIView(ServerAPIView):
    """A view of computed figures (stats, a comparison, agreement): one answer, no pages, no
    list filters; staff need to be able to view traces."""

    pagination_class = None
    filter_backends = ()
    required_permissions = {"GET": perms("view_trace")}
