"""The review queue's filters. The trace list opens on what needs a curator: negative (or
mixed) traces not reviewed yet; each filter has an "All" choice to see the rest."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext_lazy as _

from feedback_loop.evaluation import online
from feedback_loop.models import (
    NEEDS_REVIEW,
    SIGNALS,
    SIGNALS_BY_NAME,
    ErrorMode,
    Review,
    ReviewStatus,
    ScoringRule,
    Sentiment,
)
from feedback_loop.models.scoring import failing


class DefaultListFilter(admin.SimpleListFilter):
    """A list filter with a default choice, applied when the URL names none."""

    default: str = ""

    def value(self):
        value = super().value()
        return self.default if value is None else value

    def choices(self, changelist):
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == str(lookup),
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }


class SentimentFilter(DefaultListFilter):
    title = _("sentiment")
    parameter_name = "sentiment"
    default = "review"

    def lookups(self, request, model_admin):
        return [
            ("review", _("Negative or mixed")),
            *((value, label.capitalize()) for value, label in Sentiment.choices),
            ("all", _("All")),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "review":
            return queryset.filter(sentiment__in=NEEDS_REVIEW)
        if value in Sentiment.values:
            return queryset.filter(sentiment=value)
        return queryset


class ReviewedFilter(DefaultListFilter):
    title = _("review")
    parameter_name = "review"
    default = "todo"

    def lookups(self, request, model_admin):
        return [
            ("todo", _("Not reviewed")),
            (ReviewStatus.REVIEWED, _("Reviewed")),
            (ReviewStatus.DISMISSED, _("Dismissed")),
            ("all", _("All")),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        done = Review.objects.filter(trace=OuterRef("pk"))
        if value == "todo":
            return queryset.exclude(Exists(done.exclude(status=ReviewStatus.PENDING)))
        if value in (ReviewStatus.REVIEWED, ReviewStatus.DISMISSED):
            return queryset.filter(Exists(done.filter(status=value)))
        return queryset


class SignalFilter(admin.SimpleListFilter):
    title = _("kind of signal")
    parameter_name = "signal"

    def lookups(self, request, model_admin):
        return [(signal.name, signal.label) for signal in SIGNALS]

    def queryset(self, request, queryset):
        signal = SIGNALS_BY_NAME.get(self.value() or "")
        if signal is not None:
            return queryset.filter(**{f"{signal.counter}__gt": 0})
        return queryset


class ErrorModeFilter(admin.SimpleListFilter):
    title = _("error mode")
    parameter_name = "mode"

    def lookups(self, request, model_admin):
        from feedback_loop.internal import access

        modes = access.scope(ErrorMode.objects.all(), request.user, shared=True)
        return [(mode.slug, mode.name) for mode in modes.order_by("-is_builtin", "name")]

    def queryset(self, request, queryset):
        slug = self.value()
        if not slug:
            return queryset
        return queryset.filter(
            Q(Exists(ErrorMode.objects.filter(suggested_for=OuterRef("pk"), slug=slug)))
            | Q(Exists(ErrorMode.objects.filter(reviews__trace=OuterRef("pk"), slug=slug)))
        )


class LabelFilter(admin.SimpleListFilter):
    title = _("error mode labels")
    parameter_name = "labels"

    def lookups(self, request, model_admin):
        return [
            ("suggested", _("Suggested, not confirmed")),
            ("confirmed", _("Confirmed by a reviewer")),
            ("none", _("None")),
        ]

    def queryset(self, request, queryset):
        suggested = Exists(ErrorMode.objects.filter(suggested_for=OuterRef("pk")))
        confirmed = Exists(ErrorMode.objects.filter(reviews__trace=OuterRef("pk")))
        value = self.value()
        if value == "suggested":
            return queryset.filter(suggested).exclude(confirmed)
        if value == "confirmed":
            return queryset.filter(confirmed)
        if value == "none":
            return queryset.exclude(suggested).exclude(confirmed)
        return queryset


class WhereFilter(admin.SimpleListFilter):
    """``?where=`` an expression of feedback_loop.where (``scores.correctness < 0.5 AND comment
    IS NOT NULL``), typed in a box; an invalid one lists nothing, its error above the list."""

    title = _("expression")
    parameter_name = "where"
    template = "admin/feedback_loop/trace/where_filter.html"

    def lookups(self, request, model_admin):
        return [("", _("All"))]  # one choice, so the box always shows

    def choices(self, changelist):
        # The box's form keeps the other filters, the search and the order (not the page).
        kept = {k: v for k, v in changelist.filter_params.items() if k != self.parameter_name}
        yield {
            "selected": not self.value(),
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": _("All"),
            "value": self.value() or "",
            "kept": [(k, value) for k, values in kept.items() for value in values],
        }

    def queryset(self, request, queryset):
        from django.contrib import messages
        from django.utils.html import format_html

        from feedback_loop import where

        expression = self.value() or ""
        if not expression.strip():
            return queryset
        try:
            return where.apply(queryset, expression)
        except where.WhereError as exc:
            messages.error(request, format_html('<pre class="fl-where-error">{}</pre>', exc))
            return queryset.none()


class ModelFilter(admin.SimpleListFilter):
    """The models traces came from; the list is kept in the cache for a few minutes, as a
    DISTINCT over every trace is the slowest query of the queue page on a large database."""

    title = _("model")
    parameter_name = "model"

    def lookups(self, request, model_admin):
        from django.core.cache import cache

        from feedback_loop.internal import access
        from feedback_loop.internal.caches import remember, trace_models_key
        from feedback_loop.models import Trace

        key = trace_models_key(access.scope_key(request.user))
        models = cache.get(key)
        if models is None:
            traces = access.scope(Trace.objects.all(), request.user)
            models = list(traces.order_by("model").values_list("model", flat=True).distinct()[:100])
            remember(key, models, 300)
        return [(m, m or _("(none)")) for m in models]

    def queryset(self, request, queryset):
        if self.value() is not None:
            return queryset.filter(model=self.value())
        return queryset


class FailingScoreFilter(admin.SimpleListFilter):
    """Traces whose newest automated score by a scorer (one the user's scoring rules name)
    fails (below 0.5)."""

    title = _("automated score")
    parameter_name = "failing"

    def lookups(self, request, model_admin):
        from feedback_loop.internal import access

        rules = access.scope(ScoringRule.objects.all(), request.user, "project")
        return [
            (name, _("failing %(scorer)s") % {"scorer": name})
            for name in online.scorer_names(rules)
        ]

    def queryset(self, request, queryset):
        scorer = self.value()
        if scorer:
            return failing(queryset, scorer)
        return queryset


class AgreementFilter(admin.SimpleListFilter):
    """Traces whose user's verdict and reviewer's verdict differ (or agree), as the dashboard's
    agreement counts them (internal/agreement.py). Finished reviews only: a choice also shows
    every sentiment and every review status, which the queue's defaults would hide."""

    title = _("users vs reviewers")
    parameter_name = "agreement"

    def lookups(self, request, model_admin):
        return [
            ("disagree", _("User and reviewer disagree")),
            ("agree", _("User and reviewer agree")),
        ]

    def choices(self, changelist):
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": _("All"),
        }
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string(
                    {self.parameter_name: lookup, "sentiment": "all", "review": "all"}
                ),
                "display": title,
            }

    def queryset(self, request, queryset):
        from feedback_loop.internal import agreement

        if self.value() == "disagree":
            return queryset.filter(agreement.disagreement_q())
        if self.value() == "agree":
            return queryset.filter(agreement.agreement_q())
        return queryset


class ReleaseFilter(admin.SimpleListFilter):
    """The releases that produced the answers, newest first (by their newest trace); kept in the
    cache for a few minutes, as ModelFilter's list is."""

    title = _("release")
    parameter_name = "release"

    def lookups(self, request, model_admin):
        from django.core.cache import cache
        from django.db.models import Max

        from feedback_loop.internal import access
        from feedback_loop.internal.caches import remember
        from feedback_loop.models import Trace

        key = f"feedback_loop:trace-releases:{access.scope_key(request.user)}"
        releases = cache.get(key)
        if releases is None:
            traces = access.scope(Trace.objects.exclude(release=""), request.user)
            newest = traces.values("release").annotate(newest=Max("created_at"))
            releases = list(newest.order_by("-newest").values_list("release", flat=True)[:50])
            remember(key, releases, 300)
        return [(release, release) for release in releases]

    def queryset(self, request, queryset):
        if self.value() is not None:
            return queryset.filter(release=self.value())
        return queryset


class ThemeFilter(admin.SimpleListFilter):
    """The traces of one theme of the negative comments (internal/themes.py), as the dashboard
    links it: ``?theme=<id>``, while its result is in the cache. Its choices are the themes of
    all the user's projects over 30 days, and the one asked for."""

    title = _("comment theme")
    parameter_name = "theme"

    def lookups(self, request, model_admin):
        from feedback_loop.internal import access, themes
        from feedback_loop.internal.deferred import scope_of

        result = themes.cached(scope_of(access.project_ids_for(request.user)), 30) or {}
        choices = [(theme["id"], theme["label"]) for theme in result.get("themes", ())]
        asked = self.value()
        if asked and asked not in dict(choices):
            found = themes.theme_members(asked)
            choices.append((asked, found["label"] if found else _("(a theme no longer kept)")))
        return choices

    def queryset(self, request, queryset):
        from feedback_loop.internal import themes

        asked = self.value()
        if not asked:
            return queryset
        found = themes.theme_members(asked)
        return queryset.filter(pk__in=found["traces"]) if found else queryset.none()
