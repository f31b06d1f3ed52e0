"""Alerts: rules over live feedback checked on Celery beat, and the episodes they open.

An episode opens when its rule's condition starts to hold, is posted once to the rule's webhook,
and closes when the condition no longer holds; a rule whose condition keeps holding fires once,
not on every check."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from feedback_loop.models.events import SIGNALS_BY_NAME
from feedback_loop.models.projects import Project

# What a rule measures: satisfaction, a signal's rate per answer, or an error mode's rate.
RATE_METRICS = ("satisfaction", "regenerate", "edit", "copy", "abandon")
ERROR_MODE_PREFIX = "error_mode:"


def validate_metric(value: str) -> None:
    if value in RATE_METRICS:
        return
    if value.startswith(ERROR_MODE_PREFIX) and value[len(ERROR_MODE_PREFIX) :].strip():
        return
    raise ValidationError(
        _("%(value)s is no metric: use one of %(metrics)s, or error_mode:<slug>."),
        params={"value": value, "metrics": ", ".join(RATE_METRICS)},
        code="invalid",
    )


def validate_webhook_url(value: str) -> None:
    """An http(s) URL with a host, read by urllib's parser (Django's URLValidator is a regular
    expression the house's linear-time audit cannot read)."""
    parts = urlsplit(value)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or any(c.isspace() or ord(c) < 32 for c in value)
    ):
        raise ValidationError(
            _("Enter an http:// or https:// URL, such as https://hooks.slack.com/services/..."),
            code="invalid",
        )


def higher_is_better(metric: str) -> bool:
    """Satisfaction and copies say an answer helped; the rest say it did not."""
    return metric == "satisfaction" or (
        metric in SIGNALS_BY_NAME and SIGNALS_BY_NAME[metric].implicit > 0
    )


class AlertKind(models.TextChoices):
    ABOVE = "above", _("the metric over the last answers is above the threshold")
    BELOW = "below", _("the metric over the last answers is below the threshold")
    RELEASE_WORSE = "release_worse", _("the newest release is worse than the one before it")


class AlertRule(models.Model):
    """E.g. "format error rate above 5% over the last 500 answers", or "satisfaction of the
    current release is worse than the previous one's at 95%"."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="alert_rules", verbose_name=_("project")
    )
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("when"), max_length=16, choices=AlertKind.choices)
    metric = models.CharField(
        _("metric"),
        max_length=100,
        validators=[validate_metric],
        help_text=_(
            "satisfaction, regenerate, edit, copy, abandon (each a share of answers), or "
            "error_mode:<slug> (the share of answers with that suggested or confirmed mode)."
        ),
    )
    threshold = models.FloatField(
        _("threshold"),
        null=True,
        blank=True,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text=_("A share from 0 to 1 (0.05 is 5%), for 'above' and 'below'."),
    )
    last_answers = models.PositiveIntegerField(
        _("over the last answers"),
        default=500,
        validators=[MinValueValidator(1), MaxValueValidator(100_000)],
    )
    confidence = models.FloatField(
        _("confidence"),
        default=0.95,
        validators=[MinValueValidator(0.5), MaxValueValidator(0.999)],
        help_text=_("For 'worse than the release before': how sure the difference must be."),
    )
    webhook_url = models.CharField(
        _("webhook"),
        blank=True,
        max_length=500,
        validators=[validate_webhook_url],
        help_text=_('Posted Slack-compatible JSON ({"text": ...}) when an episode opens.'),
    )
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("alert rule")
        verbose_name_plural = _("alert rules")
        ordering = ["project", "name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="fl_alertrule_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.kind in (AlertKind.ABOVE, AlertKind.BELOW) and self.threshold is None:
            raise ValidationError({"threshold": _("'Above' and 'below' need a threshold.")})


class Alert(models.Model):
    """One episode of a rule's condition holding: opened once, closed when it stops."""

    rule = models.ForeignKey(
        AlertRule, on_delete=models.CASCADE, related_name="alerts", verbose_name=_("rule")
    )
    opened_at = models.DateTimeField(_("opened"), auto_now_add=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    message = models.TextField(_("message"))
    value = models.FloatField(_("value"), null=True, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)
    notified_at = models.DateTimeField(_("posted"), null=True, blank=True)
    notify_error = models.TextField(_("posting failed"), blank=True)

    class Meta:
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
        ordering = ["-opened_at", "-pk"]
        constraints = [
            # At most one open episode per rule.
            models.UniqueConstraint(
                fields=["rule"],
                condition=models.Q(closed_at__isnull=True),
                name="fl_alert_one_open_episode",
            ),
        ]

    def __str__(self) -> str:
        return self.message
