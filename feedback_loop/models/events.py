"""Feedback events: one signal each on a trace, as the client sent it, and the table of signal
kinds."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from feedback_loop.conf import MAX_ID_CHARS, app_settings
from feedback_loop.models.projects import Project


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


@dataclass(frozen=True)
class Signal:
    """One kind of signal as a trace counts it: the rollup counter that holds it, how the queue,
    the dashboard and the filters name and draw it, and what it weighs."""

    name: str  # in URLs: the queue's ?signal=
    kind: str  # the EventKind it comes from
    counter: str  # the Trace rollup field that counts it
    label: Any  # plural, translatable
    icon: str  # the admin's icon name
    weight: int  # in Trace.strength
    implicit: int = 0  # +1 / -1: what it says of the answer when nobody voted


# Every signal a trace counts, in the order the admin shows them. Votes are counted per voter
# (thumbs up and down, ratings), comments by events with a comment, the rest by kind.
SIGNALS = (
    Signal("thumbs_up", EventKind.THUMBS, "thumbs_up", _("Thumbs up"), "up", 3),
    Signal("thumbs_down", EventKind.THUMBS, "thumbs_down", _("Thumbs down"), "down", 3),
    Signal("rating", EventKind.RATING, "rating_count", _("Ratings"), "star", 2),
    Signal("comment", EventKind.COMMENT, "comment_count", _("Comments"), "comment", 1),
    Signal("edit", EventKind.EDIT, "edit_count", _("Edits"), "edit", 3, implicit=-1),
    Signal("regenerate", EventKind.REGENERATE, "regenerate_count", _("Regenerates"),
           "regenerate", 2, implicit=-1),
    Signal("copy", EventKind.COPY, "copy_count", _("Copies"), "copy", 1, implicit=1),
    Signal("abandon", EventKind.ABANDON, "abandon_count", _("Abandons"), "abandon", 1,
           implicit=-1),
)  # fmt: skip
SIGNALS_BY_NAME = {signal.name: signal for signal in SIGNALS}
# Signals counted one per event of their kind.
COUNTED_BY_KIND = {s.kind: s.counter for s in SIGNALS if s.kind not in (*VOTE_KINDS, "comment")}


def counters_of_kind(kind: str) -> tuple[str, ...]:
    """The rollup counters that tell whether a trace has a signal of this kind."""
    return tuple(signal.counter for signal in SIGNALS if signal.kind == kind)


def trace_keys_q(
    keys: Iterable[tuple[int, str]], *, key: str = "trace_key", one_of: Any = None
) -> Q:
    """A filter for rows naming a trace by (project id, host trace id): events by their
    ``trace_key``, traces by their ``key``. ``one_of``: a lookup class matching the column to
    each project's list of ids (``internal.sql.AnyOf``); ``__in`` without it."""
    by_project: dict[int, list[str]] = defaultdict(list)
    for project_id, trace_key in keys:
        by_project[project_id].append(trace_key)
    q = Q(pk__in=[])
    for project_id, trace_keys in by_project.items():
        if one_of is None:
            q |= Q(project_id=project_id, **{f"{key}__in": trace_keys})
        else:
            q |= Q(one_of(F(key), trace_keys), project_id=project_id)
    return q


class FeedbackEventQuerySet(models.QuerySet):
    def of_traces(self, traces) -> FeedbackEventQuerySet:
        """The events of these traces: Trace objects, or (project id, host trace id) pairs (a
        ``values_list("project_id", "key")`` queryset works too). Events are joined to their
        trace by project and key, processed or not."""
        keys = [(t.project_id, t.key) if hasattr(t, "key") else (t[0], t[1]) for t in traces]
        return self.filter(trace_keys_q(keys))

    def for_trace_ref(self, path: str = "", **lookups) -> FeedbackEventQuerySet:
        """The events of the outer query's trace, for ``Exists()`` and ``Subquery()``; ``path``
        leads from the outer row to a trace (``"rejected_trace__"`` from a pair)."""
        return self.filter(
            project_id=OuterRef(f"{path}project_id"), trace_key=OuterRef(f"{path}key"), **lookups
        )

    def beside_ref(self, **lookups) -> FeedbackEventQuerySet:
        """The events on the same trace as the outer query's event."""
        return self.filter(
            project_id=OuterRef("project_id"), trace_key=OuterRef("trace_key"), **lookups
        )

    def votes(self, sentiment: str) -> FeedbackEventQuerySet:
        """Positive votes (a thumbs up, a rating above the middle of RATING_SCALE) or negative
        ones (a thumbs down, a rating below it)."""
        return self.filter(vote_q(sentiment))

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


def vote_q(sentiment: str) -> Q:
    """See ``FeedbackEventQuerySet.votes``; ``sentiment`` is "positive" or "negative"."""
    middle = (app_settings.RATING_SCALE + 1) / 2
    if sentiment == "positive":
        return Q(kind=EventKind.THUMBS, value__gt=0) | Q(kind=EventKind.RATING, value__gt=middle)
    return Q(kind=EventKind.THUMBS, value__lt=0) | Q(kind=EventKind.RATING, value__lt=middle)


class FeedbackEvent(models.Model):
    """One signal on a trace, as the client sent it. Rows are never edited, only added."""

    # No index of its own: every index of the table starts with the project, and a lone
    # project_id index only costs inserts and tempts the planner away from the right one (on
    # stale statistics it scanned a project's events for the limit per voter).
    project = models.ForeignKey(
        Project,
        on_delete=models.CASCADE,
        related_name="events",
        verbose_name=_("project"),
        db_index=False,
    )
    event_id = models.UUIDField(_("event id"))
    # The trace it is on: Trace.key in this project (see FeedbackEventQuerySet.of_traces). No
    # foreign key: an event is stored before its trace may exist (the host registers it later,
    # or the pipeline makes it from the event's output), and one join serves both cases.
    trace_key = models.CharField(_("trace id"), max_length=MAX_ID_CHARS)
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
    session_id = models.CharField(_("session id"), max_length=MAX_ID_CHARS, blank=True)
    user_id = models.CharField(_("end user id"), max_length=MAX_ID_CHARS, blank=True)
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
    # When the sweeper last queued it again (its message lost); see internal/sweeping.py.
    requeued_at = models.DateTimeField(_("queued again"), null=True, blank=True, editable=False)

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
            # The events a trace has not had processed yet (the pipeline's reads, the sweeper).
            models.Index(
                fields=["project", "trace_key", "created_at"],
                name="fl_event_pending",
                condition=Q(processed_at__isnull=True),
            ),
            # A trace's newest events, for triage (read at most TRIAGE_EVENTS of them). Partial
            # on a condition every row meets, so that only a query naming it can use the index:
            # with the table's statistics out of date (a burst into a fresh table) the planner
            # otherwise took it, the smaller, for capture's count per voter, and read the whole
            # trace on every request instead of the voter's entries in fl_event_trace_voter.
            models.Index(
                fields=["project", "trace_key", "timestamp"],
                name="fl_event_trace_time",
                condition=Q(timestamp__isnull=False),
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
