"""Datasets built from traces, their items, and frozen versions."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from feedback_loop.conf import MAX_ID_CHARS
from feedback_loop.models.pairs import PreferencePair
from feedback_loop.models.projects import Project
from feedback_loop.models.traces import Trace

# The rule language lives above the models (feedback_loop/filters.py, which reads them). It adds
# its check here when the app is ready, so that full_clean() and every ModelForm validate a
# dataset's rule without the models importing it.
rule_checks: list[Callable[[Any], None]] = []


def validate_rule(value: Any) -> None:
    if value is not None:
        for check in rule_checks:
            check(value)


class DatasetKind(models.TextChoices):
    REGRESSION = "regression", _("regression set")
    GOLDEN = "golden", _("golden set")
    PREFERENCE = "preference", _("preference pairs")


class Dataset(models.Model):
    """A curated set built from traces: (input, expected output) items or preference pairs."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="datasets", verbose_name=_("project")
    )
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(
        _("kind"), max_length=16, choices=DatasetKind.choices, default=DatasetKind.REGRESSION
    )
    description = models.TextField(_("description"), blank=True)
    rule = models.JSONField(
        _("rule"),
        validators=[validate_rule],
        null=True,
        blank=True,
        help_text=_(
            'Traces matching it are added by a periodic task, e.g. {"filters": {"sentiment": '
            '"negative", "model": "gpt-4o"}, "sample_rate": 0.2}. The filters are those of the '
            "API's trace list."
        ),
    )
    rule_checked_at = models.DateTimeField(
        _("rule last applied"),
        null=True,
        blank=True,
        editable=False,
        help_text=_("Traces updated since then are matched against the rule on its next run."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("dataset")
        verbose_name_plural = _("datasets")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="fl_dataset_unique_name"),
        ]
        permissions = [("export_dataset", _("Can export dataset"))]

    def __str__(self) -> str:
        return self.name


def _new_dedupe_key() -> str:
    return uuid.uuid4().hex


class DatasetItem(models.Model):
    """One row of a dataset, linked to the trace it came from."""

    dataset = models.ForeignKey(
        Dataset, on_delete=models.CASCADE, related_name="items", verbose_name=_("dataset")
    )
    trace = models.ForeignKey(
        Trace,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="dataset_items",
        verbose_name=_("source trace"),
    )
    pair = models.ForeignKey(
        PreferencePair,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="dataset_items",
        verbose_name=_("source pair"),
    )
    input = models.TextField(_("input"), blank=True)
    messages = models.JSONField(
        _("conversation"),
        default=list,
        blank=True,
        help_text=_("The messages before the answer (system prompt, earlier turns), if any."),
    )
    expected_output = models.TextField(_("expected output"), blank=True)
    output = models.TextField(
        _("model's answer"), blank=True, help_text=_("What the model answered, for comparison.")
    )
    chosen = models.TextField(_("chosen"), blank=True)
    rejected = models.TextField(_("rejected"), blank=True)
    metadata = models.JSONField(_("metadata"), default=dict, blank=True)
    dedupe_key = models.CharField(
        _("dedupe key"),
        max_length=200,
        default=_new_dedupe_key,
        help_text=_("Items with the same key are stored once per dataset."),
    )
    content_hash = models.CharField(
        _("content digest"),
        max_length=64,
        editable=False,
        default="",
        help_text=_(
            "Items with the same input, expected output, chosen and rejected text are "
            "stored once per dataset, so exports hold no duplicates."
        ),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("dataset item")
        verbose_name_plural = _("dataset items")
        ordering = ["dataset", "id"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "dedupe_key"], name="fl_item_unique"),
            models.UniqueConstraint(
                fields=["dataset", "content_hash"], name="fl_item_unique_content"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dataset} #{self.pk}"

    def save(self, *args, **kwargs):
        self.content_hash = self.compute_content_hash()
        super().save(*args, **kwargs)

    def compute_content_hash(self) -> str:
        return content_digest(
            self.input, self.expected_output, self.chosen, self.rejected, messages=self.messages
        )


def content_digest(*texts: str, messages: list | None = None) -> str:
    """A digest of texts (and of the conversation before them, when there is one) that tells
    items apart by what an export would write."""
    if messages:
        texts = (*texts, json.dumps(messages, sort_keys=True, ensure_ascii=False))
    digest = hashlib.sha256()
    for text in texts:
        encoded = (text or "").encode()
        digest.update(len(encoded).to_bytes(8, "big"))
        digest.update(encoded)
    return digest.hexdigest()


class DatasetVersion(models.Model):
    """A dataset frozen as it was: its items copied, numbered 1, 2, ...; never changed."""

    dataset = models.ForeignKey(
        Dataset, on_delete=models.CASCADE, related_name="versions", verbose_name=_("dataset")
    )
    number = models.PositiveIntegerField(_("version"))
    note = models.CharField(_("note"), max_length=200, blank=True)
    item_count = models.PositiveIntegerField(_("items"), default=0)
    erased_items = models.PositiveIntegerField(
        _("items erased"),
        default=0,
        editable=False,
        help_text=_("Items removed since freezing because an end user's data was erased."),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("frozen by"),
    )
    created_at = models.DateTimeField(_("frozen"), auto_now_add=True)

    class Meta:
        verbose_name = _("dataset version")
        verbose_name_plural = _("dataset versions")
        ordering = ["dataset", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "number"], name="fl_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.dataset} v{self.number}"


class DatasetVersionItem(models.Model):
    """One row of a frozen version: a copy, so later edits of the dataset never reach it."""

    version = models.ForeignKey(
        DatasetVersion, on_delete=models.CASCADE, related_name="items", verbose_name=_("version")
    )
    item_id = models.PositiveBigIntegerField(
        _("item id"),
        null=True,
        blank=True,
        help_text=_("The dataset item it was copied from: the row's id in every export."),
    )
    input = models.TextField(_("input"), blank=True)
    messages = models.JSONField(_("conversation"), default=list, blank=True)
    expected_output = models.TextField(_("expected output"), blank=True)
    output = models.TextField(_("model's answer"), blank=True)
    chosen = models.TextField(_("chosen"), blank=True)
    rejected = models.TextField(_("rejected"), blank=True)
    metadata = models.JSONField(_("metadata"), default=dict, blank=True)
    # What splits go by, kept as digests (no end user's id in a frozen copy): the source trace's
    # end user and session, and when it was made.
    user_digest = models.CharField(_("end user digest"), max_length=32, blank=True)
    session_digest = models.CharField(_("session digest"), max_length=32, blank=True)
    source_created_at = models.DateTimeField(_("source created"), null=True, blank=True)
    source_trace_id = models.CharField(_("source trace id"), max_length=MAX_ID_CHARS, blank=True)

    class Meta:
        verbose_name = _("dataset version item")
        verbose_name_plural = _("dataset version items")
        ordering = ["version", "id"]

    def __str__(self) -> str:
        return f"{self.version} #{self.pk}"
