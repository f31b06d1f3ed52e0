"""Online scoring: rules that score live answers with reference-free scorers, and the scores.

A rule's filters are a dataset rule's (the API's trace list filters), checked by the same rule
language (``datasets.rule_checks``). Its scorers are checked by ``scorer_checks``, which the
evaluation layer (``feedback_loop/evaluation/online.py``) fills when it is imported: the models
cannot import the scorers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils.translation import gettext_lazy as _

from feedback_loop.models.datasets import validate_rule
from feedback_loop.models.experiments import PASS
from feedback_loop.models.projects import Project
from feedback_loop.models.traces import Trace

# Each takes a scorer's name and raises ValidationError when online scoring cannot run it.
scorer_checks: list[Callable[[str], None]] = []


def validate_filters(value: Any) -> None:
    """A rule's filters, checked as a dataset rule's would be."""
    validate_rule({"filters": value})


def validate_scorers(value: Any) -> None:
    if not isinstance(value, list) or not value:
        raise ValidationError(
            _('A list of scorer names, such as ["refusal", "json_valid"].'), code="invalid"
        )
    for name in value:
        if not isinstance(name, str) or not name.strip():
            raise ValidationError(_("Each scorer is named by a string."), code="invalid")
        for check in scorer_checks:
            check(name)


class ScoringRule(models.Model):
    """Scores the new traces of a project that match its filters (a sample of them) with
    reference-free scorers, from a periodic task (``feedback_loop.apply_scoring_rules``)."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="scoring_rules", verbose_name=_("project")
    )
    name = models.CharField(_("name"), max_length=200)
    filters = models.JSONField(
        _("filters"),
        default=dict,
        blank=True,
        validators=[validate_filters],
        help_text=_(
            'The API\'s trace list filters, as in a dataset rule: {"model": "gpt-4o"}. '
            "Empty: every trace of the project."
        ),
    )
    sample_rate = models.FloatField(
        _("sample rate"),
        default=1.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text=_("The share of matching traces scored (the same traces on every run)."),
    )
    scorers = models.JSONField(
        _("scorers"),
        validators=[validate_scorers],
        help_text=_(
            'Scorers that need no expected output, e.g. ["refusal", "json_valid", '
            '"regex:^\\\\{", "judge"], or a dotted path to your own.'
        ),
    )
    active = models.BooleanField(_("active"), default=True)
    checked_at = models.DateTimeField(
        _("last applied"),
        null=True,
        blank=True,
        editable=False,
        help_text=_("Traces updated since then are looked at on the rule's next run."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("scoring rule")
        verbose_name_plural = _("scoring rules")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="fl_scoring_rule_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def rule(self) -> dict[str, Any]:
        """The rule as the rule language reads it (``filters.matching_traces``)."""
        return {"filters": self.filters or {}}


class TraceScore(models.Model):
    """One scorer's verdict on a trace's answer; a value of None means the scorer skipped it (or
    failed, with the reason). Stored once per (trace, scorer, scorer version): that is the
    cache, so a rule run again costs nothing for the traces already scored."""

    trace = models.ForeignKey(
        Trace, on_delete=models.CASCADE, related_name="scores", verbose_name=_("trace")
    )
    scorer = models.CharField(_("scorer"), max_length=200)
    scorer_version = models.CharField(_("scorer version"), max_length=64, default="1")
    value = models.FloatField(_("value"), null=True, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("automated score")
        verbose_name_plural = _("automated scores")
        ordering = ["trace", "scorer", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["trace", "scorer", "scorer_version"], name="fl_trace_score_unique"
            ),
        ]

    def __str__(self) -> str:
        value = "skipped" if self.value is None else f"{self.value:g}"
        return f"{self.scorer}: {value}"

    @property
    def failing(self) -> bool:
        return self.value is not None and self.value < 0.5


def newest_score(scorer: str) -> Subquery:
    """The value of a trace's newest score by ``scorer`` (to annotate ``Trace`` querysets)."""
    return Subquery(
        TraceScore.objects.filter(trace=OuterRef("pk"), scorer=scorer)
        .order_by("-created_at", "-pk")
        .values("value")[:1],
        output_field=models.FloatField(),
    )


def failing(traces: QuerySet[Trace], scorer: str) -> QuerySet[Trace]:
    """The traces whose newest score by ``scorer`` fails (is below PASS)."""
    return traces.annotate(_fl_newest_score=newest_score(scorer)).filter(_fl_newest_score__lt=PASS)
