"""The trace and event filters: the server API's list filters, and the rule language of datasets
(a rule's filters are the trace list's)."""

from __future__ import annotations

import re
from typing import Any

import django_filters as filters
from django import forms
from django.db.models import Exists, OuterRef, Q, QuerySet, TextField
from django.db.models.functions import Cast

from feedback_loop.models import (
    EventKind,
    FeedbackEvent,
    Review,
    ReviewStatus,
    Sentiment,
    Trace,
    counters_of_kind,
)
from feedback_loop.models.scoring import failing
from feedback_loop.where import WhereField


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


_HAS_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}")


class StrictDateTimeField(forms.Field):
    """An ISO 8601 date and time, as the OpenAPI document says (``date-time``)."""

    def to_python(self, value):
        from datetime import UTC

        from django.utils.dateparse import parse_datetime

        if value is None:
            return None
        try:
            # A date and a time: Python's fromisoformat (parse_datetime's fallback) would read
            # a bare date as midnight, in whatever zone the reader assumes.
            parsed = parse_datetime(str(value)) if _HAS_TIME.match(str(value)) else None
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


def _reason_q(slugs, field="reasons"):
    # Portable "JSON list contains": SQLite has no JSON containment lookup.
    q = Q()
    for slug in slugs:
        q |= Q(**{f"_{field}_text__contains": f'"{slug}"'})
    return q


class WhereFilter(filters.CharFilter):
    field_class = WhereField


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
    release = filters.CharFilter(help_text="The release that produced the answer.")
    session_id = filters.CharFilter()
    user_id = filters.CharFilter()
    has_edit = BoolFilter(method="filter_has_edit")
    reviewed = BoolFilter(method="filter_reviewed")
    failing_score = filters.CharFilter(
        method="filter_failing_score",
        help_text="A scorer of the online scoring rules whose newest score of the trace fails "
        "(is below 0.5), e.g. refusal.",
    )
    where = WhereFilter(
        method="filter_where",
        help_text="An expression over the trace's fields, metadata and newest scores, e.g. "
        "scores.correctness < 0.5 AND comment IS NOT NULL (see feedback_loop/where.py).",
    )

    class Meta:
        model = Trace
        fields: list[str] = []

    def filter_kind(self, queryset, name, value):
        q = Q()
        for kind in value:
            for counter in counters_of_kind(kind):
                q |= Q(**{f"{counter}__gt": 0})
            # Rollups come from the pipeline; unprocessed events count too.
            q |= Q(Exists(FeedbackEvent.objects.for_trace_ref(kind=kind)))
        return queryset.filter(q)

    def filter_error_mode(self, queryset, name, value):
        return queryset.filter(
            Q(suggested_error_modes__slug=value) | Q(review__error_modes__slug=value)
        ).distinct()

    def filter_has_edit(self, queryset, name, value):
        has = Q(edit_count__gt=0) | Exists(FeedbackEvent.objects.for_trace_ref(kind=EventKind.EDIT))
        return queryset.filter(has if value else ~has)

    def filter_reviewed(self, queryset, name, value):
        done = Exists(Review.objects.filter(trace=OuterRef("pk"), status=ReviewStatus.REVIEWED))
        return queryset.filter(done if value else ~done)

    def filter_failing_score(self, queryset, name, value):
        return failing(queryset, value)

    def filter_where(self, queryset, name, value):
        return value.apply(queryset)


class EventFilter(filters.FilterSet):
    kind = filters.MultipleChoiceFilter(choices=EventKind.choices)
    trace_id = filters.CharFilter(field_name="trace_key")
    sentiment = filters.ChoiceFilter(
        choices=[(Sentiment.POSITIVE, "positive"), (Sentiment.NEGATIVE, "negative")],
        method="filter_sentiment",
        help_text="positive: a thumbs up or a rating above the middle of the scale (4 or 5 of "
        "5); negative: a thumbs down or a rating below it.",
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
        fields: list[str] = []

    def filter_sentiment(self, queryset, name, value: str):
        return queryset.votes(value)

    def filter_error_mode(self, queryset, name, value):
        return queryset.annotate(_reasons_text=Cast("reasons", TextField())).filter(
            _reason_q([value])
        )

    def filter_model(self, queryset, name, value):
        return queryset.filter(Exists(Trace.objects.for_event_ref(model=value)))

    def filter_has_edit(self, queryset, name, value):
        edits = Exists(FeedbackEvent.objects.beside_ref(kind=EventKind.EDIT))
        return queryset.filter(edits if value else ~edits)

    def filter_reviewed(self, queryset, name, value):
        done = Exists(Trace.objects.for_event_ref(review__status=ReviewStatus.REVIEWED))
        return queryset.filter(done if value else ~done)


# -- the rule language of datasets: {"filters": {...the trace list filters...}, "sample_rate": r}


class RuleError(ValueError):
    pass


def parse_rule(rule: Any) -> tuple[dict[str, Any], float]:
    """``{"filters": {...}, "sample_rate": 0.2}`` -> (filters, rate); raises RuleError."""
    if not isinstance(rule, dict):
        raise RuleError('A rule is an object such as {"filters": {"sentiment": "negative"}}.')
    unknown = set(rule) - {"filters", "sample_rate"}
    if unknown:
        raise RuleError(f"Unknown rule keys: {', '.join(sorted(unknown))}.")
    filters = rule.get("filters", {})
    if not isinstance(filters, dict):
        raise RuleError("filters must be an object of trace list filters.")
    rate = rule.get("sample_rate", 1)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate <= 1:
        raise RuleError("sample_rate must be a number above 0 and at most 1.")
    unknown = set(filters) - set(TraceFilter.base_filters)
    if unknown:
        raise RuleError(
            f"Unknown filters: {', '.join(sorted(unknown))}. "
            f"Known: {', '.join(sorted(TraceFilter.base_filters))}."
        )
    form = TraceFilter(data=_as_query(filters), queryset=Trace.objects.none()).form
    if not form.is_valid():
        problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
        raise RuleError(f"Invalid filters: {problems}")
    return filters, float(rate)


def _as_query(filters: dict[str, Any]):
    from django.http import QueryDict

    data = QueryDict(mutable=True)
    for name, value in filters.items():
        values = value if isinstance(value, list) else [value]
        data.setlist(name, [str(v).lower() if isinstance(v, bool) else str(v) for v in values])
    return data


def matching_traces(dataset) -> QuerySet[Trace]:
    """The traces of the dataset's project that its rule's filters match."""
    filters, _rate = parse_rule(dataset.rule)
    base = Trace.objects.filter(project_id=dataset.project_id)
    return TraceFilter(data=_as_query(filters), queryset=base).qs


def check_rule(value: Any) -> None:
    """A dataset rule's field validator (see ``models.datasets.rule_checks``)."""
    from django.core.exceptions import ValidationError

    try:
        parse_rule(value)
    except RuleError as exc:
        raise ValidationError(str(exc), code="invalid_rule") from None
