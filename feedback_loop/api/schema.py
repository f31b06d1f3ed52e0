"""Serializers that describe the capture endpoint in the OpenAPI document.

The endpoint validates by hand (see ``feedback_loop.internal.capture``); these classes exist so
that the schema states the same limits, which are read from the settings.
"""

from __future__ import annotations

from typing import cast

from rest_framework import serializers

from feedback_loop.conf import MAX_ID_CHARS, app_settings
from feedback_loop.models import EventKind


class CaptureEventSerializer(serializers.Serializer):
    event_id = serializers.UUIDField(help_text="Client-made UUID; repeats are duplicates.")
    trace_id = serializers.CharField(min_length=1, max_length=MAX_ID_CHARS)
    token = serializers.CharField(
        required=False, help_text="Signed trace token; required unless the project opts out."
    )
    kind = serializers.ChoiceField(choices=EventKind.choices)
    value = serializers.FloatField(
        required=False,
        allow_null=True,
        help_text="thumbs: 1, -1 or 0 (retract); rating: 1 to RATING_SCALE; others optional.",
    )
    reasons = serializers.ListField(child=serializers.CharField(), required=False, allow_null=True)
    comment = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    text = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="edit: the user's version; copy: the copied text (when the page opts in).",
    )
    name = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    metadata = serializers.DictField(required=False, allow_null=True)
    session_id = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=MAX_ID_CHARS
    )
    user_id = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=MAX_ID_CHARS
    )
    timestamp = serializers.DateTimeField(required=False, allow_null=True)
    output = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, help_text="The answer as shown."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The limits are settings: read when the document is made, as capture reads them.
        reasons = cast(serializers.ListField, self.fields["reasons"])
        reasons.max_length = app_settings.MAX_REASONS
        cast(serializers.CharField, reasons.child).max_length = app_settings.MAX_REASON_CHARS
        for name, limit in [
            ("name", app_settings.MAX_NAME_CHARS),
            ("comment", app_settings.MAX_COMMENT_CHARS),
            ("text", app_settings.MAX_TEXT_CHARS),
            ("output", app_settings.MAX_TEXT_CHARS),
        ]:
            cast(serializers.CharField, self.fields[name]).max_length = limit


class CaptureRequestSerializer(serializers.Serializer):
    key = serializers.CharField(required=False, help_text="Public key (pk_...).")
    events = serializers.ListField(child=CaptureEventSerializer(), min_length=1)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        cast(serializers.ListField, self.fields["events"]).max_length = app_settings.MAX_BATCH_SIZE


class EventErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    field = serializers.CharField(allow_null=True)


class CaptureResultSerializer(serializers.Serializer):
    event_id = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=["accepted", "duplicate", "rejected"])
    error = EventErrorSerializer(required=False)


class CaptureResponseSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = serializers.IntegerField()
    results = CaptureResultSerializer(many=True)


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    # The contract names this member "fields"; DRF takes declared fields out of the class, so it
    # does not hide Serializer.fields, but the stubs cannot know that.
    fields = serializers.DictField(  # type: ignore[assignment]
        required=False, help_text="For invalid requests: the errors of each field."
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()


def errors(*statuses: int) -> dict:
    """OpenAPI responses for the error statuses a server API endpoint can answer."""
    from drf_spectacular.utils import OpenApiResponse

    meaning = {
        400: "The request or a filter is not valid, a query parameter is unknown, the body is "
        "nested too deeply, or (staff) traces of several projects have this id (name one with "
        "?project=).",
        401: "No credentials, or a public or unknown key.",
        403: "Signed in, but not staff.",
        404: "No such trace or dataset, or a page cursor the API did not give out.",
        409: "Conflicts with what is stored: a dataset of that name exists, or a trace named "
        "by regenerated_from does not.",
        503: "Storage unavailable; see Retry-After.",
    }
    return {
        status: OpenApiResponse(ErrorSerializer, description=meaning[status]) for status in statuses
    }


def document(**kwargs):
    """``extend_schema`` for a view method that works whatever the host's
    ``REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]`` is: drf-spectacular bases a method's schema on
    that setting unless the method already names a schema class."""
    from drf_spectacular.openapi import AutoSchema
    from drf_spectacular.utils import extend_schema

    def decorator(method):
        method.kwargs = {"schema": AutoSchema}
        return extend_schema(**kwargs)(method)

    return decorator
