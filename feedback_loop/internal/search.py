"""The queue's search box over traces: their input and output, and their users' comments.

On PostgreSQL, full-text search: each word of the search is matched as a word or the start of
one (``needle`` finds "needles"), every word in the trace's input and output together, or all
in one of its comments, through two GIN indexes (``fl_trace_text_search`` on input and output,
``fl_event_comment_search`` on the comments there are), so a search costs what its matches
cost, not a scan of every trace and event. The "simple" configuration: no language's stemming
or stop words, as users write in every language. A search that is a whole trace id finds that
trace too.

Elsewhere (SQLite), Django's own search: the term anywhere in the text (``icontains``).
"""

from __future__ import annotations

import re

from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db import connections, router
from django.db.models import F, Func, OuterRef, QuerySet, Subquery, TextField, Value

from feedback_loop.models import FeedbackEvent, Trace

CONFIG = "simple"  # no language's stemming or stop words: users write in every language


def searchable(field: str) -> Func:
    """A column as the search reads it: with ``<`` and ``>`` made spaces, so that PostgreSQL's
    parser, which skips what looks like an HTML tag, keeps the words of code and markup."""
    return Func(F(field), Value("<>"), Value("  "), function="translate", output_field=TextField())


def search_vector(*fields: str) -> SearchVector:
    """The expression the GIN indexes of migration 0018 are built on: a query uses an index
    only with the very same expression."""
    return SearchVector(*(searchable(field) for field in fields), config=CONFIG)


MAX_WORDS = 8
# Matches read into the query as a list of ids; more stay a subquery.
MAX_LISTED = 5_000
# Words as the "simple" configuration splits them: letters and digits, in any script.
_WORD_RE = re.compile(r"[^\W_]+", re.UNICODE)


def text_vector() -> SearchVector:
    """What ``fl_trace_text_search`` indexes (the same expression, or PostgreSQL ignores it)."""
    return search_vector("input", "output")


def comment_vector() -> SearchVector:
    """What ``fl_event_comment_search`` indexes."""
    return search_vector("comment")


def is_full_text() -> bool:
    return connections[router.db_for_read(Trace)].vendor == "postgresql"


def words_query(term: str) -> SearchQuery | None:
    """Every word of ``term`` as a word or a word's start; None when it has no word."""
    words = _WORD_RE.findall(term.lower())[:MAX_WORDS]
    if not words:
        return None
    return SearchQuery(" & ".join(f"{word}:*" for word in words), config=CONFIG, search_type="raw")


def matches(term: str) -> QuerySet | None:
    """The ids of the traces ``term`` finds, by the indexes (a UNION: a whole trace id, the
    words in the input and output, the words in a comment); None without a word."""
    query = words_query(term)
    if query is None:
        return None
    exact = Trace.objects.filter(key=term.strip()).values("pk")
    by_text = Trace.objects.annotate(fl_text_search=text_vector()).filter(fl_text_search=query)
    comments = (
        FeedbackEvent.objects.exclude(comment="")
        .annotate(fl_comment_search=comment_vector())
        .filter(fl_comment_search=query)
    )
    # Each matching comment's trace by the (project, trace id) unique index: a lookup per
    # match, where a join would scan the traces.
    trace_of = Trace.objects.filter(project_id=OuterRef("project_id"), key=OuterRef("trace_key"))
    by_comment = comments.values(pk=Subquery(trace_of.values("pk")[:1]))
    return exact.union(by_text.values("pk"), by_comment)


def traces_matching(traces: QuerySet[Trace], term: str) -> QuerySet[Trace]:
    """The traces of ``traces`` the search ``term`` finds (PostgreSQL: full text): the matches
    found by the indexes first, then looked up, so the cost follows the matches, not the
    traces."""
    found_by_index = matches(term)
    if found_by_index is None:
        return traces.filter(key=term.strip())
    # Read first when there are few (the usual search): the queue then looks them up by primary
    # key, where PostgreSQL, unsure how many a word matches, would scan every trace to join.
    found = [pk for pk in found_by_index[: MAX_LISTED + 1].values_list("pk", flat=True) if pk]
    if len(found) <= MAX_LISTED:
        return traces.filter(pk__in=found)
    return traces.filter(pk__in=found_by_index)
