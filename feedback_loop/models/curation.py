"""Curation: error modes, the trace's review, and each reviewer's verdict on it."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from feedback_loop.models.projects import Project
from feedback_loop.models.traces import Trace


class ErrorMode(models.Model):
    """Why an answer failed. The four built-in modes have no project; projects add their own."""

    project = models.ForeignKey(
        Project,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="error_modes",
        verbose_name=_("project"),
        help_text=_("Empty for modes every project shares."),
    )
    slug = models.SlugField(_("slug"), max_length=64)
    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    is_builtin = models.BooleanField(_("built in"), default=False, editable=False)

    class Meta:
        verbose_name = _("error mode")
        verbose_name_plural = _("error modes")
        ordering = ["-is_builtin", "name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "slug"], name="fl_errormode_unique"),
            models.UniqueConstraint(
                fields=["slug"],
                condition=Q(project__isnull=True),
                name="fl_errormode_unique_global",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ReviewStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    REVIEWED = "reviewed", _("reviewed")
    DISMISSED = "dismissed", _("dismissed")


class Review(models.Model):
    """A curator's verdict on a trace."""

    trace = models.OneToOneField(
        Trace, on_delete=models.CASCADE, related_name="review", verbose_name=_("trace")
    )
    status = models.CharField(
        _("status"), max_length=16, choices=ReviewStatus.choices, default=ReviewStatus.PENDING
    )
    error_modes = models.ManyToManyField(
        ErrorMode, blank=True, related_name="reviews", verbose_name=_("error modes")
    )
    expected_output = models.TextField(_("expected output"), blank=True)
    notes = models.TextField(_("notes"), blank=True)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("reviewer"),
    )
    reviewed_at = models.DateTimeField(_("reviewed"), null=True, blank=True)
    # Review mode hands each pending trace to one reviewer at a time, for a while.
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("being reviewed by"),
        editable=False,
    )
    claimed_until = models.DateTimeField(_("claimed until"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("review")
        verbose_name_plural = _("reviews")
        indexes = [models.Index(fields=["status", "-updated_at"], name="fl_review_status")]

    def __str__(self) -> str:
        return f"{self.get_status_display()}: {self.trace}"


class Verdict(models.Model):
    """One reviewer's answer on a trace in review mode. The trace's ``Review`` is the verdict
    that counts; with the project's ``reviews_per_trace`` at N above one it stays pending until
    N different reviewers answered (each without seeing the others' answers), then takes the
    majority's (``internal/verdicts.py``). The verdicts stay: reviewer-against-reviewer
    agreement is measured on them."""

    review = models.ForeignKey(
        Review, on_delete=models.CASCADE, related_name="verdicts", verbose_name=_("review")
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("reviewer"),
    )
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=[(ReviewStatus.REVIEWED, ReviewStatus.REVIEWED.label),
                 (ReviewStatus.DISMISSED, ReviewStatus.DISMISSED.label)],
    )  # fmt: skip
    error_modes = models.ManyToManyField(
        ErrorMode, blank=True, related_name="+", verbose_name=_("error modes")
    )
    expected_output = models.TextField(_("expected output"), blank=True)
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(_("answered"), auto_now_add=True)

    class Meta:
        verbose_name = _("verdict")
        verbose_name_plural = _("verdicts")
        ordering = ["review", "created_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["review", "reviewer"],
                condition=Q(reviewer__isnull=False),
                name="fl_verdict_one_per_reviewer",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_status_display()} by {self.reviewer or '-'}"
