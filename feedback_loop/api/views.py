"""The server API's traces, events, stats and end users (datasets: ``dataset_views.py``), for the
host's backend (secret key) and for staff (session). Views are thin: each reads the request,
calls a function of the package and answers."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema_view, inline_serializer
from rest_framework import generics, serializers
from rest_framework.response import Response

from feedback_loop import filters
from feedback_loop.api import capture, schema
from feedback_loop.api.base import (
    PROJECT_PARAM,
    AlwaysJSON,
    BadRequest,
    Conflict,
    FiguresAPIView,
    ServerAPIView,
    perms,
)
from feedback_loop.api.serializers import (
    EventSerializer,
    ForgetUserSerializer,
    StatsQuerySerializer,
    TraceBatchResultSerializer,
    TraceBatchSerializer,
    TraceSerializer,
)
from feedback_loop.internal import agreement, stats
from feedback_loop.internal.erasure import forget_user
from feedback_loop.models import FeedbackEvent, Review, Trace
from feedback_loop.tokens import sign_trace
from feedback_loop.traces import TraceLinkError, record_traces


class TraceViews(ServerAPIView):
    """What the trace list and a trace's page share."""

    serializer_class = TraceSerializer

    def get_queryset(self):
        return (
            self.scope(Trace.objects.all())
            .select_related("project", "review", "regenerated_from")
            .prefetch_related("suggested_error_modes", "review__error_modes")
        )


@extend_schema_view(
    get=schema.document(
        summary="List traces",
        parameters=[PROJECT_PARAM],
        responses={200: TraceSerializer(many=True), **schema.errors(400, 401, 403, 404, 503)},
        tags=["traces"],
        operation_id="traces_list",
    )
)
class TraceListView(TraceViews, generics.ListAPIView):
    filterset_class = filters.TraceFilter
    required_permissions = {"GET": perms("view_trace"), "POST": perms("add_trace", "change_trace")}

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
        try:
            created = record_traces(project, items)
        except TraceLinkError as exc:
            raise Conflict(str(exc)) from None
        results = [
            {
                "trace_id": trace_id,
                # The token binds the trace's end user, else its session: one voter.
                "token": sign_trace(
                    trace_id,
                    project=project,
                    user_id=item.get("user_id") or None,
                    session_key=item.get("session_id") or None,
                ),
                "created": trace_id in created,
            }
            for trace_id, item in items.items()
        ]
        return Response({"results": results})


@extend_schema_view(
    get=schema.document(
        summary="One trace",
        parameters=[PROJECT_PARAM],
        responses={200: TraceSerializer, **schema.errors(400, 401, 403, 404, 503)},
        tags=["traces"],
    )
)
class TraceDetailView(TraceViews, generics.RetrieveAPIView):
    lookup_field = "key"
    lookup_url_kwarg = "trace_id"
    filter_backends = ()
    required_permissions = {"GET": perms("view_trace")}

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


@extend_schema_view(
    get=schema.document(
        summary="Count what deleting an end user's data would remove",
        parameters=[PROJECT_PARAM],
        responses={200: ForgetUserSerializer, **schema.errors(400, 401, 403, 404, 503)},
        tags=["users"],
        operation_id="user_data_count",
    ),
    delete=schema.document(
        summary="Delete an end user's data and every copy of it",
        parameters=[PROJECT_PARAM],
        responses={200: ForgetUserSerializer, **schema.errors(400, 401, 403, 404, 503)},
        tags=["users"],
        operation_id="user_data_delete",
    ),
)
class UserDataView(ServerAPIView):
    """Everything one end user left in a project: counted with GET, deleted with DELETE."""

    pagination_class = None
    filter_backends = ()
    serializer_class = ForgetUserSerializer
    required_permissions = {
        "GET": perms("view_feedbackevent"),
        "DELETE": perms("delete_feedbackevent"),
    }

    def get(self, request, user_id: str, *args, **kwargs):
        return self.answer(user_id, dry_run=True)

    def delete(self, request, user_id: str, *args, **kwargs):
        return self.answer(user_id, dry_run=False)

    def answer(self, user_id: str, dry_run: bool) -> Response:
        project = self.target_project(self.request.query_params.get("project"))
        report = forget_user(project, user_id, dry_run=dry_run)
        return Response({"user_id": user_id, "deleted": not dry_run, **report.as_dict()})


@extend_schema_view(
    get=schema.document(
        summary="List feedback events",
        parameters=[PROJECT_PARAM],
        responses={200: EventSerializer(many=True), **schema.errors(400, 401, 403, 404, 503)},
        tags=["events"],
    )
)
class EventListView(ServerAPIView, generics.ListAPIView):
    """``GET events``; ``POST`` and ``OPTIONS`` of the same path are the capture endpoint."""

    serializer_class = EventSerializer
    filterset_class = filters.EventFilter
    content_negotiation_class = AlwaysJSON
    required_permissions = {"GET": perms("view_feedbackevent")}

    def get_queryset(self):
        return self.scope(FeedbackEvent.objects.with_current()).select_related("project")


_event_list = EventListView.as_view()


@csrf_exempt  # the capture endpoint reads no cookies
def events(request, *args, **kwargs):
    """One path, as the contract says: the public capture endpoint (a plain Django view, the
    hot path) for POST and its preflight, the server API's event list for the rest."""
    if request.method == "POST":
        return capture.capture_response(request)
    if request.method == "OPTIONS":
        return capture.preflight_response(request)
    return _event_list(request, *args, **kwargs)


# The OpenAPI document describes GET from the list view and POST from capture's own schema
# (see schema_view.only_feedback_loop).
events.cls = EventListView  # type: ignore[attr-defined]
events.initkwargs = {}  # type: ignore[attr-defined]


class StatsView(FiguresAPIView):
    query_serializer = StatsQuerySerializer

    @schema.document(
        summary="Satisfaction over time, by error mode, by model, by kind",
        description=stats.__doc__,
        tags=["stats"],
        parameters=[PROJECT_PARAM, StatsQuerySerializer],
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
        days = self.query()["days"]
        since = timezone.now() - timedelta(days=days)
        figures = stats.event_stats(
            self.scope(FeedbackEvent.objects.all()),
            self.scope(Review.objects.all(), "trace__"),
            since,
        )
        return Response(figures)


class AgreementStatsView(FiguresAPIView):
    query_serializer = StatsQuerySerializer

    @schema.document(
        summary="Agreement: users, reviewers, triage and scorers against reviewers",
        description=agreement.__doc__,
        tags=["stats"],
        parameters=[PROJECT_PARAM, StatsQuerySerializer],
        responses={
            200: inline_serializer(
                "AgreementStats",
                {
                    "since": serializers.DateTimeField(),
                    "min_n": serializers.IntegerField(),
                    "users_vs_reviewers": serializers.DictField(),
                    "reviewers_vs_reviewers": serializers.DictField(),
                    "triage_vs_reviewers": serializers.DictField(),
                    "scorers_vs_reviewers": serializers.ListField(child=serializers.DictField()),
                },
            ),
            **schema.errors(400, 401, 403, 503),
        },
        operation_id="stats_agreement",
    )
    def get(self, request, *args, **kwargs):
        since = timezone.now() - timedelta(days=self.query()["days"])
        traces = self.scope(Trace.objects.all()).filter(last_signal_at__gte=since)
        return Response({"since": since, **agreement.figures(traces).as_dict()})
