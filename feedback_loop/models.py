"""The data model: projects, traces (model answers), feedback events on them, and curation."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from feedback_loop.internal import keys
from feedback_loop.internal.origins import parse_allowlist, validate_allowlist


class Project(models.Model):
    """One chat product sending feedback, identified by its public key."""

    name = models.CharField(_("name"), max_length=200)
    public_key = models.CharField(
        _("public key"), max_length=64, unique=True, default=keys.new_public_key, editable=False
    )
    secret_key_hash = models.CharField(
        _("secret key digest"), max_length=64, unique=True, editable=False
    )
    secret_key_prefix = models.CharField(
        _("secret key starts with"), max_length=16, editable=False, blank=True
    )
    allowed_origins = models.TextField(
        _("allowed origins"),
        blank=True,
        validators=[validate_allowlist],
        help_text=_(
            "One per line: https://app.example.com, https://*.example.com or *.example.com. "
            "Empty accepts any origin; signed trace tokens still protect the project."
        ),
    )
    require_token = models.BooleanField(
        _("require signed trace tokens"),
        default=True,
        help_text=_("Reject events whose trace token does not verify. Leave on in production."),
    )
    retention_days = models.PositiveIntegerField(
        _("retention (days)"),
        null=True,
        blank=True,
        help_text=_("Delete traces and events older than this. Empty keeps them forever."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    # Who may curate the project: superusers always; other staff only when named here (as a
    # user or through a group), and then only as far as their model permissions go.
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="feedback_loop_projects",
        verbose_name=_("curators"),
        help_text=_(
            "Staff users who may see and curate this project, as far as their permissions go. "
            "Superusers always may."
        ),
    )
    member_groups = models.ManyToManyField(
        "auth.Group",
        blank=True,
        related_name="feedback_loop_projects",
        verbose_name=_("curator groups"),
        help_text=_("Staff in these groups may see and curate this project too."),
    )

    class Meta:
        verbose_name = _("project")
        verbose_name_plural = _("projects")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def origin_list(self) -> list[str]:
        return parse_allowlist(self.allowed_origins)

    def set_secret_key(self) -> str:
        """Give the project a new secret key and return it; only its digest is kept."""
        secret = keys.new_secret_key()
        self.secret_key_hash = keys.hash_secret(secret)
        self.secret_key_prefix = secret[:7]
        return secret

    def rotate_public_key(self) -> str:
        self.public_key = keys.new_public_key()
        return self.public_key

    @classmethod
    def create(cls, name: str, **fields) -> tuple[Project, str]:
        """Create a project; returns it with its secret key, which is not stored anywhere."""
        project = cls(name=name, **fields)
        secret = project.set_secret_key()
        project.full_clean()
        project.save()
        return project, secret


class Sentiment(models.TextChoices):
    POSITIVE = "positive", _("positive")
    NEGATIVE = "negative", _("negative")
    MIXED = "mixed", _("mixed")
    NONE = "none", _("none")


class Trace(models.Model):
    """One model answer, identified by the host's ``trace_id``, with its rolled-up feedback."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="traces", verbose_name=_("project")
    )
    trace_id = models.CharField(_("trace id"), max_length=128)
    input = models.TextField(_("input"), blank=True)
    output = models.TextField(_("output"), blank=True)
    model = models.CharField(_("model"), max_length=200, blank=True)
    session_id = models.CharField(_("session id"), max_length=128, blank=True)
    user_id = models.CharField(_("end user id"), max_length=128, blank=True)
    metadata = models.JSONField(_("metadata"), default=dict, blank=True)
    registered = models.BooleanField(
        _("registered by the host"),
        default=True,
        help_text=_("False when the trace was created from a feedback event's output."),
    )
    regenerated_from = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="regenerations",
        verbose_name=_("regenerated from"),
    )

    # Rolled up from the events by the processing pipeline.
    sentiment = models.CharField(
        _("sentiment"), max_length=8, choices=Sentiment.choices, default=Sentiment.NONE
    )
    score = models.FloatField(
        _("score"), null=True, blank=True, help_text=_("-1 (bad) to 1 (good); empty without votes.")
    )
    thumbs_up = models.PositiveIntegerField(_("thumbs up"), default=0)
    thumbs_down = models.PositiveIntegerField(_("thumbs down"), default=0)
    rating_avg = models.FloatField(_("mean rating"), null=True, blank=True)
    rating_count = models.PositiveIntegerField(_("ratings"), default=0)
    comment_count = models.PositiveIntegerField(_("comments"), default=0)
    edit_count = models.PositiveIntegerField(_("edits"), default=0)
    regenerate_count = models.PositiveIntegerField(_("regenerates"), default=0)
    copy_count = models.PositiveIntegerField(_("copies"), default=0)
    abandon_count = models.PositiveIntegerField(_("abandons"), default=0)
    last_signal_at = models.DateTimeField(_("last signal"), null=True, blank=True)
    strength = models.PositiveIntegerField(
        _("strength"),
        default=0,
        help_text=_(
            "How much feedback the trace has, for sorting: votes and edits weigh 3, "
            "regenerates and ratings 2, comments, copies and abandons 1."
        ),
    )
    suggested_error_modes = models.ManyToManyField(
        "ErrorMode",
        blank=True,
        related_name="suggested_for",
        verbose_name=_("suggested error modes"),
    )

    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("trace")
        verbose_name_plural = _("traces")
        constraints = [
            models.UniqueConstraint(fields=["project", "trace_id"], name="fl_trace_unique_id"),
        ]
        indexes = [
            models.Index(fields=["project", "-created_at"], name="fl_trace_recent"),
            models.Index(fields=["project", "sentiment", "-last_signal_at"], name="fl_trace_queue"),
            # The review queue's two orders, with the admin's "-pk" tie-breaker.
            models.Index(
                Coalesce("last_signal_at", "created_at").desc(),
                F("id").desc(),
                name="fl_trace_signal",
            ),
            models.Index(fields=["-strength", "-id"], name="fl_trace_strength"),
            models.Index(fields=["sentiment"], name="fl_trace_sentiment"),
            models.Index(fields=["project", "model"], name="fl_trace_model"),
            models.Index(fields=["project", "session_id"], name="fl_trace_session"),
            models.Index(fields=["project", "user_id"], name="fl_trace_user"),
        ]

    def __str__(self) -> str:
        return self.trace_id

    @property
    def events(self) -> models.QuerySet[FeedbackEvent]:
        return FeedbackEvent.objects.filter(project_id=self.project_id, trace_key=self.trace_id)


class EventKind(models.TextChoices):
    THUMBS = "thumbs", _("thumbs")
    RATING = "rating", _("rating")
    COMMENT = "comment", _("comment")
    EDIT = "edit", _("edit")
    REGENERATE = "regenerate", _("regenerate")
    COPY = "copy", _("copy")
    ABANDON = "abandon", _("abandon")
    CUSTOM = "custom", _("custom")


# Kinds where a user's latest event replaces their earlier ones.
VOTE_KINDS = (EventKind.THUMBS, EventKind.RATING)


class FeedbackEventQuerySet(models.QuerySet):
    def with_current(self) -> FeedbackEventQuerySet:
        """Annotate ``is_current``: for thumbs and ratings, whether no later vote of the same
        voter on the same trace replaced it; True for other kinds."""
        later = FeedbackEvent.objects.filter(
            project_id=OuterRef("project_id"),
            trace_key=OuterRef("trace_key"),
            voter=OuterRef("voter"),
            kind=OuterRef("kind"),
        ).filter(
            Q(timestamp__gt=OuterRef("timestamp"))
            | Q(timestamp=OuterRef("timestamp"), id__gt=OuterRef("id"))
        )
        return self.annotate(
            is_current=models.Case(
                models.When(~Q(kind__in=VOTE_KINDS), then=models.Value(True)),
                default=~Exists(later),
                output_field=models.BooleanField(),
            )
        )

    def current(self) -> FeedbackEventQuerySet:
        return self.with_current().filter(is_current=True)


class FeedbackEvent(models.Model):
    """One signal on a trace, as the client sent it. Rows are never edited, only added."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="events", verbose_name=_("project")
    )
    event_id = models.UUIDField(_("event id"))
    trace_key = models.CharField(_("trace id"), max_length=128)
    trace = models.ForeignKey(
        Trace,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="feedback_events",
        verbose_name=_("trace"),
        help_text=_("Linked by the processing pipeline."),
    )
    kind = models.CharField(_("kind"), max_length=16, choices=EventKind.choices)
    value = models.FloatField(_("value"), null=True, blank=True)
    reasons = models.JSONField(_("reasons"), default=list, blank=True)
    comment = models.TextField(_("comment"), blank=True)
    text = models.TextField(
        _("text"),
        blank=True,
        help_text=_("The edited version for edits, the copied text for copies."),
    )
    name = models.CharField(_("name"), max_length=64, blank=True)
    metadata = models.JSONField(_("metadata"), default=dict, blank=True)
    session_id = models.CharField(_("session id"), max_length=128, blank=True)
    user_id = models.CharField(_("end user id"), max_length=128, blank=True)
    voter = models.CharField(
        _("voter"),
        max_length=136,
        blank=True,
        help_text=_(
            "Who the event counts for: the end user (u:) or session (s:) its token binds, the "
            "token itself when it binds nobody (t:), what the client claimed in a project "
            "without tokens (cu:, cs:), or the event alone (e:)."
        ),
    )
    output = models.TextField(_("output as shown"), blank=True)
    timestamp = models.DateTimeField(_("time"), help_text=_("When the user acted, by their clock."))
    created_at = models.DateTimeField(_("received"), default=timezone.now)
    processed_at = models.DateTimeField(_("processed"), null=True, blank=True)

    objects = FeedbackEventQuerySet.as_manager()

    class Meta:
        verbose_name = _("feedback event")
        verbose_name_plural = _("feedback events")
        constraints = [
            models.UniqueConstraint(fields=["project", "event_id"], name="fl_event_unique_id"),
        ]
        indexes = [
            models.Index(
                fields=["project", "trace_key", "voter", "kind", "timestamp"],
                name="fl_event_trace_voter",
            ),
            models.Index(fields=["project", "kind", "-timestamp"], name="fl_event_kind"),
            models.Index(fields=["project", "-created_at"], name="fl_event_recent"),
            models.Index(fields=["project", "session_id", "kind"], name="fl_event_session"),
            models.Index(fields=["project", "user_id"], name="fl_event_user"),
            models.Index(
                fields=["created_at"],
                name="fl_event_unprocessed",
                condition=Q(processed_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} on {self.trace_key}"

    def save(self, *args, **kwargs):
        if not self.voter:
            self.voter = claimed_voter(self.user_id, self.session_id, self.event_id)
        super().save(*args, **kwargs)


def is_bound_voter(voter: str) -> bool:
    """Whether a voter was bound by a token to a user or a session (not claimed, not alone)."""
    return voter.startswith(("u:", "s:"))


def claimed_voter(user_id: str, session_id: str, event_id) -> str:
    """The voter of an event that no token vouches for: the ids it carries, else itself."""
    if user_id:
        return f"cu:{user_id}"
    if session_id:
        return f"cs:{session_id}"
    return f"e:{event_id}"


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

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from feedback_loop.internal.datasets import RuleError, parse_rule

        if self.rule is not None:
            try:
                parse_rule(self.rule)
            except RuleError as exc:
                raise ValidationError({"rule": str(exc)}) from None


class PairSource(models.TextChoices):
    EDIT = "edit", _("edit: the user's version over the model's")
    REGENERATE = "regenerate", _("regenerate: the accepted answer over the discarded one")
    SESSION = "session", _("votes: the liked answer over the disliked one, same input")


class PreferencePair(models.Model):
    """(prompt, chosen, rejected) found by the pipeline; stored once per ``dedupe_key``."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="pairs", verbose_name=_("project")
    )
    source = models.CharField(_("source"), max_length=16, choices=PairSource.choices)
    trace = models.ForeignKey(
        Trace,
        on_delete=models.CASCADE,
        related_name="pairs",
        verbose_name=_("trace"),
        help_text=_("The answer the signal was on (the chosen one for regenerates and votes)."),
    )
    rejected_trace = models.ForeignKey(
        Trace,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="rejected_in_pairs",
        verbose_name=_("rejected trace"),
    )
    event = models.ForeignKey(
        FeedbackEvent,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("source event"),
    )
    prompt = models.TextField(_("prompt"), blank=True)
    chosen = models.TextField(_("chosen"))
    rejected = models.TextField(_("rejected"))
    session_id = models.CharField(_("session id"), max_length=128, blank=True)
    user_id = models.CharField(_("end user id"), max_length=128, blank=True)
    dedupe_key = models.CharField(_("dedupe key"), max_length=200, editable=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("preference pair")
        verbose_name_plural = _("preference pairs")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "dedupe_key"], name="fl_pair_unique"),
        ]
        indexes = [
            models.Index(fields=["project", "user_id"], name="fl_pair_user"),
        ]

    def __str__(self) -> str:
        return f"{self.get_source_display().split(':')[0]} pair on {self.trace}"


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
    expected_output = models.TextField(_("expected output"), blank=True)
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
        return content_digest(self.input, self.expected_output, self.chosen, self.rejected)


def content_digest(*texts: str) -> str:
    """A digest of texts that tells items apart by what an export would write."""
    import hashlib

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
    input = models.TextField(_("input"), blank=True)
    expected_output = models.TextField(_("expected output"), blank=True)
    chosen = models.TextField(_("chosen"), blank=True)
    rejected = models.TextField(_("rejected"), blank=True)
    metadata = models.JSONField(_("metadata"), default=dict, blank=True)
    source_trace_id = models.CharField(_("source trace id"), max_length=128, blank=True)

    class Meta:
        verbose_name = _("dataset version item")
        verbose_name_plural = _("dataset version items")
        ordering = ["version", "id"]

    def __str__(self) -> str:
        return f"{self.version} #{self.pk}"


class ProcessingFailure(models.Model):
    """A trace whose processing failed. The sweeper tries it again until it has failed
    PROCESS_MAX_ATTEMPTS times; then it is a dead letter, left aside with its error until a
    curator retries it from the admin."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="+", verbose_name=_("project")
    )
    trace_key = models.CharField(_("trace id"), max_length=128)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    error = models.TextField(_("last error"), blank=True)
    first_failed_at = models.DateTimeField(_("first failed"), default=timezone.now)
    last_failed_at = models.DateTimeField(_("last failed"), default=timezone.now)
    dead_at = models.DateTimeField(
        _("given up"),
        null=True,
        blank=True,
        help_text=_("Set when the attempts ran out: its events are no longer queued."),
    )

    class Meta:
        verbose_name = _("processing failure")
        verbose_name_plural = _("processing failures")
        ordering = ["-last_failed_at"]
        constraints = [
            models.UniqueConstraint(fields=["project", "trace_key"], name="fl_failure_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.trace_key} ({self.attempts})"
