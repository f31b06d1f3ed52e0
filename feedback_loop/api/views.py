"""The server API: for the host's backend (secret key) and for staff (session)."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import DatabaseError, DataError, IntegrityError, transaction
from django.db.models import Avg, Count, F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce, TruncDate
from django.http import Http404, StreamingHttpResponse
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import exceptions, generics, serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from feedback_loop import exports, filters
from feedback_loop.api import capture, schema
from feedback_loop.api.authentication import IsProjectOrCurator, SecretKeyAuthentication
from feedback_loop.api.pagination import NewestFirstPagination
from feedback_loop.api.parsers import JSONParser
from feedback_loop.api.renderers import JSONRenderer
from feedback_loop.api.serializers import (
    AddTracesSerializer,
    DatasetSerializer,
    DatasetVersionSerializer,
    EventSerializer,
    ExportQuerySerializer,
    ForgetUserSerializer,
    StatsQuerySerializer,
    TraceBatchResultSerializer,
    TraceBatchSerializer,
    TraceSerializer,
)
from feedback_loop.conf import app_settings
from feedback_loop.internal import access
from feedback_loop.internal.datasets import add_traces, freeze, matching_traces
from feedback_loop.internal.erasure import forget_user
from feedback_loop.internal.tokens import sign_trace
from feedback_loop.models import Dataset, EventKind, FeedbackEvent, Project, Review, Trace

logger = logging.getLogger("feedback_loop.api")


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
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
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


def _perms(*codenames: str) -> tuple[str, ...]:
    return tuple(f"feedback_loop.{codename}" for codename in codenames)


class ServerAPIView(generics.GenericAPIView):
    authentication_classes = (SecretKeyAuthentication, SessionAuthentication)
    permission_classes = (IsProjectOrCurator,)
    # The Django model permissions a staff session needs, by method (a secret key needs none).
    required_permissions: dict[str, tuple[str, ...]] = {}
    throttle_classes = ()
    renderer_classes = (JSONRenderer,)
    parser_classes = (JSONParser,)
    pagination_class = NewestFirstPagination
    filter_backends = (DjangoFilterBackend,)
    schema = AutoSchema()

    def get_exception_handler(self):
        return exception_handler

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


_project_param = OpenApiParameter(
    "project", str, description="Public key of one project (staff sessions; optional)."
)


class TraceListView(ServerAPIView, generics.ListAPIView):
    serializer_class = TraceSerializer
    filterset_class = filters.TraceFilter
    required_permissions = {
        "GET": _perms("view_trace"),
        "POST": _perms("add_trace", "change_trace"),
    }

    def get_queryset(self):
        return (
            self.scope(Trace.objects.all())
            .select_related("project", "review", "regenerated_from")
            .prefetch_related("suggested_error_modes", "review__error_modes")
        )

    @schema.document(
        summary="List traces",
        parameters=[_project_param],
        responses={200: TraceSerializer(many=True), **schema.errors(400, 401, 403, 404, 503)},
        tags=["traces"],
        operation_id="traces_list",
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @schema.document(
        summary="Register or update traces, get their tokens",
        request=TraceBatchSerializer,
        responses={200: TraceBatchResultSerializer, **schema.errors(400, 401, 403, 409, 503)},
        tags=["traces"],
        operation_id="traces_upsert",
    )
    def post(self, request, *args, **kwargs):
        batch = TraceBatchSerializer(data=request.data)
        batch.is_valid(raise_exception=True)
        project = self.target_project(batch.validated_data.get("project"))
        items = {item["trace_id"]: item for item in batch.validated_data["traces"]}
        for attempt in range(3):
            try:
                created = _upsert_traces(project, items)
                break
            except IntegrityError:  # a concurrent request created one of them first
                if attempt == 2:
                    raise
        results = []
        for trace_id, item in items.items():
            # The token binds the trace's end user, else its session: what counts as one voter.
            token = sign_trace(
                trace_id,
                project=project,
                user_id=item.get("user_id") or None,
                session_key=item.get("session_id") or None,
            )
            results.append({"trace_id": trace_id, "token": token, "created": trace_id in created})
        return Response({"results": results})


def _upsert_traces(project: Project, items: dict[str, dict]) -> set[str]:
    links = {
        trace_id: item.pop("regenerated_from")
        for trace_id, item in items.items()
        if "regenerated_from" in item
    }
    with transaction.atomic():
        existing = {
            t.key: t
            for t in Trace.objects.select_for_update().filter(project=project, key__in=items)
        }
        to_create, to_update, fields = [], [], {"registered", "updated_at"}
        now = timezone.now()
        for trace_id, item in items.items():
            item = {name: value for name, value in item.items() if name != "trace_id"}
            trace = existing.get(trace_id)
            if trace is None:
                to_create.append(Trace(project=project, key=trace_id, **item))
                continue
            for name, value in item.items():
                setattr(trace, name, value)
                fields.add(name)
            trace.registered = True
            trace.updated_at = now
            to_update.append(trace)
        Trace.objects.bulk_create(to_create)
        if to_update:
            Trace.objects.bulk_update(to_update, sorted(fields))
        if links:
            _link_regenerations(project, links)
    return {t.key for t in to_create}


def _link_regenerations(project: Project, links: dict[str, str]) -> None:
    selves = sorted(new for new, old in links.items() if new == old)
    if selves:
        raise Conflict(f"A trace cannot be regenerated from itself: {selves}.")
    pks = dict(
        Trace.objects.filter(project=project, key__in={*links, *links.values()}).values_list(
            "key", "pk"
        )
    )
    unknown = sorted(set(links.values()) - set(pks))
    if unknown:
        # Raised inside the transaction: nothing of the batch is stored.
        raise Conflict(
            f"regenerated_from names traces this project does not have: {unknown}. Register "
            "the earlier answer first (or in the same request)."
        )
    for new, old in links.items():
        Trace.objects.filter(pk=pks[new]).update(regenerated_from_id=pks[old])


class TraceDetailView(ServerAPIView, generics.RetrieveAPIView):
    serializer_class = TraceSerializer
    lookup_field = "key"
    lookup_url_kwarg = "trace_id"
    filter_backends = ()
    required_permissions = {"GET": _perms("view_trace")}

    def get_queryset(self):
        return TraceListView.get_queryset(self)

    def get_object(self):
        try:
            return super().get_object()
        except Trace.MultipleObjectsReturned:
            # Trace ids are unique per project: a staff session that names none may match several.
            keys = self.get_queryset().filter(key=self.kwargs["trace_id"])
            keys = sorted(keys.values_list("project__public_key", flat=True)[:10])
            raise BadRequest(
                f"Projects {', '.join(keys)} each have a trace with this id; name one with "
                "?project=pk_... (its public key).",
                code="ambiguous_trace_id",
            ) from None

    @schema.document(
        summary="One trace",
        parameters=[_project_param],
        responses={200: TraceSerializer, **schema.errors(400, 401, 403, 404, 503)},
        tags=["traces"],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class UserDataView(ServerAPIView):
    """Everything one end user left in a project: counted with GET, deleted with DELETE."""

    pagination_class = None
    filter_backends = ()
    serializer_class = ForgetUserSerializer
    required_permissions = {
        "GET": _perms("view_feedbackevent"),
        "DELETE": _perms("delete_feedbackevent"),
    }

    def _project(self) -> Project:
        return self.target_project(self.request.query_params.get("project"))

    def _answer(self, user_id: str, dry_run: bool) -> Response:
        project = self._project()
        report = forget_user(project, user_id, dry_run=dry_run)
        return Response({"user_id": user_id, "deleted": not dry_run, **report.as_dict()})

    @schema.document(
        summary="Count what deleting an end user's data would remove",
        parameters=[_project_param],
        responses={200: ForgetUserSerializer, **schema.errors(400, 401, 403, 404, 503)},
        tags=["users"],
        operation_id="user_data_count",
    )
    def get(self, request, user_id: str, *args, **kwargs):
        return self._answer(user_id, dry_run=True)

    @schema.document(
        summary="Delete an end user's data and every copy of it",
        parameters=[_project_param],
        responses={200: ForgetUserSerializer, **schema.errors(400, 401, 403, 404, 503)},
        tags=["users"],
        operation_id="user_data_delete",
    )
    def delete(self, request, user_id: str, *args, **kwargs):
        return self._answer(user_id, dry_run=False)


class _AlwaysJSON(BaseContentNegotiation):
    # JSON whatever the Accept header says: a beacon cannot choose, and errors must be JSON.
    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None


class EventsView(ServerAPIView, generics.ListAPIView):
    """``POST``: the public capture endpoint (public key). ``GET``: the event list (secret key).

    One path serves both, as the contract says; the capture side skips DRF's authentication,
    permissions and parsing and reads the raw body itself.
    """

    serializer_class = EventSerializer
    filterset_class = filters.EventFilter
    content_negotiation_class = _AlwaysJSON
    required_permissions = {"GET": _perms("view_feedbackevent")}

    def _is_capture(self) -> bool:
        # No request while drf-spectacular inspects the view: document the server API side.
        return getattr(self.request, "method", None) in ("POST", "OPTIONS")

    def get_authenticators(self):
        return [] if self._is_capture() else super().get_authenticators()

    def get_permissions(self):
        return [] if self._is_capture() else super().get_permissions()

    def get_queryset(self):
        return self.scope(FeedbackEvent.objects.with_current()).select_related("project")

    @schema.document(
        summary="List feedback events",
        parameters=[_project_param],
        responses={200: EventSerializer(many=True), **schema.errors(400, 401, 403, 404, 503)},
        tags=["events"],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @capture.CAPTURE_SCHEMA
    def post(self, request, *args, **kwargs):
        return capture.capture_response(request._request)

    @schema.document(exclude=True)
    def options(self, request, *args, **kwargs):
        return capture.preflight_response(request._request)


class StatsView(ServerAPIView):
    pagination_class = None
    filter_backends = ()
    required_permissions = {"GET": _perms("view_trace")}

    @schema.document(
        summary="Satisfaction over time, by error mode, by model, by kind",
        tags=["stats"],
        parameters=[
            _project_param,
            StatsQuerySerializer,
        ],
        responses={
            200: inline_serializer(
                "Stats",
                {
                    "since": serializers.DateTimeField(),
                    "totals": serializers.DictField(),
                    "by_day": serializers.ListField(child=serializers.DictField()),
                    "by_kind": serializers.DictField(child=serializers.IntegerField()),
                    "by_error_mode": serializers.ListField(child=serializers.DictField()),
                    "by_model": serializers.ListField(child=serializers.DictField()),
                },
            ),
            **schema.errors(400, 401, 403, 503),
        },
    )
    def get(self, request, *args, **kwargs):
        # A dict, not the QueryDict: DRF reads a QueryDict as a form, where "?days=" means unset.
        query = StatsQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        since = timezone.now() - timedelta(days=query.validated_data["days"])
        events = self.scope(FeedbackEvent.objects.all()).filter(timestamp__gte=since)
        votes = events.current().filter(kind__in=[EventKind.THUMBS, EventKind.RATING])
        up = Count("id", filter=Q(kind=EventKind.THUMBS, value__gt=0))
        down = Count("id", filter=Q(kind=EventKind.THUMBS, value__lt=0))
        rating = Avg("value", filter=Q(kind=EventKind.RATING))

        by_day = [
            {
                "date": row["day"].isoformat(),
                "thumbs_up": row["up"],
                "thumbs_down": row["down"],
                "satisfaction": _share(row["up"], row["down"]),
                "rating_avg": row["rating"],
            }
            for row in votes.annotate(day=TruncDate("timestamp"))
            .values("day")
            .annotate(up=up, down=down, rating=rating)
            .order_by("day")
        ]
        totals = votes.aggregate(up=up, down=down, rating=rating)
        by_kind = dict(events.values_list("kind").annotate(n=Count("id")).order_by())

        reasons: Counter[str] = Counter()
        negative = votes.filter(
            Q(value__lt=0, kind=EventKind.THUMBS) | Q(kind=EventKind.RATING, value__lte=2)
        )
        for row in negative.exclude(reasons=[]).values_list("reasons", flat=True).iterator():
            reasons.update(row)
        confirmed = Counter(
            dict(
                self.scope(Review.objects.all(), "trace__")
                .filter(updated_at__gte=since)
                .values_list("error_modes__slug")
                .annotate(n=Count("id"))
                .exclude(error_modes__slug=None)
                .order_by()
            )
        )
        by_error_mode = [
            {"error_mode": slug, "reported": reasons[slug], "confirmed": confirmed[slug]}
            for slug in sorted(
                set(reasons) | set(confirmed), key=lambda s: -reasons[s] - confirmed[s]
            )
        ]

        model_of = Trace.objects.filter(
            project_id=OuterRef("project_id"), key=OuterRef("trace_key")
        ).values("model")[:1]
        by_model = [
            {
                "model": row["model"] or "",
                "thumbs_up": row["up"],
                "thumbs_down": row["down"],
                "satisfaction": _share(row["up"], row["down"]),
                "rating_avg": row["rating"],
            }
            # Unregistered traces (no row, NULL) and traces without a model share one row.
            for row in votes.annotate(model=Coalesce(Subquery(model_of), Value("")))
            .values("model")
            .annotate(up=up, down=down, rating=rating)
            .order_by(F("model").asc(nulls_first=True))
        ]
        return Response(
            {
                "since": since,
                "totals": {
                    "events": sum(by_kind.values()),
                    "thumbs_up": totals["up"],
                    "thumbs_down": totals["down"],
                    "satisfaction": _share(totals["up"], totals["down"]),
                    "rating_avg": totals["rating"],
                },
                "by_day": by_day,
                "by_kind": by_kind,
                "by_error_mode": by_error_mode,
                "by_model": by_model,
            }
        )


def _share(up: int, down: int) -> float | None:
    return round(up / (up + down), 4) if up + down else None


class BadRequest(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "The request cannot be answered as it is."
    default_code = "bad_request"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "It exists already."
    default_code = "conflict"


# -- datasets ----------------------------------------------------------------------------------


class DatasetListView(ServerAPIView, generics.ListAPIView):
    serializer_class = DatasetSerializer
    filter_backends = ()
    required_permissions = {"GET": _perms("view_dataset"), "POST": _perms("add_dataset")}

    def get_queryset(self):
        return (
            self.scope(Dataset.objects.all())
            .select_related("project")
            .prefetch_related("versions")
            .annotate(_items=Count("items", distinct=True))
            .order_by("-id")
        )

    @schema.document(
        summary="List datasets",
        parameters=[_project_param],
        responses={200: DatasetSerializer(many=True), **schema.errors(400, 401, 403, 404, 503)},
        tags=["datasets"],
        operation_id="datasets_list",
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @schema.document(
        summary="Create a dataset",
        request=DatasetSerializer,
        responses={201: DatasetSerializer, **schema.errors(400, 401, 403, 409, 503)},
        tags=["datasets"],
        operation_id="datasets_create",
    )
    def post(self, request, *args, **kwargs):
        serializer = DatasetSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        key = data.pop("project", {}).get("public_key")
        project = self.target_project(key)
        if Dataset.objects.filter(project=project, name=data["name"]).exists():
            raise Conflict(f"This project has a dataset named {data['name']!r} already.")
        dataset = Dataset.objects.create(project=project, **data)
        dataset._items = 0
        return Response(DatasetSerializer(dataset).data, status=status.HTTP_201_CREATED)


class DatasetDetailView(ServerAPIView, generics.RetrieveAPIView):
    serializer_class = DatasetSerializer
    filter_backends = ()
    required_permissions = {"GET": _perms("view_dataset")}

    def get_queryset(self):
        return DatasetListView.get_queryset(self)

    def get_object(self):
        _dataset(self, self.kwargs["pk"])  # a JSON 404 for an id that is not a number
        return super().get_object()

    @schema.document(
        summary="One dataset",
        parameters=[_project_param],
        responses={200: DatasetSerializer, **schema.errors(401, 403, 404, 503)},
        tags=["datasets"],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class DatasetTracesView(ServerAPIView):
    filter_backends = ()
    pagination_class = None
    serializer_class = AddTracesSerializer
    required_permissions = {"POST": _perms("change_dataset")}

    @schema.document(
        summary="Add traces to a dataset, by filter or by id",
        request=AddTracesSerializer,
        responses={
            200: inline_serializer("DatasetAdded", {"added": serializers.IntegerField()}),
            **schema.errors(400, 401, 403, 404, 503),
        },
        tags=["datasets"],
    )
    def post(self, request, pk: int, *args, **kwargs):
        dataset = _dataset(self, pk)
        body = AddTracesSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        # Two sets of primary keys rather than one OR-ed queryset: a filter such as error_mode
        # makes its queryset DISTINCT, which Django cannot combine with another.
        pks: set[int] = set()
        if "filters" in body.validated_data:
            rule = {"filters": body.validated_data["filters"]}
            matched = matching_traces(Dataset(project=dataset.project, rule=rule))
            pks.update(matched.values_list("pk", flat=True))
        if "trace_ids" in body.validated_data:
            pks.update(
                Trace.objects.filter(
                    project=dataset.project, key__in=body.validated_data["trace_ids"]
                ).values_list("pk", flat=True)
            )
        added = add_traces(dataset, sorted(pks))
        return Response({"added": added})


class DatasetVersionsView(ServerAPIView):
    filter_backends = ()
    pagination_class = None
    serializer_class = DatasetVersionSerializer
    required_permissions = {"POST": _perms("change_dataset")}

    @schema.document(
        summary="Freeze a dataset as a new numbered version",
        request=DatasetVersionSerializer,
        responses={201: DatasetVersionSerializer, **schema.errors(400, 401, 403, 404, 503)},
        tags=["datasets"],
    )
    def post(self, request, pk: int, *args, **kwargs):
        dataset = _dataset(self, pk)
        body = DatasetVersionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        user = request.user if getattr(request.user, "pk", None) else None
        version = freeze(dataset, user=user, note=body.validated_data.get("note", ""))
        return Response(DatasetVersionSerializer(version).data, status=status.HTTP_201_CREATED)


class DatasetExportView(ServerAPIView):
    filter_backends = ()
    pagination_class = None
    required_permissions = {"GET": _perms("view_dataset", "export_dataset")}
    content_negotiation_class = _AlwaysJSON  # ?format= names the export, not a renderer

    @schema.document(
        summary="Export a dataset (streamed)",
        parameters=[_project_param, ExportQuerySerializer],
        responses={
            (200, "application/jsonl"): OpenApiTypes.STR,
            (200, "text/csv"): OpenApiTypes.STR,
            **schema.errors(400, 401, 403, 404, 503),
        },
        tags=["datasets"],
    )
    def get(self, request, pk: int, *args, **kwargs):
        dataset = _dataset(self, pk)
        query = ExportQuerySerializer(data=request.query_params.dict())  # as in StatsView
        query.is_valid(raise_exception=True)
        fmt = query.validated_data["format"]
        version = None
        if "version" in query.validated_data:
            version = dataset.versions.filter(number=query.validated_data["version"]).first()
            if version is None:
                raise exceptions.ValidationError({"version": ["This dataset has no such version."]})
        try:
            exports.check(dataset, fmt)
        except exports.ExportError as exc:
            raise exceptions.ValidationError({"format": [str(exc)]}) from None
        response = StreamingHttpResponse(
            exports.stream(dataset, fmt, version), content_type=exports.CONTENT_TYPES[fmt]
        )
        response["Content-Disposition"] = (
            f'attachment; filename="{exports.filename(dataset, fmt, version)}"'
        )
        return response


def _dataset(view: ServerAPIView, pk: str) -> Dataset:
    # The path takes any string, so that a malformed id gets this JSON 404, not an HTML page.
    if not str(pk).isdigit():
        raise Http404
    dataset = view.scope(Dataset.objects.select_related("project")).filter(pk=int(pk)).first()
    if dataset is None:
        raise Http404
    return dataset


def not_found(request, *args, **kwargs):
    from django.http import JsonResponse

    return JsonResponse(
        {"error": {"code": "not_found", "message": f"No API endpoint at {request.path}."}},
        status=404,
    )
