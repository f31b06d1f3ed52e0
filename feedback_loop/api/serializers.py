from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import ProhibitNullCharactersValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from feedback_loop import conversations
from feedback_loop.conf import MAX_ID_CHARS, MAX_ROW_ID, app_settings
from feedback_loop.models import Dataset, FeedbackEvent, Trace

# What PostgreSQL cannot store: DRF's CharField refuses both (NUL, lone surrogates); these say
# what to send instead.
_NO_NUL = ProhibitNullCharactersValidator()
_NO_SURROGATE = ProhibitSurrogateCharactersValidator()
_NO_SURROGATE.message = "Holds an unpaired surrogate (U+{code_point:X}); send valid UTF-16 pairs."


class StrictCharField(serializers.CharField):
    """A string, and only a string: DRF's CharField also takes 42 and turns it into "42"."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.validators = [
            _NO_SURROGATE if isinstance(v, ProhibitSurrogateCharactersValidator) else v
            for v in self.validators
        ]

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


def check_json(value) -> None:
    """DRF's checks of a string on every string of a JSON value, keys too."""
    if isinstance(value, str):
        try:
            _NO_SURROGATE(value)
            _NO_NUL(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            check_json(key)
            check_json(item)
    elif isinstance(value, list):
        for item in value:
            check_json(item)


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {"$ref": "#/components/schemas/JSONValue"},
        "description": "Any JSON object. Characters a database cannot store (NUL, unpaired "
        "surrogates) are stored as U+FFFD.",
    }
)
class JSONObjectField(serializers.DictField):
    """The host's free-form metadata, made storable: NUL characters and unpaired surrogates
    (in keys too) become U+FFFD rather than failing the whole batch."""

    def to_internal_value(self, data):
        return storable(super().to_internal_value(data))


def storable(value):
    if isinstance(value, str):
        # UTF-16 round trip: valid pairs join into one character, lone halves become U+FFFD.
        text = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        return text.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [storable(item) for item in value]
    return value


MESSAGE_SCHEMA = {
    "type": "object",
    "description": "One message in OpenAI's chat format.",
    "properties": {
        "role": {"type": "string", "enum": ["system", "developer", "user", "assistant", "tool"]},
        "content": {
            "nullable": True,
            "oneOf": [
                {"type": "string"},
                {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "properties": {
                            "type": {
                                "type": "string",
                                "enum": ["text", "image_url", "input_audio", "file", "refusal"],
                            },
                            "text": {"type": "string"},
                        },
                        "required": ["type"],
                    },
                },
            ],
        },
        "name": {"type": "string", "maxLength": 256},
        "tool_call_id": {"type": "string", "maxLength": 256},
        "tool_calls": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["role"],
    "additionalProperties": False,
}


@extend_schema_field({"type": "array", "items": MESSAGE_SCHEMA})
class MessagesField(serializers.ListField):
    """A conversation in OpenAI's chat format, checked by feedback_loop.conversations."""

    child = serializers.JSONField()

    def to_internal_value(self, data):
        from feedback_loop.conversations import ConversationError, clean

        try:
            return clean(data)
        except ConversationError as exc:
            raise serializers.ValidationError(str(exc)) from None


class TraceInSerializer(serializers.Serializer):
    trace_id = StrictCharField(min_length=1, max_length=MAX_ID_CHARS, trim_whitespace=False)
    input = StrictCharField(required=False, allow_blank=True, trim_whitespace=False)
    output = StrictCharField(required=False, allow_blank=True, trim_whitespace=False)
    model = StrictCharField(required=False, allow_blank=True, max_length=200)
    session_id = StrictCharField(required=False, allow_blank=True, max_length=MAX_ID_CHARS)
    user_id = StrictCharField(required=False, allow_blank=True, max_length=MAX_ID_CHARS)
    metadata = JSONObjectField(required=False)
    release = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="The release that produced the answer (a git commit, a version); a new trace "
        "without one gets the DEFAULT_RELEASE setting.",
    )
    messages = MessagesField(
        required=False,
        help_text="The conversation before the answer (system prompt, earlier turns), ending "
        "with the user's turn the output replies to; input may then be left out.",
    )
    regenerated_from = StrictCharField(
        required=False,
        min_length=1,
        max_length=MAX_ID_CHARS,
        trim_whitespace=False,
        help_text="trace_id of the answer this one replaced (the user hit regenerate); it may be "
        "in the same request. A liked or copied regeneration becomes a preference pair.",
    )

    def validate_user_id(self, value):
        from feedback_loop.tokens import MISSING_USER_IDS

        if value in MISSING_USER_IDS:
            raise serializers.ValidationError(
                f"{value!r} is what a missing user id turns into (str(None) for an anonymous "
                "visitor); leave user_id out for anonymous users."
            )
        return value


class TraceBatchSerializer(serializers.Serializer):
    project = StrictCharField(
        required=False,
        min_length=1,
        trim_whitespace=False,  # "\t" names no project; it is not "no project"
        help_text="Public key of the project; only for staff sessions (a secret key implies it).",
    )
    traces = serializers.ListField(child=TraceInSerializer(), min_length=1)

    def validate_traces(self, value):
        limit = app_settings.MAX_TRACE_BATCH_SIZE
        if len(value) > limit:
            raise serializers.ValidationError(f"At most {limit} traces per request.")
        return value


class StatsQuerySerializer(serializers.Serializer):
    days = serializers.IntegerField(
        min_value=1,
        max_value=365,
        default=30,
        help_text="The window, in days back from now.",
        error_messages={
            "min_value": "From 1 to 365.",
            "max_value": "From 1 to 365.",
            "invalid": "A whole number of days.",
        },
    )


class TraceResultSerializer(serializers.Serializer):
    trace_id = serializers.CharField()
    token = serializers.CharField()
    created = serializers.BooleanField()


class TraceBatchResultSerializer(serializers.Serializer):
    results = TraceResultSerializer(many=True)


class TraceSerializer(serializers.ModelSerializer):
    trace_id = serializers.CharField(source="key", read_only=True, help_text="The host's id.")
    project = serializers.CharField(source="project.public_key", read_only=True)
    review_status = serializers.SerializerMethodField()
    error_modes = serializers.SerializerMethodField()
    messages = serializers.SerializerMethodField()
    regenerated_from = serializers.CharField(
        source="regenerated_from.key",
        allow_null=True,
        default=None,
        help_text="trace_id of the answer this one replaced, if the user regenerated.",
    )

    class Meta:
        model = Trace
        fields = [
            "trace_id",
            "project",
            "input",
            "messages",
            "output",
            "model",
            "release",
            "session_id",
            "user_id",
            "metadata",
            "registered",
            "regenerated_from",
            "sentiment",
            "score",
            "thumbs_up",
            "thumbs_down",
            "rating_avg",
            "rating_count",
            "comment_count",
            "edit_count",
            "regenerate_count",
            "copy_count",
            "abandon_count",
            "last_signal_at",
            "review_status",
            "error_modes",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field({"type": "array", "items": MESSAGE_SCHEMA})
    def get_messages(self, trace) -> list:
        # Read for the whole page at once (two queries), kept on the list serializer.
        holder = self.parent if isinstance(self.parent, serializers.ListSerializer) else self
        cache = getattr(holder, "_fl_messages", None)
        if cache is None:
            traces = list(holder.instance or []) if holder is not self else [trace]
            cache = conversations.of_traces(t.pk for t in traces)
            setattr(holder, "_fl_messages", cache)  # noqa: B010 (a cache, not a field)
        return cache.get(trace.pk, [])

    def get_review_status(self, trace) -> str | None:
        review = getattr(trace, "review", None)
        return review.status if review else None

    def get_error_modes(self, trace) -> dict[str, list[str]]:
        review = getattr(trace, "review", None)
        return {
            "suggested": [m.slug for m in trace.suggested_error_modes.all()],
            "confirmed": [m.slug for m in review.error_modes.all()] if review else [],
        }


class EventSerializer(serializers.ModelSerializer):
    trace_id = serializers.CharField(source="trace_key")
    project = serializers.CharField(source="project.public_key")
    is_current = serializers.BooleanField(
        help_text="For thumbs and ratings: whether this is the user's latest vote on the trace."
    )

    class Meta:
        model = FeedbackEvent
        fields = [
            "event_id",
            "trace_id",
            "project",
            "kind",
            "value",
            "reasons",
            "comment",
            "text",
            "name",
            "metadata",
            "session_id",
            "user_id",
            "output",
            "timestamp",
            "created_at",
            "processed_at",
            "is_current",
        ]
        read_only_fields = fields


class ForgetUserSerializer(serializers.Serializer):
    """What deleting one end user's data removes (or, for GET, would remove)."""

    user_id = serializers.CharField()
    deleted = serializers.BooleanField(help_text="False for the GET preview.")
    events = serializers.IntegerField(
        help_text="Their events (votes, comments, edits, copies) and the events on the traces "
        "deleted."
    )
    traces = serializers.IntegerField(
        help_text="Traces of their own conversations, and unregistered traces only their "
        "events were on, with their reviews."
    )
    pairs = serializers.IntegerField(
        help_text="Preference pairs made from their events, votes or traces, or holding their text."
    )
    dataset_items = serializers.IntegerField(help_text="Dataset items holding their text.")
    version_items = serializers.IntegerField(
        help_text="Items of frozen dataset versions holding their text; each version counts "
        "them in erased_items."
    )
    reviews_cleared = serializers.IntegerField(
        help_text=(
            "Reviews (and reviewers' verdicts) of other traces whose expected output was "
            "their edit; it is emptied."
        )
    )
    traces_cleared = serializers.IntegerField(
        help_text="Unregistered traces whose output came from their events; it is taken again "
        "from the other events on the trace."
    )
    answers_cleared = serializers.IntegerField(
        help_text="Dataset items (live or frozen) that kept their other texts but held what "
        "they were shown as the model's answer; that answer is emptied."
    )
    traces_updated = serializers.IntegerField(
        help_text="Other traces whose rollups are recomputed without their votes."
    )


class DatasetVersionSerializer(serializers.Serializer):
    number = serializers.IntegerField(read_only=True)
    note = StrictCharField(max_length=200, required=False, allow_blank=True)
    item_count = serializers.IntegerField(read_only=True, help_text="Items when it was frozen.")
    erased_items = serializers.IntegerField(
        read_only=True,
        help_text="Items removed since, because an end user's data was erased; the version "
        "exports item_count - erased_items items.",
    )
    created_at = serializers.DateTimeField(read_only=True)


class DatasetSerializer(serializers.ModelSerializer):
    project = StrictCharField(
        source="project.public_key",
        required=False,
        min_length=1,
        trim_whitespace=False,
        help_text="Public key of the project; only for staff sessions (a secret key implies it).",
    )
    name = StrictCharField(min_length=1, max_length=200)
    description = StrictCharField(required=False, allow_blank=True)
    item_count = serializers.IntegerField(read_only=True, source="_items", default=0)
    versions = DatasetVersionSerializer(many=True, read_only=True)

    class Meta:
        model = Dataset
        fields = [
            "id",
            "project",
            "name",
            "kind",
            "description",
            "rule",
            "item_count",
            "versions",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]

    def validate_rule(self, value):
        from feedback_loop.filters import RuleError, parse_rule

        if value is not None:
            check_json(value)
            try:
                parse_rule(value)
            except RuleError as exc:
                raise serializers.ValidationError(str(exc)) from None
        return value


class AddTracesSerializer(serializers.Serializer):
    filters = serializers.DictField(
        required=False, help_text="Trace list filters, as in GET traces; {} takes every trace."
    )
    trace_ids = serializers.ListField(
        child=StrictCharField(max_length=MAX_ID_CHARS), required=False, max_length=10_000
    )

    def validate(self, attrs):
        if "filters" not in attrs and "trace_ids" not in attrs:
            raise serializers.ValidationError("Give filters, trace_ids, or both.")
        if "filters" in attrs:
            from feedback_loop.filters import RuleError, parse_rule

            check_json(attrs["filters"])
            try:
                parse_rule({"filters": attrs["filters"]})
            except RuleError as exc:
                raise serializers.ValidationError({"filters": str(exc)}) from None
        return attrs


class ExportQuerySerializer(serializers.Serializer):
    format = serializers.ChoiceField(
        choices=["jsonl", "dpo", "openai-preference", "openai-chat", "inspect", "promptfoo", "csv"]
    )
    version = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ROW_ID, help_text="A frozen version."
    )
    dpo_form = serializers.ChoiceField(
        choices=["conversational", "text"],
        default="conversational",
        help_text="dpo: TRL's conversational form (messages) or its standard text form.",
    )
    split = serializers.ChoiceField(
        choices=["train", "test"],
        required=False,
        help_text="One side of a deterministic train/test split (test_share, split_by).",
    )
    test_share = serializers.FloatField(default=0.1, min_value=0.001, max_value=0.999)
    split_by = serializers.ChoiceField(choices=["user", "session", "time"], default="user")
    keep_incomplete = serializers.ChoiceField(
        choices=["true", "false"],
        required=False,
        help_text="jsonl, csv: keep items without an expected output (pairs without a prompt); "
        "csv keeps them unless false.",
    )
    drop_long = serializers.ChoiceField(
        choices=["true", "false"],
        default="false",
        help_text="Leave out rows over the length budget instead of keeping and reporting them.",
    )
    max_length = serializers.IntegerField(required=False, min_value=1)
    promptfoo_assert = serializers.ChoiceField(
        choices=["equals", "contains", "icontains", "levenshtein", "similar", "llm-rubric"],
        default="equals",
    )
    manifest = serializers.ChoiceField(
        choices=["true", "false"],
        default="false",
        help_text="true: the ids of the export's rows, in order, instead of the rows.",
    )

    @staticmethod
    def options(data):
        from feedback_loop.exports import ExportOptions

        keep = data.get("keep_incomplete")
        return ExportOptions(
            dpo_form=data["dpo_form"],
            split=data.get("split"),
            test_share=data["test_share"],
            split_by=data["split_by"],
            keep_incomplete=None if keep is None else keep == "true",
            drop_long=data["drop_long"] == "true",
            max_length=data.get("max_length"),
            promptfoo_assert=data["promptfoo_assert"],
        )
