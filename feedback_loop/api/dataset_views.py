"""The server API's datasets: list and create, read, add traces, freeze versions, export."""

from __future__ import annotations

from django.db.models import Count
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema_view, inline_serializer
from rest_framework import exceptions, generics, serializers, status
from rest_framework.response import Response

from feedback_loop import exports
from feedback_loop.api import schema
from feedback_loop.api.base import PROJECT_PARAM, AlwaysJSON, Conflict, ServerAPIView, perms
from feedback_loop.api.serializers import (
    AddTracesSerializer,
    DatasetSerializer,
    DatasetVersionSerializer,
    ExportQuerySerializer,
)
from feedback_loop.filters import matching_traces
from feedback_loop.internal.datasets import add_traces, freeze
from feedback_loop.models import Dataset, Trace


class DatasetViews(ServerAPIView):
    """What the dataset views share: the caller's datasets, and one by the id in the path."""

    serializer_class: type[serializers.BaseSerializer] = DatasetSerializer
    filter_backends = ()

    def get_queryset(self):
        return (
            self.scope(Dataset.objects.all())
            .select_related("project")
            .prefetch_related("versions")
            .annotate(_items=Count("items", distinct=True))
            .order_by("-id")
        )

    def dataset(self) -> Dataset:
        # The path takes any string, so that a malformed id gets this JSON 404, not an HTML page.
        pk = str(self.kwargs["pk"])
        if not pk.isdigit():
            raise Http404
        dataset = self.scope(Dataset.objects.select_related("project")).filter(pk=int(pk)).first()
        if dataset is None:
            raise Http404
        return dataset


@extend_schema_view(
    get=schema.document(
        summary="List datasets",
        parameters=[PROJECT_PARAM],
        responses={200: DatasetSerializer(many=True), **schema.errors(400, 401, 403, 404, 503)},
        tags=["datasets"],
        operation_id="datasets_list",
    )
)
class DatasetListView(DatasetViews, generics.ListAPIView):
    required_permissions = {"GET": perms("view_dataset"), "POST": perms("add_dataset")}

    @schema.document(
        summary="Create a dataset",
        request=DatasetSerializer,
        responses={201: DatasetSerializer, **schema.errors(400, 401, 403, 409, 503)},
        tags=["datasets"],
        operation_id="datasets_create",
    )
    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        project = self.target_project(data.pop("project", {}).get("public_key"))
        if Dataset.objects.filter(project=project, name=data["name"]).exists():
            raise Conflict(f"This project has a dataset named {data['name']!r} already.")
        dataset = Dataset.objects.create(project=project, **data)
        setattr(dataset, "_items", 0)  # noqa: B010 (what the list's annotation counts)
        return Response(self.get_serializer(dataset).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    get=schema.document(
        summary="One dataset",
        parameters=[PROJECT_PARAM],
        responses={200: DatasetSerializer, **schema.errors(400, 401, 403, 404, 503)},
        tags=["datasets"],
    )
)
class DatasetDetailView(DatasetViews, generics.RetrieveAPIView):
    required_permissions = {"GET": perms("view_dataset")}

    def get_object(self):
        self.dataset()  # a JSON 404 for an id that is not a number
        return super().get_object()


class DatasetTracesView(DatasetViews):
    pagination_class = None
    serializer_class = AddTracesSerializer
    required_permissions = {"POST": perms("change_dataset")}

    @schema.document(
        summary="Add traces to a dataset, by filter or by id",
        request=AddTracesSerializer,
        responses={
            200: inline_serializer("DatasetAdded", {"added": serializers.IntegerField()}),
            **schema.errors(400, 401, 403, 404, 503),
        },
        tags=["datasets"],
    )
    def post(self, request, pk: str, *args, **kwargs):
        dataset = self.dataset()
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        # Two sets of primary keys rather than one OR-ed queryset: a filter such as error_mode
        # makes its queryset DISTINCT, which Django cannot combine with another.
        pks: set[int] = set()
        if "filters" in body.validated_data:
            rule = {"filters": body.validated_data["filters"]}
            matched = matching_traces(Dataset(project=dataset.project, rule=rule))
            pks.update(matched.values_list("pk", flat=True))
        if "trace_ids" in body.validated_data:
            named = Trace.objects.filter(
                project=dataset.project, key__in=body.validated_data["trace_ids"]
            )
            pks.update(named.values_list("pk", flat=True))
        return Response({"added": add_traces(dataset, sorted(pks))})


class DatasetVersionsView(DatasetViews):
    pagination_class = None
    serializer_class = DatasetVersionSerializer
    required_permissions = {"POST": perms("change_dataset")}

    @schema.document(
        summary="Freeze a dataset as a new numbered version",
        request=DatasetVersionSerializer,
        responses={201: DatasetVersionSerializer, **schema.errors(400, 401, 403, 404, 503)},
        tags=["datasets"],
    )
    def post(self, request, pk: str, *args, **kwargs):
        dataset = self.dataset()
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        user = request.user if getattr(request.user, "pk", None) else None
        version = freeze(dataset, user=user, note=body.validated_data.get("note", ""))
        return Response(self.get_serializer(version).data, status=status.HTTP_201_CREATED)


class DatasetExportView(DatasetViews):
    pagination_class = None
    required_permissions = {"GET": perms("view_dataset", "export_dataset")}
    content_negotiation_class = AlwaysJSON  # ?format= names the export, not a renderer
    query_serializer = ExportQuerySerializer

    @schema.document(
        summary="Export a dataset (streamed)",
        parameters=[
            PROJECT_PARAM,
            ExportQuerySerializer,
            OpenApiParameter(
                "X-Export-Report",
                str,
                location=OpenApiParameter.HEADER,
                response=[200],
                description="JSON: rows written, items read, rows left out and kept with a "
                "problem (by reason), and warnings (such as OpenAI's minimum of 10 examples).",
            ),
        ],
        responses={
            (200, "application/jsonl"): OpenApiTypes.STR,
            (200, "text/csv"): OpenApiTypes.STR,
            **schema.errors(400, 401, 403, 404, 503),
        },
        tags=["datasets"],
    )
    def get(self, request, pk: str, *args, **kwargs):
        dataset = self.dataset()
        query = self.query()
        fmt = query["format"]
        version = None
        if "version" in query:
            version = dataset.versions.filter(number=query["version"]).first()
            if version is None:
                raise exceptions.ValidationError({"version": ["This dataset has no such version."]})
        try:
            exports.check(dataset, fmt)
            options = ExportQuerySerializer.options(query)
        except exports.ExportError as exc:
            raise exceptions.ValidationError({"format": [str(exc)]}) from None
        return exports.dataset_download(
            dataset, fmt, version, options, as_manifest=query["manifest"] == "true"
        )
