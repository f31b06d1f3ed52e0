"""The server API's experiments: what is read (an experiment, its results, a comparison) and the
body that starts one. The tasks a caller may name are the site's ``EVAL_TASKS``, read when the
serializer (or the OpenAPI document) is made."""

from __future__ import annotations

from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from feedback_loop.api.serializers import JSONObjectField, StrictCharField
from feedback_loop.conf import MAX_ROW_ID, app_settings
from feedback_loop.models import Experiment, ExperimentResult, ExperimentStatus

MAX_CONCURRENCY = 16
MAX_SCORERS = 20

_MEAN = {"type": "number", "nullable": True, "minimum": 0, "maximum": 1}

SUMMARY_SCHEMA = {
    "type": "object",
    "description": "Filled in when the experiment finishes ({} before): each scorer's mean, "
    "how many items passed (score >= 0.5), were scored and skipped; the means by confirmed "
    "error mode; the items whose task failed; latency percentiles.",
    "properties": {
        "scorers": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "mean": _MEAN,
                    "passed": {"type": "integer"},
                    "scored": {"type": "integer"},
                    "skipped": {"type": "integer"},
                },
            },
        },
        "by_error_mode": {
            "type": "object",
            "additionalProperties": {"type": "object", "additionalProperties": _MEAN},
        },
        "errors": {"type": "integer"},
        "latency_ms": {
            "type": "object",
            "properties": {
                "p50": {"type": "number", "nullable": True},
                "p95": {"type": "number", "nullable": True},
            },
        },
    },
}

SCORES_SCHEMA = {
    "type": "object",
    "description": "Per scorer: the score (0 to 1; null when the scorer did not apply) and why.",
    "additionalProperties": {
        "type": "object",
        "properties": {"value": _MEAN, "reason": {"type": "string"}},
    },
}


@extend_schema_field(SUMMARY_SCHEMA)
class SummaryField(serializers.JSONField):
    pass


@extend_schema_field(SCORES_SCHEMA)
class ScoresField(serializers.JSONField):
    pass


@extend_schema_field(
    {
        "oneOf": [
            {"type": "integer", "minimum": 1},
            {"type": "string", "enum": ["latest"]},
        ],
        "description": 'The id of an experiment on the same dataset, or "latest": the newest '
        "finished one.",
    }
)
class BaselineField(serializers.Field):
    default_error_messages = {
        "invalid": 'An experiment id (a whole number) or "latest".',
    }

    def to_internal_value(self, data):
        if data == "latest":
            return data
        if isinstance(data, bool) or not isinstance(data, int) or not 1 <= data <= MAX_ROW_ID:
            self.fail("invalid")
        return data

    def to_representation(self, value):
        return value


class ExperimentSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(help_text="This experiment in the server API.")
    project = serializers.CharField(source="project.public_key")
    dataset = serializers.IntegerField(source="dataset_id")
    dataset_name = serializers.CharField(source="dataset.name")
    version = serializers.IntegerField(
        source="version.number", help_text="The number of the dataset version it runs on."
    )
    baseline = serializers.IntegerField(
        source="baseline_id",
        allow_null=True,
        help_text="The id of the experiment it is compared with, if any.",
    )
    scorers = serializers.ListField(child=serializers.CharField())
    metadata = JSONObjectField()
    status = serializers.ChoiceField(choices=ExperimentStatus.choices)
    summary = SummaryField()
    item_count = serializers.IntegerField(help_text="Items of the version it runs on.")
    result_count = serializers.IntegerField(
        source="_results", default=0, help_text="Items done so far (results written)."
    )
    error_count = serializers.IntegerField(help_text="Items whose task failed (when finished).")

    class Meta:
        model = Experiment
        fields = [
            "id",
            "url",
            "project",
            "dataset",
            "dataset_name",
            "version",
            "name",
            "task",
            "scorers",
            "metadata",
            "baseline",
            "status",
            "summary",
            "item_count",
            "result_count",
            "error_count",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_url(self, experiment) -> str:
        return reverse(
            "feedback_loop:experiment-detail",
            kwargs={"pk": experiment.pk},
            request=self.context.get("request"),
        )


class ExperimentResultSerializer(serializers.ModelSerializer):
    input = serializers.CharField(
        source="version_item.input", default="", help_text="The item's input."
    )
    expected_output = serializers.CharField(source="version_item.expected_output", default="")
    scores = ScoresField()
    failed = serializers.SerializerMethodField(
        help_text="The task failed, or a scorer gave less than 0.5."
    )

    class Meta:
        model = ExperimentResult
        fields = [
            "id",
            "item_id",
            "input",
            "expected_output",
            "output",
            "scores",
            "error",
            "failed",
            "latency_ms",
            "created_at",
        ]
        read_only_fields = fields

    def get_failed(self, result) -> bool:
        return result.failed


class ExperimentListQuerySerializer(serializers.Serializer):
    dataset = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ROW_ID, help_text="A dataset's id."
    )
    status = serializers.ChoiceField(choices=ExperimentStatus.choices, required=False)


class ExperimentResultsQuerySerializer(serializers.Serializer):
    failed = serializers.ChoiceField(
        choices=["true", "false"],
        default="false",
        help_text="true: only the items whose task failed or that a scorer gave less than 0.5.",
    )


class ComparisonQuerySerializer(serializers.Serializer):
    baseline = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ROW_ID,
        help_text="The experiment to compare with (same dataset); by default its own baseline.",
    )
    tolerance = serializers.FloatField(
        required=False,
        min_value=0,
        max_value=1,
        help_text="How far a score must move for an item to count as improved or regressed "
        "(default 0.05).",
    )


class ComparisonScorerSerializer(serializers.Serializer):
    scorer = serializers.CharField()
    mean = serializers.FloatField(allow_null=True)
    baseline_mean = serializers.FloatField(allow_null=True)
    delta = serializers.FloatField(
        allow_null=True, help_text="mean - baseline_mean (null if either is)."
    )
    improved = serializers.ListField(child=serializers.CharField(), help_text="Item ids.")
    regressed = serializers.ListField(
        child=serializers.CharField(), help_text="Item ids, worst first."
    )
    unchanged = serializers.IntegerField()


class ComparisonSerializer(serializers.Serializer):
    experiment = serializers.IntegerField()
    baseline = serializers.IntegerField()
    tolerance = serializers.FloatField()
    only_here = serializers.IntegerField(help_text="Items the baseline did not run.")
    only_baseline = serializers.IntegerField(help_text="Items only the baseline ran.")
    regressed_items = serializers.ListField(
        child=serializers.CharField(), help_text="Items that regressed on any scorer, worst first."
    )
    scorers = ComparisonScorerSerializer(many=True, help_text="The scorers both ran.")


def api_scorers() -> list[str]:
    """The scorers the API runs, as a pattern's alternatives: none runs the caller's code, reads
    a file or runs the caller's pattern; judge only where the site has one (EVAL_JUDGE)."""
    names = ["exact", "json_valid", "similarity", "refusal", "error_mode"]
    names += ["contains(:[^\\x00]*)?", "length(:[0-9]{1,6}([.][0-9]{1,6})?)?"]
    if app_settings.EVAL_JUDGE:
        names.append("judge(:[^\\x00]*)?")
    return names


class ScorerField(StrictCharField):
    """A scorer's name as ``resolve()`` reads it, among those the API runs (the pattern, which
    the OpenAPI document states)."""

    def __init__(self, **kwargs):
        super().__init__(min_length=1, max_length=300, **kwargs)
        self.validators.append(
            RegexValidator(
                "^(" + "|".join(api_scorers()) + ")$",
                message="Not a scorer the API runs: exact, json_valid, similarity, refusal, "
                "error_mode, contains[:text], length[:ratio]"
                + (", judge[:rubric]" if app_settings.EVAL_JUDGE else "")
                + ".",
            )
        )

    def to_internal_value(self, data):
        from django.core.exceptions import ImproperlyConfigured

        from feedback_loop.evaluation.registry import BUILT_IN, FACTORIES, resolve

        spec = super().to_internal_value(data)
        name = spec.partition(":")[0]
        # The caller's own code, files or patterns do not run on the site's workers.
        if name in ("regex", "json_schema") or (
            "." in name and name not in BUILT_IN and name not in FACTORIES
        ):
            raise serializers.ValidationError(
                f"The scorer {spec!r} runs code, a file or a pattern of your own, which the API "
                "does not run; use feedback_loop.evaluate() or feedback_loop_eval."
            )
        if name == "judge" and not app_settings.EVAL_JUDGE:
            raise serializers.ValidationError(
                "The judge needs the site's FEEDBACK_LOOP['EVAL_JUDGE'], which is not set."
            )
        try:
            resolve(spec)
        except (ValueError, ImportError, ImproperlyConfigured) as exc:
            raise serializers.ValidationError(str(exc)) from None
        return spec


class StartExperimentSerializer(serializers.Serializer):
    dataset = serializers.IntegerField(
        min_value=1, max_value=MAX_ROW_ID, help_text="The dataset's id."
    )
    task = StrictCharField(max_length=300)
    scorers = serializers.ListField(
        child=ScorerField(),
        min_length=1,
        max_length=MAX_SCORERS,
        help_text="Built-in scorers: exact, contains[:text], length[:ratio], json_valid, "
        "similarity, refusal, error_mode, judge[:rubric]. Scorers that run code or read files "
        "of your own (dotted paths, regex:, json_schema:) run with feedback_loop.evaluate() or "
        "the feedback_loop_eval command, not through the API.",
    )
    name = StrictCharField(required=False, min_length=1, max_length=200)
    version = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ROW_ID,
        help_text="A frozen version's number; by default a new version is frozen now.",
    )
    baseline = BaselineField(required=False)
    metadata = JSONObjectField(required=False)
    concurrency = serializers.IntegerField(
        required=False,
        default=4,
        min_value=1,
        max_value=MAX_CONCURRENCY,
        help_text="Items run at once.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The allowed tasks are a setting: read when the body or the document is made.
        tasks = [str(task) for task in app_settings.EVAL_TASKS]
        if tasks:
            # Escaped: DRF formats the message with the input.
            allowed = ", ".join(tasks).replace("{", "{{").replace("}", "}}")
            self.fields["task"] = serializers.ChoiceField(
                choices=tasks,
                help_text="The dotted path of the function that answers each item: one of the "
                "site's FEEDBACK_LOOP['EVAL_TASKS'].",
                error_messages={
                    "invalid_choice": f"{{input!r}} is not a task this site allows; the "
                    f"allowed tasks (FEEDBACK_LOOP['EVAL_TASKS']) are: {allowed}."
                },
            )
        else:
            self.fields["task"].help_text = (
                "The dotted path of a task in FEEDBACK_LOOP['EVAL_TASKS'], which is empty on "
                "this site: it starts no experiment through the API."
            )

    def validate_scorers(self, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))  # each once, in order
