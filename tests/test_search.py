"""The queue's search box (internal/search.py): input, output, users' comments and trace ids on
both databases; on PostgreSQL full text through GIN indexes (words in any order, a word's
start), which the queries really use."""

import pytest
from django.db import connection

from feedback_loop import record_trace
from feedback_loop.internal import search
from feedback_loop.models import FeedbackEvent
from tests.curation import ADMIN, add, listed, run

pytestmark = pytest.mark.django_db

EVERYTHING = {"sentiment": "all", "review": "all"}


@pytest.fixture
def traces(project):
    record_trace(project, "t-json", input="Give me JSON for Ada", output='{"name": "Ada"}')
    record_trace(project, "t-paris", input="Capital of France?", output="Paris is the capital.")
    record_trace(project, "t-quiet", input="2 + 2?", output="4")
    record_trace(project, "t-other", input="Hello", output="Bonjour, ça va ?")
    record_trace(project, "t-code", input="An image?", output='<img src=x onerror="go()">')
    add(project, "t-quiet", value=-1, user_id="u1", comment="Totally made up numbers")
    add(project, "t-paris", value=1, user_id="u2")
    run(project)
    return project


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("Paris", ["t-paris"]),  # the output
        ("france", ["t-paris"]),  # the input, any case
        ("made up", ["t-quiet"]),  # a user's comment
        ("t-json", ["t-json"]),  # a trace id
        ("Bonjour", ["t-other"]),  # words in any script
        ("nowhere", []),
    ],
)
def test_the_search_box_finds_input_output_comments_and_ids(admin_client, traces, term, expected):
    response = admin_client.get(f"{ADMIN}/trace/", {"q": term, **EVERYTHING})
    assert sorted(listed(response)) == expected


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("capital paris", ["t-paris"]),  # every word, in any order
        ("capit", ["t-paris"]),  # a word's start
        ("made numbers", ["t-quiet"]),  # every word of one comment
        ("paris made", []),  # not split between the text and a comment
        ("ça", ["t-other"]),
        ("<>!", []),  # no word at all: only an exact trace id could match
        ("onerror", ["t-code"]),  # a word inside what looks like an HTML tag
    ],
)
def test_full_text_on_postgresql(admin_client, traces, term, expected):
    response = admin_client.get(f"{ADMIN}/trace/", {"q": term, **EVERYTHING})
    assert sorted(listed(response)) == expected


@pytest.mark.postgres
def test_the_full_text_search_reads_the_gin_indexes(traces):
    """The search's expressions are the indexes' own (else PostgreSQL would scan every row):
    with sequential scans off, the plan uses both indexes."""
    sql, params = search.matches("made up").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "fl_trace_text_search" in plan, plan
    assert "fl_event_comment_search" in plan, plan
    assert FeedbackEvent.objects.filter(comment__icontains="made up").count() == 1
