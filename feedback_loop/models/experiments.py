"""Experiments: a frozen dataset version run through a task (the next prompt or model), scored.

An experiment's results are append-only: one row per item, written once; a run that stops part
way is resumed by running only the items that have no row yet.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.fields.json import KeyTransform
from django.utils.translation import gettext_lazy as _

from feedback_loop.models.datasets import Dataset, DatasetVersion, DatasetVersionItem
from feedback_loop.models.projects import Project

# A score at or above this passes: what "passed", "failures" and agreement with users go by.
PASS = 0.5


class ExperimentStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    RUNNING = "running", _("running")
    FINISHED = "finished", _("finished")
    FAILED = "failed", _("failed")


class Experiment(models.Model):
    """One run of a dataset version through a task, scored by named scorers."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="experiments", verbose_name=_("project")
    )
    dataset = models.ForeignKey(
        Dataset, on_delete=models.CASCADE, related_name="experiments", verbose_name=_("dataset")
    )
    version = models.ForeignKey(
        DatasetVersion,
        on_delete=models.CASCADE,
        related_name="experiments",
        verbose_name=_("dataset version"),
        help_text=_("The frozen items it ran on."),
    )
    name = models.CharField(_("name"), max_length=200)
    task = models.CharField(
        _("task"), max_length=300, help_text=_("The dotted path of the function that answered.")
    )
    scorers = models.JSONField(_("scorers"), default=list, blank=True)
    metadata = models.JSONField(
        _("metadata"),
        default=dict,
        blank=True,
        help_text=_("Free: the model, the prompt's version, the git commit..."),
    )
    baseline = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("baseline"),
        help_text=_("The experiment this one is compared with."),
    )
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=ExperimentStatus.choices,
        default=ExperimentStatus.PENDING,
    )
    summary = models.JSONField(
        _("summary"),
        default=dict,
        blank=True,
        help_text=_("Per scorer: the mean score, how many items it scored and skipped."),
    )
    item_count = models.PositiveIntegerField(_("items"), default=0)
    error_count = models.PositiveIntegerField(_("errors"), default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("started by"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("experiment")
        verbose_name_plural = _("experiments")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["dataset", "-created_at"], name="fl_experiment_dataset")]

    def __str__(self) -> str:
        return self.name


class ExperimentResultQuerySet(models.QuerySet):
    def failed(self, scorers: list[str]) -> ExperimentResultQuerySet:
        """The results with an error, or a score below PASS from one of ``scorers`` (a skipped
        score, null, is no failure), filtered in the database."""
        values = {
            f"_fl_score_{i}": KeyTransform("value", KeyTransform(name, "scores"))
            for i, name in enumerate(scorers)
        }
        condition = ~Q(error="")
        for alias in values:
            # Compared as JSON: SQLite reads a null as NULL (no match); PostgreSQL orders a
            # jsonb null below every number, hence the >= 0 as well.
            condition |= Q(**{f"{alias}__lt": PASS, f"{alias}__gte": 0})
        return self.alias(**values).filter(condition)


class ExperimentResult(models.Model):
    """What the task answered for one item, and each scorer's score with its reason."""

    experiment = models.ForeignKey(
        Experiment, on_delete=models.CASCADE, related_name="results", verbose_name=_("experiment")
    )
    item_id = models.CharField(
        _("item id"),
        max_length=32,
        help_text=_("The dataset item's id, the same in every version: what comparisons go by."),
    )
    # Erasing an end user's data deletes their frozen items, and with them what a task answered
    # to those items (an answer may repeat what the user wrote).
    version_item = models.ForeignKey(
        DatasetVersionItem,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("item"),
    )
    output = models.TextField(_("output"), blank=True)
    scores = models.JSONField(
        _("scores"),
        default=dict,
        blank=True,
        help_text=_('{"scorer": {"value": 0..1 or null when skipped, "reason": "..."}}'),
    )
    error = models.TextField(_("error"), blank=True)
    latency_ms = models.FloatField(_("latency (ms)"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    objects = ExperimentResultQuerySet.as_manager()

    class Meta:
        verbose_name = _("experiment result")
        verbose_name_plural = _("experiment results")
        ordering = ["experiment", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["experiment", "item_id"], name="fl_experiment_result_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.experiment} #{self.item_id}"

    @property
    def failed(self) -> bool:
        """The same test as ``ExperimentResult.objects.failed()``, on this result."""
        values = (
            score.get("value") for score in (self.scores or {}).values() if isinstance(score, dict)
        )
        return bool(self.error) or any(
            isinstance(v, int | float) and not isinstance(v, bool) and v < PASS for v in values
        )
