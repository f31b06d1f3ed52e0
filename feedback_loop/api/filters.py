"""List filters shared by the API, dataset rules and (later) the admin."""

from __future__ import annotations

import django_filters as filters
from django import forms
from django.db.models import Exists, OuterRef, Q, TextField
from django.db.models.functions import Cast

from feedback_loop.models import (
    EventKind,
    FeedbackEvent,
    Review,
    ReviewStatus,
    Sentiment,
    Trace,
)

# Trace counters that tell whether a trace has a signal of a kind.
_KIND_COUNTERS = {
    EventKind.THUMBS: ("thumbs_up", "thumbs_down"),
    EventKind.RATING: ("rating_count",),
    EventKind.COMMENT: ("comment_count",),
    EventKind.EDIT: ("edit_count",),
    EventKind.REGENERATE: ("regenerate_count",),
    EventKind.COPY: ("copy_count",),
    EventKind.ABANDON: ("abandon_count",),
}


class StrictBooleanField(forms.Field):
    """true/false (or 1/0); anything else is an error, not a silently ignored filter."""

    def to_python(self, value):
        if value is None:
            return None
        text = str(value).lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        # The value goes in params: django-filter formats every message with "%", so a value
        # holding "%" quoted in the message itself was a TypeError (a 500).
        raise forms.ValidationError("Use true or false, not %(value)r.", params={"value": value})


class BoolFilter(filters.BooleanFilter):
    field_class = StrictBooleanField


class StrictDateTimeField(forms.Field):
    """An ISO 8601 date and time, as the OpenAPI document says (``date-time``)."""

    def to_python(self, value):
        from datetime import UTC

        from django.utils.dateparse import parse_datetime

        if value is None:
            return None
        try:
            parsed = parse_datetime(str(value))
        except ValueError:
            parsed = None
        if parsed is None:
            raise forms.ValidationError(
                "Use a date and time such as 2026-11-24T10:00:00Z, not %(value)r.",
                params={"value": value},
            )
        try:
            # In UTC: PostgreSQL takes offsets up to 15:59 only, ISO 8601 up to 23:59.
            return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except OverflowError:
            raise forms.ValidationError(
                "%(value)r is out of range.", params={"value": value}
            ) from None


class DateTimeFilter(filters.IsoDateTimeFilter):
    field_class = StrictDateTimeField


class FloatFilter(filters.NumberFilter):
    """A number filter over any finite float (NumberFilter's decimals stop at 1e50)."""

    field_class = forms.FloatField

    def get_max_validator(self):
        return None  # any finite float; the form field refuses infinities and NaN


def _events_of_trace(**lookups):
    return FeedbackEvent.objects.filter(
        project_id=OuterRef("project_id"), trace_key=OuterRef("trace_id"), **lookups
    )


def _trace_of_event(**lookups):
    return Trace.objects.filter(
        project_id=OuterRef("project_id"), trace_id=OuterRef("trace_key"), **lookups
    )


def _reason_q(slugs, field="reasons"):
    # Portable "JSON list contains": SQLite has no JSON containment lookup.
    q = Q()
    for slug in slugs:
        q |= Q(**{f"_{field}_text__contains": f'"{slug}"'})
    return q


class TraceFilter(filters.FilterSet):
    kind = filters.MultipleChoiceFilter(
        choices=EventKind.choices, method="filter_kind", help_text="Has a signal of this kind."
    )
    sentiment = filters.MultipleChoiceFilter(choices=Sentiment.choices)
    score_min = FloatFilter(field_name="score", lookup_expr="gte")
    score_max = FloatFilter(field_name="score", lookup_expr="lte")
    created_after = DateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = DateTimeFilter(field_name="created_at", lookup_expr="lt")
    signal_after = DateTimeFilter(field_name="last_signal_at", lookup_expr="gte")
    signal_before = DateTimeFilter(field_name="last_signal_at", lookup_expr="lt")
    error_mode = filters.CharFilter(
        method="filter_error_mode", help_text="Slug of a suggested or confirmed error mode."
    )
    model = filters.CharFilter()
    session_id = filters.CharFilter()
    user_id = filters.CharFilter()
    has_edit = BoolFilter(method="filter_has_edit")
    reviewed = BoolFilter(method="filter_reviewed")

    class Meta:
        model = Trace
        fields = []

    def filter_kind(self, queryset, name, value):
        q = Q()
        for kind in value:
            if kind in _KIND_COUNTERS:
                for counter in _KIND_COUNTERS[kind]:
                    q |= Q(**{f"{counter}__gt": 0})
            # Rollups come from the pipeline; unprocessed events count too.
            q |= Exists(_events_of_trace(kind=kind))
        return queryset.filter(q)

    def filter_error_mode(self, queryset, name, value):
        return queryset.filter(
            Q(suggested_error_modes__slug=value) | Q(review__error_modes__slug=value)
        ).distinct()

    def filter_has_edit(self, queryset, name, value):
        has = Q(edit_count__gt=0) | Exists(_events_of_trace(kind=EventKind.EDIT))
        return queryset.filter(has if value else ~has)

    def filter_reviewed(self, queryset, name, value):
        done = Exists(Review.objects.filter(trace=OuterRef("pk"), status=ReviewStatus.REVIEWED))
        return queryset.filter(done if value else ~done)


class EventFilter(filters.FilterSet):
    kind = filters.MultipleChoiceFilter(choices=EventKind.choices)
    trace_id = filters.CharFilter(field_name="trace_key")
    sentiment = filters.ChoiceFilter(
        choices=[(Sentiment.POSITIVE, "positive"), (Sentiment.NEGATIVE, "negative")],
        method="filter_sentiment",
        help_text="positive: thumbs up or rating >= 4; negative: thumbs down or rating <= 2.",
    )
    score_min = FloatFilter(field_name="value", lookup_expr="gte")
    score_max = FloatFilter(field_name="value", lookup_expr="lte")
    created_after = DateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = DateTimeFilter(field_name="created_at", lookup_expr="lt")
    error_mode = filters.CharFilter(method="filter_error_mode", help_text="A reason the user gave.")
    model = filters.CharFilter(method="filter_model", help_text="Model of the event's trace.")
    session_id = filters.CharFilter()
    user_id = filters.CharFilter()
    has_edit = BoolFilter(method="filter_has_edit", help_text="Its trace has an edit.")
    reviewed = BoolFilter(method="filter_reviewed", help_text="Its trace is reviewed.")
    current = BoolFilter(
        field_name="is_current", help_text="Only each user's latest vote (or only older ones)."
    )

    class Meta:
        model = FeedbackEvent
        fields = []

    def filter_sentiment(self, queryset, name, value: str):
        if value == Sentiment.POSITIVE:
            q = Q(kind=EventKind.THUMBS, value__gt=0) | Q(kind=EventKind.RATING, value__gte=4)
        else:
            q = Q(kind=EventKind.THUMBS, value__lt=0) | Q(kind=EventKind.RATING, value__lte=2)
        return queryset.filter(q)

    def filter_error_mode(self, queryset, name, value):
        return queryset.annotate(_reasons_text=Cast("reasons", TextField())).filter(
            _reason_q([value])
        )

    def filter_model(self, queryset, name, value):
        return queryset.filter(Exists(_trace_of_event(model=value)))

    def filter_has_edit(self, queryset, name, value):
        edits = FeedbackEvent.objects.filter(
            project_id=OuterRef("project_id"), trace_key=OuterRef("trace_key"), kind="edit"
        )
        return queryset.filter(Exists(edits) if value else ~Exists(edits))

    def filter_reviewed(self, queryset, name, value):
        done = Exists(_trace_of_event(review__status=ReviewStatus.REVIEWED))
        return queryset.filter(done if value else ~done)
