"""The server API's experiments: list and start them, read one with its summary, its results
item by item, and its comparison with a baseline. An experiment is started here and run by the
``run_experiment`` Celery task, on one of the site's ``EVAL_TASKS``."""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils.decorators import method_decorator
from drf_spectacular.utils import OpenApiResponse, extend_schema_view
from rest_framework import exceptions, generics, serializers, status
from rest_framework.response import Response

from feedback_loop.api import schema
from feedback_loop.api.base import PROJECT_PARAM, ServerAPIView, perms
from feedback_loop.api.experiment_serializers import (
    ComparisonQuerySerializer,
    ComparisonSerializer,
    ExperimentListQuerySerializer,
    ExperimentResultSerializer,
    ExperimentResultsQuerySerializer,
    ExperimentSerializer,
    StartExperimentSerializer,
)
from feedback_loop.api.pagination import NewestFirstPagination
from feedback_loop.api.schema import ErrorSerializer
from feedback_loop.conf import app_settings
from feedback_loop.evaluation import runner
from feedback_loop.evaluation.summary import TOLERANCE, compare
from feedback_loop.models import Dataset, Experiment, ExperimentResult, ExperimentStatus

logger = logging.getLogger("feedback_loop.api")

TAGS = ["experiments"]


class InOrderPagination(NewestFirstPagination):
    """Results in the order they were written."""

    ordering = ("created_at", "id")


class ExperimentViews(ServerAPIView):
    """What the experiment views share: the caller's experiments, and one by the id in the
    path."""

    serializer_class: type[serializers.BaseSerializer] = ExperimentSerializer
    filter_backends = ()

    def get_queryset(self):
        return self.experiments()

    def experiments(self):
        done = (
            ExperimentResult.objects.filter(experiment=OuterRef("pk"))
            .order_by()
            .values("experiment")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return (
            self.scope(Experiment.objects.all())
            .select_related("project", "dataset", "version")
            .annotate(_results=Coalesce(Subquery(done, output_field=IntegerField()), 0))
            .order_by("-created_at", "-id")
        )

    def experiment(self) -> Experiment:
        # The path takes any string, so that a malformed id gets this JSON 404, not an HTML page.
        pk = str(self.kwargs["pk"])
        if not pk.isdigit():
            raise Http404
        experiment = self.experiments().filter(pk=int(pk)).first()
        if experiment is None:
            raise Http404
        return experiment


NOT_ALLOWED = OpenApiResponse(
    ErrorSerializer,
    description="Signed in, but not staff or without the permission; or (POST) the site lists "
    "no EVAL_TASKS, so the API starts no experiment.",
)


@extend_schema_view(
    get=schema.document(
        summary="List experiments",
        parameters=[PROJECT_PARAM, ExperimentListQuerySerializer],
        responses={200: ExperimentSerializer(many=True), **schema.errors(400, 401, 403, 404, 503)},
        tags=TAGS,
        operation_id="experiments_list",
    )
)
# Started in its own transaction, so that the worker sees it even where ATOMIC_REQUESTS is on.
@method_decorator(transaction.non_atomic_requests, name="dispatch")
class ExperimentListView(ExperimentViews, generics.ListAPIView):
    required_permissions = {"GET": perms("view_experiment"), "POST": perms("add_experiment")}
    query_serializer = ExperimentListQuerySerializer

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.request.method != "GET":
            return queryset
        query = self.query()
        if "dataset" in query:
            queryset = queryset.filter(dataset_id=query["dataset"])
        if "status" in query:
            queryset = queryset.filter(status=query["status"])
        return queryset

    @schema.document(
        summary="Start an experiment (run by a Celery worker)",
        request=StartExperimentSerializer,
        responses={
            202: OpenApiResponse(
                ExperimentSerializer,
                description="Started: the experiment as it is now (pending until a worker runs "
                "it; finished already where Celery runs tasks eagerly), its URL in Location.",
            ),
            **schema.errors(400, 401),
            403: NOT_ALLOWED,
            **schema.errors(503),
        },
        tags=TAGS,
        operation_id="experiments_start",
    )
    def post(self, request, *args, **kwargs):
        if not app_settings.EVAL_TASKS:
            raise exceptions.PermissionDenied(
                "This site lists no tasks the API may run (FEEDBACK_LOOP['EVAL_TASKS'] is "
                "empty), so it starts no experiment."
            )
        body = StartExperimentSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        dataset = self.scope(Dataset.objects.all()).filter(pk=data["dataset"]).first()
        if dataset is None:
            raise exceptions.ValidationError(
                {"dataset": ["No dataset with this id in the projects you can reach."]}
            )
        version = None
        if "version" in data:
            version = dataset.versions.filter(number=data["version"]).first()
            if version is None:
                raise exceptions.ValidationError({"version": ["This dataset has no such version."]})
            if version.item_count - version.erased_items < 1:
                raise exceptions.ValidationError({"version": ["This version holds no items."]})
        elif not dataset.items.exists():
            raise exceptions.ValidationError({"dataset": ["This dataset holds no items."]})
        try:
            baseline = runner.find_baseline(dataset, data.get("baseline"))
        except ValueError:
            raise exceptions.ValidationError(
                {"baseline": [f"No experiment {data['baseline']!r} on this dataset."]}
            ) from None
        experiment = runner.start(
            dataset,
            data["task"],
            data["scorers"],
            name=data.get("name"),
            version=version,
            baseline=baseline,
            metadata=data.get("metadata"),
            user=request.user,
        )
        from feedback_loop.tasks import run_experiment

        try:
            run_experiment.delay(experiment.pk, data["concurrency"])
        except Exception:  # the broker: a connection refused, a timeout
            logger.exception("Could not queue experiment %s.", experiment.pk)
            Experiment.objects.filter(pk=experiment.pk).update(status=ExperimentStatus.FAILED)
            response = Response(
                {
                    "error": {
                        "code": "unavailable",
                        "message": f"The task queue is unavailable; experiment {experiment.pk} "
                        "was not started. Retry later.",
                    }
                },
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
            response["Retry-After"] = str(app_settings.RETRY_AFTER_SECONDS)
            return response
        started = self.experiments().get(pk=experiment.pk)  # as it is now
        serialized = self.get_serializer(started).data
        return Response(
            serialized, status=status.HTTP_202_ACCEPTED, headers={"Location": serialized["url"]}
        )


@extend_schema_view(
    get=schema.document(
        summary="One experiment, with its summary",
        parameters=[PROJECT_PARAM],
        responses={200: ExperimentSerializer, **schema.errors(400, 401, 403, 404, 503)},
        tags=TAGS,
    )
)
class ExperimentDetailView(ExperimentViews, generics.RetrieveAPIView):
    pagination_class = None
    required_permissions = {"GET": perms("view_experiment")}

    def get_object(self):
        return self.experiment()


@extend_schema_view(
    get=schema.document(
        summary="An experiment's results, item by item",
        parameters=[PROJECT_PARAM, ExperimentResultsQuerySerializer],
        responses={
            200: ExperimentResultSerializer(many=True),
            **schema.errors(400, 401, 403, 404, 503),
        },
        tags=TAGS,
    )
)
class ExperimentResultsView(ExperimentViews, generics.ListAPIView):
    serializer_class = ExperimentResultSerializer
    pagination_class = InOrderPagination
    required_permissions = {"GET": perms("view_experiment")}
    query_serializer = ExperimentResultsQuerySerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular reading the view
            return ExperimentResult.objects.none()
        experiment = self.experiment()
        results = ExperimentResult.objects.filter(experiment=experiment).select_related(
            "version_item"
        )
        if self.query()["failed"] == "true":
            results = results.failed(list(experiment.scorers))
        return results

    def experiment(self) -> Experiment:
        if not hasattr(self, "_experiment"):
            self._experiment = super().experiment()
        return self._experiment


@extend_schema_view(
    get=schema.document(
        summary="Compare an experiment with a baseline, item by item",
        parameters=[PROJECT_PARAM, ComparisonQuerySerializer],
        responses={200: ComparisonSerializer, **schema.errors(400, 401, 403, 404, 503)},
        tags=TAGS,
    )
)
class ExperimentCompareView(ExperimentViews):
    pagination_class = None
    serializer_class = ComparisonSerializer
    required_permissions = {"GET": perms("view_experiment")}
    query_serializer = ComparisonQuerySerializer

    def get(self, request, pk: str, *args, **kwargs):
        experiment = self.experiment()
        query = self.query()
        if "baseline" in query:
            baseline = self.experiments().filter(pk=query["baseline"]).first()
            if baseline is None:
                raise exceptions.ValidationError({"baseline": ["No experiment with this id."]})
        elif experiment.baseline_id is not None:
            baseline = self.experiments().get(pk=experiment.baseline_id)
        else:
            raise exceptions.ValidationError(
                {"baseline": ["This experiment has no baseline; name one with ?baseline=<id>."]}
            )
        if baseline.dataset_id != experiment.dataset_id:
            raise exceptions.ValidationError(
                {
                    "baseline": [
                        f"Experiment {baseline.pk} ran on another dataset; compare experiments "
                        "of the same dataset."
                    ]
                }
            )
        tolerance = query.get("tolerance", TOLERANCE)
        comparison = compare(experiment, baseline, tolerance).as_dict()
        for row in comparison["scorers"]:
            mean, before = row["mean"], row["baseline_mean"]
            row["delta"] = None if mean is None or before is None else round(mean - before, 4)
        return Response({**comparison, "tolerance": tolerance})
