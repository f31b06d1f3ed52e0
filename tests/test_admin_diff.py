"""The edit diff on a trace's page and in review mode: a shortest word diff for ordinary edits,
and for any pair of texts up to the capture limits a bounded amount of work (a budget, asserted
here as work units, never as time), coarsened to lines, paragraphs or the whole text beyond it."""

import html
import random
import re
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from feedback_loop import record_trace
from feedback_loop.admin import trace_page as curation_admin
from feedback_loop.admin.diff import (
    LINES,
    PARAGRAPHS,
    WHOLE,
    WORDS,
    WORK_BUDGET,
    changed_share,
    diff,
    edit_script,
    side_by_side,
)
from feedback_loop.admin.trace_page import PREFILL_EDITS, SHOWN_EDITS
from feedback_loop.conf import app_settings
from feedback_loop.internal.pipeline import process_events
from feedback_loop.models import FeedbackEvent, Trace

pytestmark = pytest.mark.django_db

ADMIN = "/admin/feedback_loop"
XSS = '<script>alert("x")</script><img src=x onerror="alert(1)">'
LIMIT = 65_536  # MAX_TEXT_CHARS, the longest text and output an event may carry


# -- the corpus: pathological pairs at the capture limits ----------------------------------------


def _vocabulary(seed: int, size: int) -> list[str]:
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choices(letters, k=rng.randint(2, 9))) for _ in range(size)]


def _text(seed: int, words: list[str], chars: int, per_line: int = 0) -> str:
    rng = random.Random(seed)
    parts, size = [], 0
    while size < chars:
        end = "\n" if per_line and len(parts) % per_line == per_line - 1 else " "
        parts.append(rng.choice(words) + end)
        size += len(parts[-1])
    return "".join(parts)[:chars]


def _shuffled(text: str, seed: int, sep: str) -> str:
    parts = text.split(sep)
    random.Random(seed).shuffle(parts)
    return sep.join(parts)


_WORDS = _vocabulary(1, 400)


def _numbered(end: str) -> str:
    """Distinct short lines (or paragraphs), as many as fit in LIMIT."""
    text = "".join(f"{w} {i}{end}" for i, w in enumerate(_text(2, _WORDS, LIMIT).split()))
    return text[: text.rfind(end, 0, LIMIT - len(end) + 1) + len(end)]


_DISTINCT_LINES = _numbered("\n")
_DISTINCT_PARAGRAPHS = _numbered("\n\n")
_GIANT_LINE = _text(3, _WORDS, LIMIT)
_TWO_LETTERS = _text(4, ["a", "b"], LIMIT)
_LINES = "".join(f"Line {i} of the answer, which says one thing or another.\n" for i in range(1100))
_LINES = _LINES[: _LINES.rfind("\n", 0, LIMIT) + 1]
_TENTH_REWRITTEN = "".join(
    f"Rewritten {i}: quite different words entirely here now.\n" if i % 10 == 0 else line
    for i, line in enumerate(_LINES.splitlines(keepends=True))
)
_PARAGRAPH_LIST = [
    "".join(f"Paragraph {p}, line {n}: the model wrote this sentence.\n" for n in range(8))
    for p in range(130)
]
_PARAGRAPHS = "\n".join(_PARAGRAPH_LIST)  # a blank line between paragraphs
_THIRD_REWRITTEN = "\n".join(
    "".join(f"New text {p}.{n} written by the user instead.\n" for n in range(8))
    if p % 3 == 0
    else paragraph
    for p, paragraph in enumerate(_PARAGRAPH_LIST)
)

# (name, the model's answer, the user's edit, the level the diff falls back to). Under 20,000
# tokens a side the old SequenceMatcher diff ran on them for seconds to minutes (8 KB of "z "
# against other words: 24 s); over it, it showed no diff at all.
DIFF_PATHOLOGIES = [
    ("no shared words", "z " * (LIMIT // 2), _text(5, ["alpha", "beta", "gamma"], LIMIT), WHOLE),
    ("no shared words, 8 KB", "z " * 4096, _text(5, ["alpha", "beta", "gamma"], 8192), WHOLE),
    (
        "20 KB edit",
        "Paris is the capital.\nSince the Middle Ages.\n",
        _text(6, _WORDS[:40], 20_000, 12),
        WHOLE,
    ),
    ("many lines", "z\n" * (LIMIT // 2), "y\n" * (LIMIT // 2), WHOLE),
    ("many lines, shuffled", _DISTINCT_LINES, _shuffled(_DISTINCT_LINES, 7, "\n"), WHOLE),
    ("one giant line, its words shuffled", _GIANT_LINE, _shuffled(_GIANT_LINE, 8, " "), WHOLE),
    ("random text", _text(9, _WORDS[:6], LIMIT, 10), _text(10, _WORDS[:6], LIMIT, 10), WHOLE),
    ("two letters, shuffled", _TWO_LETTERS, _shuffled(_TWO_LETTERS, 11, " "), WHOLE),
    # The worst case: the words, the lines and the paragraphs each spend their share.
    (
        "many paragraphs, shuffled",
        _DISTINCT_PARAGRAPHS,
        _shuffled(_DISTINCT_PARAGRAPHS, 12, "\n\n"),
        WHOLE,
    ),
    ("every tenth line rewritten", _LINES, _TENTH_REWRITTEN, LINES),
    ("every third paragraph rewritten", _PARAGRAPHS, _THIRD_REWRITTEN, PARAGRAPHS),
]
PATHOLOGY_IDS = [name for name, *_ in DIFF_PATHOLOGIES]


def test_the_corpus_is_at_the_capture_limits():
    assert app_settings.MAX_TEXT_CHARS == LIMIT
    for name, before, after, _level in DIFF_PATHOLOGIES:
        assert len(before) <= LIMIT and len(after) <= LIMIT, name
        assert max(len(before), len(after)) >= 8_000, name


def plain(markup: str) -> str:
    """The text a diff side shows, without our tags."""
    return html.unescape(re.sub(r"</?(?:del|ins)>", "", markup))


# -- the diff itself ---------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "before", "after", "level"), DIFF_PATHOLOGIES, ids=PATHOLOGY_IDS)
def test_pathological_pairs_spend_at_most_the_budget_and_fall_back(name, before, after, level):
    result = diff(before, after)
    assert result.budget == WORK_BUDGET
    assert result.work <= WORK_BUDGET
    assert result.level == level
    assert result.coarsened and result.note
    assert plain(result.left) == before and plain(result.right) == after


def test_the_worst_case_spends_about_the_whole_budget_and_no_more():
    _name, before, after, _level = DIFF_PATHOLOGIES[
        PATHOLOGY_IDS.index("many paragraphs, shuffled")
    ]
    result = diff(before, after)
    assert 0.95 * WORK_BUDGET < result.work <= WORK_BUDGET


@pytest.mark.parametrize("budget", [0, 1, 10, 1_000, 30_000])
def test_any_budget_is_kept(budget):
    for _name, before, after, _level in DIFF_PATHOLOGIES[3::2]:
        result = diff(before, after, budget=budget)
        assert result.work <= budget
        assert plain(result.left) == before and plain(result.right) == after
    assert diff("a b", "a c", budget=0).level == WHOLE


def test_an_ordinary_edit_is_a_word_diff():
    result = diff("Hamlet was written by Goethe, in 1601.", "Hamlet was written by Shakespeare.")
    assert result.level == WORDS and not result.coarsened and result.note == ""
    assert result.left == "Hamlet was written by <del>Goethe, in 1601</del>."
    assert result.right == "Hamlet was written by <ins>Shakespeare</ins>."
    assert result.work < 100
    assert side_by_side("a b", "a c") == ("a <del>b</del>", "a <ins>c</ins>")
    assert diff("same", "same").left == "same" and diff("", "new").right == "<ins>new</ins>"


def test_a_long_answer_with_a_few_words_fixed_stays_a_word_diff():
    before = _text(12, _WORDS, LIMIT)
    words = before.split(" ")
    for k in range(10):
        words[5 + k * (len(words) // 10)] = "FIXED"
    result = diff(before, " ".join(words))
    assert result.level == WORDS and result.work <= WORK_BUDGET
    assert result.right.count("<ins>FIXED</ins>") == 10
    assert result.left.count("<del>") == 10


def test_coarse_levels_mark_whole_lines_and_paragraphs():
    lines = diff(_LINES, _TENTH_REWRITTEN)
    assert lines.note == "Shown line by line: the edit changes too much for a word diff."
    assert "<del>Line 0 of the answer, which says one thing or another.\n</del>" in lines.left
    assert "<ins>Rewritten 0: quite different words entirely here now.\n</ins>" in lines.right
    assert "\nLine 1 of the answer" not in lines.left.split("</del>")[0]  # unchanged lines: plain
    paragraphs = diff(_PARAGRAPHS, _THIRD_REWRITTEN)
    assert paragraphs.note.startswith("Shown paragraph by paragraph")
    assert paragraphs.right.startswith("<ins>New text 0.0 written by the user instead.\n")


def test_user_text_is_escaped_at_every_level():
    pairs = {WORDS: ("Hamlet by Goethe.", "Hamlet by Shakespeare.")}
    for _name, before, after, level in DIFF_PATHOLOGIES:
        pairs.setdefault(level, (before, after))
    levels = set()
    for before, after in pairs.values():
        for left_text, right_text in ((XSS + before, after), (before, after + XSS)):
            result = diff(left_text, right_text)
            levels.add(result.level)
            for side in (result.left, result.right):
                assert "<script" not in side and "<img" not in side
            assert plain(result.left) == left_text and plain(result.right) == right_text
    assert levels == {WORDS, LINES, PARAGRAPHS, WHOLE}


def _lcs(a: list[str], b: list[str]) -> int:
    row = [0] * (len(b) + 1)
    for x in a:
        previous, row = row, [0]
        for j, y in enumerate(b):
            row.append(previous[j] + 1 if x == y else max(previous[j + 1], row[j]))
    return row[-1]


def test_the_word_diff_is_a_shortest_edit_script():
    rng = random.Random(13)
    for _ in range(500):
        a = rng.choices("abcd"[: rng.randint(1, 4)], k=rng.randint(0, 14))
        b = rng.choices("abcd"[: rng.randint(1, 4)], k=rng.randint(0, 14))
        script, _work = edit_script(a, b, 10**6)
        i = j = kept = 0
        for tag, i1, i2, j1, j2 in script:
            assert (i1, j1) == (i, j)
            if tag == "equal":
                assert a[i1:i2] == b[j1:j2]
                kept += i2 - i1
            else:
                assert (i1 == i2) if tag == "insert" else (j1 == j2)
            i, j = i2, j2
        assert (i, j) == (len(a), len(b))
        assert kept == _lcs(a, b)


def test_changed_share_is_bounded_too():
    assert changed_share("a b c d", "a b c e") == pytest.approx(0.25)
    assert changed_share("", "") == 0.0
    assert changed_share("z " * (LIMIT // 2), "y " * (LIMIT // 2)) == 1.0
    assert 0 < changed_share(_LINES, _TENTH_REWRITTEN) < 0.2


# -- the pages ---------------------------------------------------------------------------------

EDITS = 200
# The answer and 200 edits of it that spend the whole budget each (the worst case).
ANSWER = _DISTINCT_PARAGRAPHS


@pytest.fixture
def edited_trace(project):
    """A disliked trace (so in the review queue) with 200 pathological edits of its answer."""
    trace = record_trace(project, "edited", input="Tell me everything.", output=ANSWER)
    now = timezone.now()
    FeedbackEvent.objects.create(
        project=project,
        event_id=uuid.uuid4(),
        trace_key="edited",
        kind="thumbs",
        value=-1,
        timestamp=now - timedelta(hours=1),
    )
    process_events(project.events.values_list("pk", flat=True))
    for i in range(EDITS):
        FeedbackEvent.objects.create(
            project=project,
            event_id=uuid.uuid4(),
            trace_key="edited",
            kind="edit",
            text=_shuffled(ANSWER, 100 + i, "\n\n"),
            user_id=f"editor{i}",
            timestamp=now - timedelta(minutes=EDITS - i),
            processed_at=now,  # the pipeline's cost is not this test's
        )
    return trace


def _assert_bounded_diffs(response, trace: Trace):
    assert response.status_code == 200
    diffs = response.context["diffs"]
    assert len(diffs) == SHOWN_EDITS
    assert sum(d["diff"].work for d in diffs) <= SHOWN_EDITS * WORK_BUDGET
    # The newest ones, oldest first.
    newest = range(200 - SHOWN_EDITS, 200)
    assert [d["event"].user_id for d in diffs] == [f"editor{i}" for i in newest]
    text = response.content.decode()
    assert f"{200 - SHOWN_EDITS} older edits are not diffed here." in text
    url = response.context["edits_url"]
    assert f'href="{html.escape(url)}"' in text
    assert "kind__exact=edit" in url and f"project__id__exact={trace.project_id}" in url
    assert "Shown whole: the edit changes too much" in text
    assert text.count('class="fl-diff-note"') == SHOWN_EDITS
    return url


def test_a_trace_with_200_pathological_edits_renders_with_bounded_work(admin_client, edited_trace):
    response = admin_client.get(f"{ADMIN}/trace/{edited_trace.pk}/change/")
    url = _assert_bounded_diffs(response, edited_trace)
    listed = admin_client.get(url)
    assert listed.status_code == 200
    assert listed.context["cl"].result_count == EDITS


def test_review_mode_renders_a_trace_with_pathological_edits(admin_client, edited_trace):
    response = admin_client.get(f"{ADMIN}/trace/review/")
    assert response.context["review"].trace == edited_trace
    _assert_bounded_diffs(response, edited_trace)


def test_a_trace_with_few_edits_shows_them_all_without_a_link(admin_client, project):
    trace = record_trace(project, "few", input="q", output="Hamlet was written by Goethe.")
    for i, text in enumerate(["Hamlet was written by Shakespeare.", XSS]):
        FeedbackEvent.objects.create(
            project=project,
            event_id=uuid.uuid4(),
            trace_key="few",
            kind="edit",
            text=text,
            timestamp=timezone.now() - timedelta(minutes=5 - i),
        )
    response = admin_client.get(f"{ADMIN}/trace/{trace.pk}/change/")
    text = response.content.decode()
    assert [d["diff"].level for d in response.context["diffs"]] == [WORDS, WORDS]
    assert "<ins>Shakespeare</ins>" in text
    assert "<script>alert" not in text and "&lt;script&gt;" in text
    assert "not diffed here" not in text and 'class="fl-diff-note"' not in text


def test_the_review_form_prefill_compares_a_bounded_number_of_edits(
    admin_client, edited_trace, monkeypatch
):
    compared = []
    squash = curation_admin.squash
    monkeypatch.setattr(curation_admin, "squash", lambda text: compared.append(1) or squash(text))
    url = f"{ADMIN}/trace/{edited_trace.pk}/change/"
    response = admin_client.get(url)
    form = response.context["inline_admin_formsets"][0].formset.forms[0]
    assert form.initial["expected_output"] == _shuffled(ANSWER, 100 + EDITS - 1, "\n\n")
    assert len(compared) == 2  # the answer and the newest edit, once for the whole page
    # 50 newer edits that only change whitespace: the form looks at PREFILL_EDITS of them.
    now = timezone.now()
    FeedbackEvent.objects.bulk_create(
        FeedbackEvent(
            project=edited_trace.project,
            event_id=uuid.uuid4(),
            trace_key="edited",
            kind="edit",
            text=ANSWER + " " * (i + 1),
            timestamp=now + timedelta(seconds=i),
            processed_at=now,
        )
        for i in range(50)
    )
    compared.clear()
    form = admin_client.get(url).context["inline_admin_formsets"][0].formset.forms[0]
    assert len(compared) == 1 + PREFILL_EDITS
    assert not form.initial.get("expected_output")
