"""Projects: one chat product each, its keys, origins, and who curates it."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from feedback_loop import keys
from feedback_loop.origins import parse_allowlist, validate_allowlist

# Review mode hands a trace to at most this many reviewers.
MAX_REVIEWS_PER_TRACE = 5


class ProjectManager(models.Manager["Project"]):
    def resolve(self, project) -> Project:
        """A project from a ``Project``, its public key, or its primary key (what the Python
        API's functions take)."""
        if isinstance(project, Project):
            return project
        if isinstance(project, str):
            try:
                return self.get(public_key=project)
            except Project.DoesNotExist:
                raise Project.DoesNotExist(f"No project has the public key {project!r}.") from None
        if isinstance(project, int) and not isinstance(project, bool):
            return self.get(pk=project)
        raise TypeError(f"Expected a Project, its public key or its id, not {project!r}.")


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
    reviews_per_trace = models.PositiveSmallIntegerField(
        _("reviews per trace"),
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_REVIEWS_PER_TRACE)],
        help_text=_(
            "Review mode hands each trace to this many different reviewers, each without seeing "
            "the others' verdicts until they answered; the trace's review then takes the "
            "majority's verdict. Above one, reviewers' agreement with each other is measured."
        ),
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

    objects = ProjectManager()

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
