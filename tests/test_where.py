"""The filter expression language (feedback_loop/where.py): what each expression matches, on
SQLite and PostgreSQL alike, where each error points, and hostile expressions that end in a
4xx or a WhereError, never a 500 or a RecursionError. Through the API's ``where`` filter, the
dataset rules and the review queue too."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from feedback_loop import where
from feedback_loop.filters import check_rule, matching_traces
from feedback_loop.internal.datasets import apply_rule
from feedback_loop.models import Dataset, Sentiment, Trace
from feedback_loop.models.scoring import TraceScore
from feedback_loop.where import WhereError
from tests.curation import ADMIN, listed
from tests.factories import ErrorModeFactory, FeedbackEventFactory, ReviewFactory, TraceFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now()
HAS_RELEASE = "release" in {f.name for f in Trace._meta.get_fields()}


def score(trace, scorer, value, minutes_ago=0, version="1"):
    made = TraceScore.objects.create(
        trace=trace, scorer=scorer, value=value, scorer_version=version
    )
    TraceScore.objects.filter(pk=made.pk).update(
        created_at=timezone.now() - timedelta(minutes=minutes_ago)
    )


@pytest.fixture
def traces(project):
    """Five traces, each with something the expressions tell apart."""
    a = TraceFactory(
        project=project,
        key="a",
        model="gpt-4o",
        sentiment=Sentiment.POSITIVE,
        score=1.0,
        thumbs_up=2,
        edit_count=0,
        metadata={"thumbs_up": True, "lang": "en", "n": 3, "user": {"tier": "pro"}},
        created_at=NOW - timedelta(days=3),
        last_signal_at=NOW - timedelta(days=1),
    )
    b = TraceFactory(
        project=project,
        key="b",
        model="gpt-4o-mini",
        sentiment=Sentiment.NEGATIVE,
        score=-1.0,
        thumbs_down=1,
        edit_count=2,
        metadata={"thumbs_up": False, "lang": "fr", "n": 10.5, "user": {"tier": "free"}},
        created_at=NOW - timedelta(days=2),
        last_signal_at=NOW - timedelta(hours=2),
    )
    c = TraceFactory(
        project=project,
        key="c",
        model="claude",
        sentiment=Sentiment.MIXED,
        score=0.0,
        metadata={"thumbs_up": 1, "lang": None, "n": "3", "tags": ["x", "y"]},
        created_at=NOW - timedelta(days=1),
    )
    TraceFactory(
        project=project,
        key="d",
        model="",
        sentiment=Sentiment.NONE,
        score=None,
        metadata={},
        created_at=NOW,
    )
    e = TraceFactory(
        project=project,
        key="e",
        model="claude",
        sentiment=Sentiment.NEGATIVE,
        score=-0.5,
        metadata={"thumbs_up": "true", "n": -2},
        created_at=NOW - timedelta(hours=1),
    )
    # Automated scores: the newest of each scorer counts.
    score(a, "user_rating", 0.9)
    score(b, "user_rating", 0.95, minutes_ago=10, version="1")
    score(b, "user_rating", 0.2, minutes_ago=1, version="2")  # b's newest: 0.2
    score(c, "user_rating", None)  # skipped
    score(a, "correctness", 0.9)
    score(b, "correctness", 0.1)
    score(c, "correctness", 0.3)
    score(e, "correctness", 0.4)
    # Comments: b's rolled up, c's an event the pipeline has not processed yet.
    b.comment_count = 1
    b.save()
    FeedbackEventFactory(project=project, trace_key="b", kind="thumbs", comment="Wrong city")
    FeedbackEventFactory(project=project, trace_key="c", kind="comment", comment="too long!")
    FeedbackEventFactory(project=project, trace_key="e", kind="thumbs", comment="")
    made_up = ErrorModeFactory(project=None, slug="made-up")
    fmt = ErrorModeFactory(project=project, slug="bad-format")
    b.suggested_error_modes.add(made_up)
    ReviewFactory(trace=c).error_modes.add(fmt)
    return project


def keys(expression, project=None):
    return sorted(where.apply(Trace.objects.all(), expression).values_list("key", flat=True))


# -- what expressions match ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # The seed's three examples.
        ("scores.user_rating > 0.8", ["a"]),
        ("metadata.thumbs_up = true", ["a"]),
        ("comment IS NOT NULL AND scores.correctness < 0.5", ["b", "c"]),
        # Columns.
        ("score > 0", ["a"]),
        ("score >= 0", ["a", "c"]),
        ("score < 0", ["b", "e"]),
        ("score = -1", ["b"]),
        ("score != 0", ["a", "b", "e"]),  # present and different
        ("score IS NULL", ["d"]),
        ("score = null", ["d"]),
        ("score IS NOT NULL", ["a", "b", "c", "e"]),
        ("NOT score > 0", ["b", "c", "d", "e"]),  # NOT includes the null one
        ("sentiment = 'negative'", ["b", "e"]),
        ("sentiment IN ('positive', 'mixed')", ["a", "c"]),
        ("sentiment NOT IN ('positive', 'mixed')", ["b", "d", "e"]),
        ("model = 'claude'", ["c", "e"]),
        ('model = "gpt-4o"', ["a"]),
        ("model ~ 'GPT'", ["a", "b"]),
        ("model IS NULL", ["d"]),
        ("model != 'claude'", ["a", "b"]),
        ("thumbs_up >= 1", ["a"]),
        ("edit_count > 0", ["b"]),
        ("edit_count = 0 AND thumbs_down = 0", ["a", "c", "d", "e"]),
        ("trace_id IN ('a', 'd')", ["a", "d"]),
        ("last_signal_at IS NULL", ["c", "d", "e"]),
        ("registered = true", ["a", "b", "c", "d", "e"]),
        # Times as ISO strings; a date alone is midnight UTC.
        (f"created_at >= '{(NOW - timedelta(hours=30)).isoformat()}'", ["c", "d", "e"]),
        (f"last_signal_at > '{(NOW - timedelta(hours=5)).isoformat()}'", ["b"]),
        ("created_at > '2000-01-01'", ["a", "b", "c", "d", "e"]),
        ("created_at < '2000-01-01T00:00:00Z'", []),
        # Metadata, typed: a JSON true is not 1 nor "true".
        ("metadata.thumbs_up = false", ["b"]),
        ("metadata.thumbs_up != true", ["b", "c", "e"]),
        ("metadata.thumbs_up = 1", ["c"]),
        ("metadata.thumbs_up = 'true'", ["e"]),
        ("metadata.n > 2", ["a", "b"]),  # "3" is a string
        ("metadata.n < 0", ["e"]),
        ("metadata.n = 3", ["a"]),
        ("metadata.n = '3'", ["c"]),
        ("metadata.n IN (3, '3')", ["a", "c"]),
        ("metadata.lang = 'fr'", ["b"]),
        ("metadata.lang ~ 'E'", ["a"]),
        ("metadata.lang IS NULL", ["c", "d", "e"]),  # a JSON null or no key
        ("metadata.lang = null", ["c", "d", "e"]),
        ("metadata.lang IS NOT NULL", ["a", "b"]),
        ("metadata.user.tier = 'pro'", ["a"]),
        ("metadata.tags.0 = 'x'", ["c"]),
        ("metadata.missing.deep = 1", []),
        ("NOT metadata.n > 2", ["c", "d", "e"]),
        # Scores: the newest of the scorer; a skipped one is null.
        ("scores.user_rating < 0.5", ["b"]),
        ("scores.user_rating IS NULL", ["c", "d", "e"]),
        ("scores.correctness >= 0.3 AND scores.correctness <= 0.4", ["c", "e"]),
        ("scores.nobody > 0", []),
        ("NOT scores.correctness < 0.5", ["a", "d"]),
        ('scores."user_rating" > 0.8', ["a"]),
        # Comments and error modes.
        ("comment IS NULL", ["a", "d", "e"]),
        ("comment ~ 'CITY'", ["b"]),
        ("comment ~ '!'", ["c"]),
        ("error_mode = 'made-up'", ["b"]),
        ("error_mode IN ('made-up', 'bad-format')", ["b", "c"]),
        ("error_mode != 'made-up'", ["a", "c", "d", "e"]),
        ("error_mode IS NULL", ["a", "d", "e"]),
        # Keywords in any case; precedence NOT > AND > OR.
        ("score > 0 or score < 0 and model = 'claude'", ["a", "e"]),
        ("(score > 0 OR score < 0) AND model = 'claude'", ["e"]),
        ("NOT score > 0 AND model = 'claude'", ["c", "e"]),
        ("NOT (score > 0 OR model = 'claude')", ["b", "d"]),
        ("model = 'claude' OR NOT score IS NOT NULL AND model IS NULL", ["c", "d", "e"]),
        ("NOT NOT score > 0", ["a"]),
        ("((((score > 0))))", ["a"]),
        ("score > 0 Or\n  sentiment = 'mixed'", ["a", "c"]),
    ],
)
def test_expressions_match_exactly_their_traces(traces, expression, expected):
    assert keys(expression) == expected


@pytest.mark.skipif(not HAS_RELEASE, reason="the trace model has no release field here")
def test_release(project):
    TraceFactory(project=project, key="r1", release="v1")
    TraceFactory(project=project, key="r2", release="")
    assert keys("release = 'v1'") == ["r1"]
    assert keys("release IS NULL") == ["r2"]


def test_a_score_of_a_trace_is_its_newest(project):
    trace = TraceFactory(project=project, key="t")
    score(trace, "judge", 0.1, minutes_ago=5, version="1")
    score(trace, "judge", 0.9, minutes_ago=0, version="2")
    assert keys("scores.judge > 0.5") == ["t"]
    assert keys("scores.judge < 0.5") == []


# -- errors point at the offending token ---------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "column", "says"),
    [
        ("scroe > 0.8", 1, "unknown field 'scroe' at 1:1 (did you mean score?"),
        ("score > ", 9, "expected a value after '>', not the end at 1:9"),
        ("score >", 8, "expected a value after '>'"),
        ("score > 0.8 AND", 16, "expected a field, not the end"),
        ("score > 0.8 AND OR x", 17, "expected a field, not 'or'"),
        ("score 0.8", 7, "expected an operator"),
        ("score > 'x'", 9, "score takes a number, not 'x'"),
        ("score = true", 9, "score takes a number"),
        ("score < null", 7, "null compares with = and != only"),
        ("model > 'a'", 9, "compares with =, != , ~ and IN".replace(" ,", ",")),
        ("model = 3", 9, "model takes a string"),
        ("sentiment = 'bad'", 13, "sentiment takes one of positive, negative, mixed, none"),
        ("edit_count > 0.5", 14, "edit_count takes a whole number"),
        ("edit_count IS NULL", 1, "edit_count is never null"),
        ("created_at > 'yesterday'", 14, "created_at takes an ISO date or time"),
        ("created_at > '9999-12-31T23:59:59-23:59'", 14, "out of range"),
        ("created_at > 5", 14, "created_at takes a date or time as a string"),
        ("registered > true", 14, "registered takes true or false"),
        ("metadata.a > 'x'", 14, "> compares numbers"),
        ("metadata = 1", 1, "metadata needs a key"),
        ("metadata.a..b = 1", 12, "expected a key after '.'"),
        ("metadata.1_0 = 1", 1, "reads as a number"),
        ("metadata.-a = 1", 1, "metadata key '-a'"),
        ("scores = 1", 1, "scores needs a scorer"),
        ("comment = 'x'", 11, "comment takes IS NULL, IS NOT NULL or ~"),
        ("score ~ 'x'", 9, "~ (contains) reads text"),
        ("score IS 1", 10, "expected NULL after IS"),
        ("score NOT 1", 11, "expected IN after NOT"),
        ("score IN 1", 10, "expected '(' after IN"),
        ("score IN (1 2)", 13, "expected ',' or ')' in the list"),
        ("score IN ()", 11, "expected a value in the list"),
        ("score IN (1, null)", 14, "null is not a value of IN"),
        ("(score > 1", 11, "expected ')' to close the '(' at 1:1, not the end"),
        ("score > 1)", 10, "')' without its '('"),
        ("score > 1 score < 2", 11, "expected AND, OR or the end, not 'score'"),
        ("model = 'abc", 9, "unterminated string: no closing '"),
        ('model = "a\\qb"', 11, "unknown escape"),
        ("score > 1e999", 9, "out of range"),
        ("score > 1e", 10, "exponent needs digits"),
        ("score > 3abc", 10, "unexpected 'a' after a number"),
        ("score ! 1", 7, "unexpected character '!'"),
        ("score > 1 ; x", 11, "unexpected character ';'"),
        ("", 1, "an empty expression"),
        ("   ", 1, "an empty expression"),
    ],
)
def test_every_error_points_at_its_token(expression, column, says):
    with pytest.raises(WhereError) as caught:
        where.parse(expression)
    error = caught.value
    assert error.column == column, str(error)
    assert says in error.message, str(error)
    assert f"at {error.line}:{column}" in error.message
    if expression:  # the line and a caret under the column
        assert str(error).splitlines()[-1] == " " * (2 + column - 1) + "^"


def test_an_error_on_a_later_line_names_its_line():
    with pytest.raises(WhereError) as caught:
        where.parse("score > 0\n  AND scroe < 1")
    assert (caught.value.line, caught.value.column) == (2, 7)
    assert str(caught.value).splitlines()[1:] == ["    AND scroe < 1", "        ^"]


def test_the_escapes_of_strings(project):
    TraceFactory(project=project, key="q", model='it\'s "quoted"\\')
    assert keys("model = 'it\\'s \"quoted\"\\\\'") == ["q"]
    assert keys('model = "it\'s \\"quoted\\"\\\\"') == ["q"]


# -- hostile input: always a WhereError, never a crash -------------------------------------

HOSTILE = [
    "(" * 10_000 + "score > 0" + ")" * 10_000,
    "(" * 1_000,
    "NOT " * 400 + "score > 0",
    "NOT " * 33 + "score > 0",
    "(" * 33 + "score > 0" + ")" * 33,
    "score > 0 AND " * 150 + "score > 0",
    "score > 0 OR " * 100 + "score > 0",
    "score IN (" + ", ".join(["1"] * 200) + ")",
    "x" * 1_000_000,
    "score > 0 AND model = '" + "a" * 1_000_000 + "'",
    "model = 'unterminated",
    'model = "unterminated',
    "model = '\\",
    "model = 'a\x00b'",
    "\x00",
    "score\x00 > 1",
    "model = '\ud800'",
    "scöre > 1",
    "score > \u0661",  # an Arabic-Indic digit
    "score > \uff10",  # a fullwidth zero
    "metadata.ключ = 1",
    "metadata.\u202e = 1",
    "metadata." + ".".join(["k"] * 1_000) + " = 1",
    "metadata." + ".".join(["k"] * 17) + " = 1",
    "metadata.",
    "scores." + "x" * 201 + " > 1",
    "model = 'x' OR 1=1 --",
    "model = 'x' OR '1'='1'",
    "metadata.a'); DROP TABLE feedback_loop_trace; --",
    "model = 'x'; DROP TABLE feedback_loop_trace; --",
    "model = 'x' /* comment */",
    "model = 'x' UNION SELECT 1",
    "metadata.a = 1) OR (1=1",
    "1 = 1",
    "score > 99999999999999999999999999999999999999999",
    "edit_count > 99999999999999999999",
    "score > --1",
    "score >",
    ")",
    ",",
    "AND",
    "score > 0 AND",
    "IN (1)",
    "score = 1 = 2",
    "{{7*7}}",
    "${jndi:ldap://x}",
    "<script>alert(1)</script>",
    "scores.\"x\" > '\\u0000'",
]


@pytest.mark.parametrize("expression", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_expressions_are_where_errors(project, expression):
    with pytest.raises(WhereError) as caught:
        where.apply(Trace.objects.all(), expression)
    assert " at " in caught.value.message
    assert 0 <= caught.value.position <= len(expression)


def test_injections_inside_strings_are_values(traces):
    for text in ["x' OR 1=1 --", "'); DROP TABLE feedback_loop_trace; --", "%", "_", "\\"]:
        quoted = "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
        assert keys(f"model = {quoted}") == []
        assert keys(f"metadata.lang = {quoted}") == []
        assert keys(f"scores.{quoted} > 0") == []
    assert keys("model ~ '%'") == []  # LIKE's wildcards are escaped
    assert Trace.objects.count() == 5


def test_the_limits_are_each_an_error_of_their_own():
    at_the_limit = [
        "(" * 31 + "score > 0" + ")" * 31,
        " AND ".join(["score > 0"] * 100),
        "score IN (" + ", ".join(["1"] * 100) + ")",
        "metadata." + ".".join(["k"] * 16) + " = 1",
        "model = '" + "a" * 1_980 + "'",
    ]
    for expression in at_the_limit:
        where.parse(expression)
    for expression, says in [
        ("(" * 33 + "score > 0" + ")" * 33, "more than 32 nested"),
        (" AND ".join(["score > 0"] * 101), "more than 100 comparisons"),
        ("score IN (" + ", ".join(["1"] * 101) + ")", "more than 100 comparisons"),
        ("metadata." + ".".join(["k"] * 17) + " = 1", "more than 16 keys"),
        ("model = '" + "a" * 2_000 + "'", "at most 2,000"),
    ]:
        with pytest.raises(WhereError, match=says):
            where.parse(expression)


# -- the API -------------------------------------------------------------------------------


def test_the_api_filters_by_where(api, traces):
    response = api.get("/traces", {"where": "comment IS NOT NULL AND scores.correctness < 0.5"})
    assert response.status_code == 200, response.content
    assert sorted(row["trace_id"] for row in response.json()["results"]) == ["b", "c"]
    response = api.get("/traces", {"where": "metadata.thumbs_up = true", "model": "gpt-4o"})
    assert [row["trace_id"] for row in response.json()["results"]] == ["a"]


def test_the_api_answers_an_invalid_expression_400_with_its_position(api, traces):
    response = api.get("/traces", {"where": "score > 0 AND scroe < 1"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    [message] = error["fields"]["where"]
    assert message.startswith("unknown field 'scroe' at 1:15 (did you mean score?")
    assert message.splitlines()[1:] == ["  score > 0 AND scroe < 1", "  " + " " * 14 + "^"]


@pytest.mark.parametrize(
    "expression",
    [
        "(" * 10_000,
        "x" * 1_000_000,
        "model = 'x' OR 1=1 --",
        "metadata.a'); DROP TABLE",
        "model = '%s %d %(x)s'x",
        "metadata." + ".k" * 1_000,
    ],
)
def test_the_api_answers_hostile_expressions_400(api, traces, expression):
    response = api.get("/traces", {"where": expression})
    assert response.status_code == 400
    assert "where" in response.json()["error"]["fields"]
    assert Trace.objects.count() == 5


def test_the_api_answers_a_nul_400(api, traces):
    response = api.get("/traces", {"where": "model = 'a\x00'"})
    assert response.status_code == 400


# -- dataset rules -------------------------------------------------------------------------


def test_a_dataset_rule_with_where_adds_its_traces(traces):
    rule = {"filters": {"where": "scores.correctness < 0.5 AND comment IS NOT NULL"}}
    check_rule(rule)
    dataset = Dataset.objects.create(project=traces, name="Low correctness", rule=rule)
    assert sorted(matching_traces(dataset).values_list("key", flat=True)) == ["b", "c"]
    assert apply_rule(dataset) == 2
    assert sorted(dataset.items.values_list("trace__key", flat=True)) == ["b", "c"]


def test_a_dataset_rule_with_where_combines_with_other_filters(traces):
    rule = {"filters": {"where": "score < 0.5", "sentiment": "negative"}}
    dataset = Dataset.objects.create(project=traces, name="Negative", rule=rule)
    assert sorted(matching_traces(dataset).values_list("key", flat=True)) == ["b", "e"]


@pytest.mark.parametrize(
    ("expression", "says"),
    [
        ("scroe > 1", "unknown field 'scroe' at 1:1"),
        ("score > ", "expected a value after '>'"),
        ("(" * 10_000, "at most 2,000"),
        ("100% sure", "unexpected"),
    ],
)
def test_a_dataset_rule_with_an_invalid_expression_is_refused(expression, says):
    with pytest.raises(ValidationError) as caught:
        check_rule({"filters": {"where": expression}})
    assert says in caught.value.messages[0]
    assert "where:" in caught.value.messages[0]


# -- the review queue ----------------------------------------------------------------------


def test_the_queue_takes_where(admin_client, traces):
    everything = {"sentiment": "all", "review": "all"}
    response = admin_client.get(
        f"{ADMIN}/trace/", {**everything, "where": "scores.user_rating > 0.8 OR model = 'claude'"}
    )
    assert sorted(listed(response)) == ["a", "c", "e"]
    text = response.content.decode()
    assert "scores.user_rating &gt; 0.8 OR model = &#x27;claude&#x27;</textarea>" in text
    assert 'name="sentiment" value="all"' in text  # the box keeps the other filters


def test_the_queue_shows_the_error_of_an_invalid_where_above_an_empty_list(admin_client, traces):
    response = admin_client.get(
        f"{ADMIN}/trace/", {"sentiment": "all", "review": "all", "where": "score > <script>"}
    )
    assert response.status_code == 200
    assert listed(response) == []
    text = response.content.decode()
    assert "expected a value after &#x27;&gt;&#x27;, not &#x27;&lt;&#x27; at 1:9" in text
    assert "<script>" not in text.split("fl-where-error")[1][:200]


def test_the_queue_without_where_is_unchanged(admin_client, traces):
    response = admin_client.get(f"{ADMIN}/trace/", {"sentiment": "all", "review": "all"})
    assert sorted(listed(response)) == ["a", "b", "c", "d", "e"]
