"""Themes in what users wrote about negative answers (issue 16, item 4).

The comments of the window's negative (or mixed) traces, and the edit summaries of their edits,
are grouped into themes: each with a label (its three most distinctive terms), its count in the
window and in the window before it, a trend, three representative comments and its traces.

* **Texts.** One per feedback event with a comment, or an edit: the comment, then for an edit
  the words the user changed: the words of the edited text that the answer as shown did not
  have, then those it had that the edit dropped (a bag-of-words difference, linear in the
  texts' length; at most ``EDIT_WORDS`` each way). Only events of traces whose sentiment is
  now negative or mixed count, by their timestamp; the newest THEME_MAX_COMMENTS of a window.
* **Vectors, themes, trends**: ``clusters``.

Clustering needs scikit-learn (``pip install "django-feedback-loop[themes]"``); without it,
``available()`` is False and the dashboard says how to install it. The results are computed by
the ``feedback_loop.refresh_themes`` Celery task and kept in the default cache (per set of
projects and window, under the dashboard's generation, so an erasure drops them); the
dashboard and the queue's theme filter only read them.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.core.cache import cache
from django.db.models import Q, Subquery
from django.db.models.functions import Left
from django.utils import timezone

from feedback_loop.conf import app_settings
from feedback_loop.internal.caches import remember
from feedback_loop.internal.clusters import available, find_themes
from feedback_loop.internal.deferred import Deferred, projects_of
from feedback_loop.models import NEEDS_REVIEW, EventKind, FeedbackEvent, Trace

logger = logging.getLogger("feedback_loop.themes")

INSTALL_HINT = 'pip install "django-feedback-loop[themes]"'
EDIT_WORDS = 40
# Trace primary keys kept per theme for the queue's filter (an IN list SQLite accepts).
MAX_THEME_TRACES = 10_000
REPRESENTATIVE_CHARS = 300
CACHE_SECONDS = 3 * 3600

_WORD_RE = re.compile(r"[^\W\d_]{2,}", re.UNICODE)


# -- the texts -----------------------------------------------------------------------------


def edit_summary(shown: str, edited: str) -> str:
    """The words an edit changed: those it added, then those it removed, in order of first
    appearance, at most EDIT_WORDS each (case-folded; a bag-of-words difference)."""
    before = [w.casefold() for w in _WORD_RE.findall(shown)]
    after = [w.casefold() for w in _WORD_RE.findall(edited)]
    had, has = set(before), set(after)
    added = list(dict.fromkeys(w for w in after if w not in had))[:EDIT_WORDS]
    removed = list(dict.fromkeys(w for w in before if w not in has))[:EDIT_WORDS]
    return " ".join(added + removed)


def text_of(kind: str, comment: str, edited: str, shown: str) -> str:
    """The text an event is clustered by: its comment, and for an edit its summary."""
    parts = [comment.strip()]
    if kind == EventKind.EDIT and edited:
        parts.append(edit_summary(shown, edited))
    return " ".join(p for p in parts if p)


@dataclass
class Texts:
    """One window's texts, newest first, with the trace (primary key) each came from."""

    texts: list[str] = field(default_factory=list)
    traces: list[int] = field(default_factory=list)
    capped: bool = False


def load_texts(project_ids: Sequence[int] | None, since, until, limit: int) -> Texts:
    """The texts of the events with a comment, and of the edits, on negative or mixed traces
    of these projects (None: all), timestamped in [since, until): the newest ``limit``."""
    negative = Trace.objects.for_event_ref(sentiment__in=NEEDS_REVIEW)
    events = FeedbackEvent.objects.filter(timestamp__gte=since, timestamp__lt=until).filter(
        ~Q(comment="") | Q(kind=EventKind.EDIT)
    )
    if project_ids is not None:
        events = events.filter(project_id__in=list(project_ids))
    rows = list(
        events.annotate(trace_pk=Subquery(negative.values("pk")[:1]))
        .filter(trace_pk__isnull=False)
        .order_by("-timestamp", "-pk")
        .values_list(
            "trace_pk",
            "kind",
            Left("comment", 2000),
            Left("text", 8000),
            Left("output", 8000),
        )[: limit + 1]
    )
    capped = len(rows) > limit
    rows = rows[:limit]
    # Edits of answers the event did not carry: the trace's output is what was shown.
    unshown = {pk for pk, kind, _c, text, output in rows if kind == EventKind.EDIT and not output}
    outputs = dict(
        Trace.objects.filter(pk__in=unshown).values_list("pk", Left("output", 8000))
        if unshown
        else ()
    )
    result = Texts(capped=capped)
    for trace_pk, kind, comment, text, output in rows:
        body = text_of(kind, comment or "", text or "", output or outputs.get(trace_pk) or "")
        if body:
            result.texts.append(body)
            result.traces.append(trace_pk)
    return result


# -- computed per scope and window, kept in the cache ----------------------------------------


def cache_key(scope: str, days: int) -> str:
    return THEMES.key(scope, days)


def theme_id(key: str, index: int) -> str:
    """The short id a theme of a cached result is filtered by in the queue."""
    return f"{hashlib.sha1(key.encode()).hexdigest()[:10]}-{index}"


def _members_key(theme: str) -> str:
    return f"feedback_loop:themes:members:{theme}"


def compute(scope: str, days: int) -> dict[str, Any]:
    """The themes of the projects of ``scope`` in the last ``days`` days, stored in the cache;
    returns them (the dict the dashboard shows)."""
    return THEMES.run(scope, days)


def _compute(scope: str, days: int) -> dict[str, Any]:
    key = cache_key(scope, days)  # the result's key names its themes
    now = timezone.now()
    limit = app_settings.THEME_MAX_COMMENTS
    projects = projects_of(scope)
    window = load_texts(projects, now - timedelta(days=days), now, limit)
    before = load_texts(projects, now - timedelta(days=2 * days), now - timedelta(days=days), limit)
    themes = find_themes(window.texts, before.texts)
    result: dict[str, Any] = {
        "computed_at": now,
        "days": days,
        "comments": len(window.texts),
        "previous_comments": len(before.texts),
        "capped": window.capped or before.capped,
        "themes": [],
    }
    for index, theme in enumerate(themes):
        ident = theme_id(key, index)
        traces = list(dict.fromkeys(window.traces[i] for i in theme.members))
        result["themes"].append(
            {
                "id": ident,
                "label": theme.label,
                "terms": theme.terms,
                "count": theme.count,
                "previous_count": theme.previous_count,
                "trend": theme.trend,
                "trace_count": len(traces),
                "representatives": [_shorten(window.texts[i]) for i in theme.representatives],
                "trace_ids": traces[:MAX_THEME_TRACES],
            }
        )
        remember(
            _members_key(ident),
            {"label": theme.label, "traces": traces[:MAX_THEME_TRACES]},
            CACHE_SECONDS,
        )
    logger.info(
        "Themes of %s over %d days: %d themes of %d comments.",
        scope,
        days,
        len(themes),
        len(window.texts),
    )
    return result


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= REPRESENTATIVE_CHARS else text[: REPRESENTATIVE_CHARS - 1] + "…"


def cached(scope: str, days: int) -> dict[str, Any] | None:
    return THEMES.cached(scope, days)


def theme_members(theme: str) -> dict[str, Any] | None:
    """{"label", "traces"} of a theme id, while its result is in the cache."""
    return cache.get(_members_key(theme))


def wanted() -> list[tuple[str, int]]:
    return THEMES.wanted()


def refresh(scope: str | None = None, days: int | None = None) -> dict[str, int]:
    """Compute the themes of one (scope, days), or of every wanted pair: {key: themes}."""
    if not available():
        logger.warning("Themes need scikit-learn: %s", INSTALL_HINT)
        return {}
    return {key: len(result["themes"]) for key, result in THEMES.refresh(scope, days).items()}


def panel(
    scope: str, days: int, enqueue: Callable[[str, int], None], *, refresh: bool = False
) -> dict[str, Any]:
    """What the dashboard shows: {"missing": True, "install": ...} without scikit-learn, else
    THEMES.panel's {"result", "computing"}."""
    if not available():
        return {"missing": True, "install": INSTALL_HINT}
    return THEMES.panel(scope, days, enqueue, refresh=refresh)


THEMES = Deferred("themes", _compute, cache_seconds=CACHE_SECONDS)
