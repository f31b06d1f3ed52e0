"""``GET stats/compare``: two releases compared, or a release against the rest
(internal/releases.py), and with ``by`` per segment of a metadata key (internal/segments.py)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from rest_framework import serializers
from rest_framework.response import Response

from feedback_loop.api import schema
from feedback_loop.api.base import PROJECT_PARAM, FiguresAPIView
from feedback_loop.api.serializers import StatsQuerySerializer, StrictCharField
from feedback_loop.internal import releases, segments
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
    by = StrictCharField(
        required=False,
        allow_blank=True,  # refused by validate_by, which says what a key is
        trim_whitespace=False,
        help_text="A metadata key to break satisfaction down by, as the where filter writes it: "
        "metadata.plan, metadata.user.locale.",
    )

    def validate_by(self, value: str) -> segments.Key:
        try:
            return segments.parse_key(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None


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


class SegmentComparisonSerializer(serializers.Serializer):
    group = serializers.ChoiceField(
        choices=[segments.VALUE, segments.OTHER, segments.NONE],
        help_text="value: one of the values with the most answers; other: every other value; "
        "none: the answers without the key (or with null).",
    )
    value = serializers.CharField(
        allow_null=True, help_text="The value as text (true, 42, 2.5); null for other and none."
    )
    answers = AnswersSerializer()
    satisfaction = ReleaseFigureSerializer()


class ReleaseComparisonSerializer(serializers.Serializer):
    a = serializers.CharField()
    b = serializers.CharField(allow_null=True, help_text="null: every other answer.")
    since = serializers.DateTimeField()
    confidence = serializers.FloatField()
    answers = AnswersSerializer(help_text="Answers (traces created in the window) per side.")
    figures = ReleaseFigureSerializer(many=True)
    by = serializers.CharField(required=False, help_text="With ?by=: the key, as given.")
    segments = SegmentComparisonSerializer(
        many=True,
        required=False,
        help_text=f"With ?by=: per segment (the {segments.MAX_VALUES} values with the most "
        "answers, then other, then none), satisfaction of A against B.",
    )


class ReleaseComparisonView(FiguresAPIView):
    query_serializer = ReleaseComparisonQuerySerializer
    serializer_class = ReleaseComparisonSerializer

    @schema.document(
        summary="Compare two releases, or a release against the rest",
        description=f"{releases.__doc__}\n{segments.__doc__}",
        tags=["stats"],
        operation_id="stats_compare",
        parameters=[PROJECT_PARAM, ReleaseComparisonQuerySerializer],
        responses={200: ReleaseComparisonSerializer, **schema.errors(400, 401, 403, 503)},
    )
    def get(self, request, *args, **kwargs):
        query = self.query()
        since = timezone.now() - timedelta(days=query["days"])
        traces = self.scope(Trace.objects.all())
        comparison = releases.compare(traces, query["a"], query.get("b"), since=since)
        answer = comparison.as_dict()
        key = query.get("by")
        if key is not None:
            answer["by"] = key.source
            answer["segments"] = [
                segment.as_dict()
                for segment in segments.compare(
                    traces, key, query["a"], query.get("b"), since=since
                )
            ]
        return Response(answer)
