"""``GET stats/compare``: two releases compared, or a release against the rest
(internal/releases.py)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from rest_framework import serializers
from rest_framework.response import Response

from feedback_loop.api import schema
from feedback_loop.api.base import PROJECT_PARAM, FiguresAPIView
from feedback_loop.api.serializers import StatsQuerySerializer, StrictCharField
from feedback_loop.internal import releases
from feedback_loop.models import Trace


class ReleaseComparisonQuerySerializer(StatsQuerySerializer):
    a = StrictCharField(
        min_length=1, max_length=200, trim_whitespace=False, help_text="Release A (compared)."
    )
    b = StrictCharField(
        required=False,
        min_length=1,
        max_length=200,
        trim_whitespace=False,
        help_text="Release B (the baseline); left out: every other answer of the window.",
    )


class RateSerializer(serializers.Serializer):
    hits = serializers.IntegerField()
    n = serializers.IntegerField(help_text="Votes (satisfaction) or answers (the others).")
    rate = serializers.FloatField(allow_null=True)
    low = serializers.FloatField(allow_null=True, help_text="Wilson interval.")
    high = serializers.FloatField(allow_null=True)


class ReleaseFigureSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["satisfaction", "signal", "error_mode"])
    name = serializers.CharField(help_text="satisfaction, a signal, or an error mode's slug.")
    label = serializers.CharField()  # type: ignore[assignment]  # a field, not its label
    unit = serializers.ChoiceField(choices=["votes", "answers"])
    higher_is_better = serializers.BooleanField()
    a = RateSerializer()
    b = RateSerializer()
    difference = serializers.FloatField(allow_null=True, help_text="A's rate minus B's.")
    low = serializers.FloatField(allow_null=True, help_text="Newcombe's interval of A - B.")
    high = serializers.FloatField(allow_null=True)
    verdict = serializers.ChoiceField(
        choices=["better", "worse", "can't tell yet"],
        help_text="For A: better or worse only when the whole interval is on one side of 0.",
    )
    more_needed = serializers.IntegerField(
        allow_null=True,
        help_text="About how many more votes or answers a side would tell the observed "
        "difference apart (80% power); null without a difference or data.",
    )


class AnswersSerializer(serializers.Serializer):
    a = serializers.IntegerField()
    b = serializers.IntegerField()


class ReleaseComparisonSerializer(serializers.Serializer):
    a = serializers.CharField()
    b = serializers.CharField(allow_null=True, help_text="null: every other answer.")
    since = serializers.DateTimeField()
    confidence = serializers.FloatField()
    answers = AnswersSerializer(help_text="Answers (traces created in the window) per side.")
    figures = ReleaseFigureSerializer(many=True)


class ReleaseComparisonView(FiguresAPIView):
    query_serializer = ReleaseComparisonQuerySerializer
    serializer_class = ReleaseComparisonSerializer

    @schema.document(
        summary="Compare two releases, or a release against the rest",
        description=releases.__doc__,
        tags=["stats"],
        operation_id="stats_compare",
        parameters=[PROJECT_PARAM, ReleaseComparisonQuerySerializer],
        responses={200: ReleaseComparisonSerializer, **schema.errors(400, 401, 403, 503)},
    )
    def get(self, request, *args, **kwargs):
        query = self.query()
        since = timezone.now() - timedelta(days=query["days"])
        comparison = releases.compare(
            self.scope(Trace.objects.all()), query["a"], query.get("b"), since=since
        )
        return Response(comparison.as_dict())
