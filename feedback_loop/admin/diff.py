"""A side-by-side diff of the model's answer and the user's version, as HTML in which every piece
of user text is escaped.

Its cost is bounded for any input: Myers' O(ND) diff runs with a work budget (diagonals visited
plus tokens compared). When the words need more than their share, the diff is made again line by
line, then paragraph by paragraph, each with what is left of the budget, and past that the
whole text is shown as replaced. The result says which level it used and the work it spent.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from math import isqrt

from django.utils.html import format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

# Work units (one diagonal visited or one token compared) one diff may spend, all levels
# together. A unit costs about 0.7 us on a 2-core machine: under 0.2 s a diff whatever the texts.
# The words get half: enough for about 450 changed tokens (Myers' cost grows as their square).
WORK_BUDGET = 100_000

WORDS, LINES, PARAGRAPHS, WHOLE = "words", "lines", "paragraphs", "whole"
NOTES = {
    LINES: _("Shown line by line: the edit changes too much for a word diff."),
    PARAGRAPHS: _(
        "Shown paragraph by paragraph: the edit changes too much for a word or line diff."
    ),
    WHOLE: _("Shown whole: the edit changes too much for a word, line or paragraph diff."),
}

# Every alternative consumes what it matches without backtracking: linear on any text.
_TOKENS = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)


def _words(text: str) -> list[str]:
    return _TOKENS.findall(text)


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _paragraphs(text: str) -> list[str]:
    """Runs of non-blank lines, each with the blank lines after it."""
    paragraphs: list[str] = []
    current: list[str] = []
    blank_seen = False
    for line in text.splitlines(keepends=True):
        blank = not line.strip()
        if current and blank_seen and not blank:
            paragraphs.append("".join(current))
            current = []
        current.append(line)
        blank_seen = blank
    if current:
        paragraphs.append("".join(current))
    return paragraphs


_LEVELS = ((WORDS, _words), (LINES, _lines), (PARAGRAPHS, _paragraphs))


@dataclass(frozen=True)
class Diff:
    left: SafeString
    right: SafeString
    level: str  # WORDS, LINES, PARAGRAPHS or WHOLE
    work: int
    budget: int

    @property
    def coarsened(self) -> bool:
        return self.level != WORDS

    @property
    def note(self) -> str:
        return str(NOTES.get(self.level, ""))


def diff(before: str, after: str, budget: int = WORK_BUDGET) -> Diff:
    """The finest diff of ``before`` and ``after`` that ``budget`` affords."""
    level, a, b, script, spent = _finest(before, after, budget)
    if script is None:
        left, right = _html([("del", [before])]), _html([("ins", [after])])
    else:
        left, right = _render(a, b, script)
    return Diff(left, right, level, spent, budget)


def side_by_side(before: str, after: str) -> tuple[SafeString, SafeString]:
    """(left, right) HTML: removed text in ``<del>`` on the left, added text in ``<ins>`` on
    the right; unchanged text as it is. Both escaped."""
    result = diff(before, after)
    return result.left, result.right


def changed_share(before: str, after: str) -> float:
    """How much of the text changed, 0 to 1, by words (whole lines or paragraphs count when
    the diff had to be coarsened)."""
    total = len(before.split()) + len(after.split())
    if not total:
        return 0.0
    _level, a, b, script, _spent = _finest(before, after, WORK_BUDGET)
    kept = 0
    for tag, i1, i2, j1, j2 in script or []:
        if tag == "equal":
            kept += sum(len(t.split()) for t in a[i1:i2]) + sum(len(t.split()) for t in b[j1:j2])
    return 1 - kept / total


def _finest(
    before: str, after: str, budget: int
) -> tuple[str, list[str], list[str], Script | None, int]:
    """(level, tokens before, tokens after, script or None for WHOLE, work spent)."""
    spent = 0
    for index, (level, split) in enumerate(_LEVELS):
        a, b = split(before), split(after)
        left_over = budget - spent
        # A level that fails spends its whole share: keep some for the coarser ones.
        allowance = left_over if index == len(_LEVELS) - 1 else left_over // 2
        script, work = edit_script(a, b, allowance)
        spent += work
        if script is None:
            continue
        if level != WORDS and not any(tag == "equal" for tag, *_ in script):
            break  # nothing in common at this level: the same as replaced whole
        return level, a, b, script, spent
    return WHOLE, [], [], None, spent


# -- the edit script ---------------------------------------------------------------------------

Script = list[tuple[str, int, int, int, int]]


def edit_script(a: list[str], b: list[str], allowance: int) -> tuple[Script | None, int]:
    """A shortest edit script from ``a`` to ``b`` as (tag, i1, i2, j1, j2) runs like difflib's
    opcodes (tags: equal, delete, insert), and the work it took; None for the script when
    ``allowance`` was not enough."""
    # Small ints compare in constant time; two long lines may not.
    ids = {token: i for i, token in enumerate(set(a).union(b))}
    x, y = list(map(ids.__getitem__, a)), list(map(ids.__getitem__, b))
    n, m = len(x), len(y)
    # The common prefix and suffix cost one comparison a token, like Myers' own snakes.
    work, start = 0, 0
    while start < min(n, m) and work < allowance and x[start] == y[start]:
        start, work = start + 1, work + 1
    end = 0
    while end < min(n, m) - start and work < allowance and x[n - 1 - end] == y[m - 1 - end]:
        end, work = end + 1, work + 1
    middle, more = _myers(x[start : n - end], y[start : m - end], allowance - work)
    work += more
    if middle is None:
        return None, work
    script: Script = [("equal", 0, start, 0, start)] if start else []
    script += [(t, i1 + start, i2 + start, j1 + start, j2 + start) for t, i1, i2, j1, j2 in middle]
    if end:
        script.append(("equal", n - end, n, m - end, m))
    return script, work


def _myers(a: list[int], b: list[int], allowance: int) -> tuple[Script | None, int]:
    n, m = len(a), len(b)
    if not n or not m:
        return ([("delete", 0, n, 0, 0)] if n else []) + ([("insert", n, n, 0, m)] if m else []), 0
    # Step d visits d + 1 diagonals, and a script deletes or inserts at least every token that
    # one side has more often than the other: give up at once when even that would not fit.
    counts_a, counts_b = Counter(a), Counter(b)
    fewest = (counts_a - counts_b).total() + (counts_b - counts_a).total()
    if (fewest + 1) * (fewest + 2) // 2 > allowance:
        return None, 0
    limit = min(n + m, isqrt(2 * allowance))
    # v[k]: the furthest column reached on diagonal k; negative k index from the end.
    v = [0] * (2 * limit + 3)
    trace: list[tuple[list[int], list[int]]] = []
    work = 0
    for d in range(limit + 1):
        if work + d + 1 > allowance:
            return None, work
        work += d + 1
        trace.append((v[: d + 2], v[-d - 1 :]))
        for k in range(-d, d + 1, 2):
            # Down from diagonal k + 1 (an insert) or right from k - 1 (a delete), whichever
            # got further.
            down = k == -d or (k != d and v[k - 1] < v[k + 1])
            col = v[k + 1] if down else v[k - 1] + 1
            row = col - k
            if col < n and row < m and work < allowance and a[col] == b[row]:
                # A snake: follow it as far as the texts and the budget allow. Most diagonals
                # have none, so this costs them nothing but the first comparison.
                start, stop = col, min(n, col + m - row, col + allowance - work)
                col, row = col + 1, row + 1
                while col < stop and a[col] == b[row]:
                    col += 1
                    row += 1
                work += col - start
            v[k] = col
            if col >= n and row >= m:
                return _backtrack(trace, n, m), work - (d - k) // 2
    return None, work


def _backtrack(trace: list[tuple[list[int], list[int]]], n: int, m: int) -> Script:
    runs: Script = []
    col, row = n, m
    for d in range(len(trace) - 1, -1, -1):
        below, above = trace[d]  # v[0 .. d + 1] and v[-d - 1 .. -1] before step d
        k = col - row

        def at(k: int) -> int:
            return below[k] if k >= 0 else above[k]  # noqa: B023 (used in this step only)

        down = k == -d or (k != d and at(k - 1) < at(k + 1))
        prev_k = k + 1 if down else k - 1
        prev_col = at(prev_k)
        prev_row = prev_col - prev_k
        mid_col, mid_row = (prev_col, prev_row + 1) if down else (prev_col + 1, prev_row)
        if col > mid_col:
            runs.append(("equal", mid_col, col, mid_row, row))
        if d:
            if down:
                runs.append(("insert", prev_col, prev_col, prev_row, mid_row))
            else:
                runs.append(("delete", prev_col, mid_col, prev_row, prev_row))
        col, row = prev_col, prev_row
    runs.reverse()
    merged: Script = []
    for tag, i1, i2, j1, j2 in runs:
        if merged and merged[-1][0] == tag:
            merged[-1] = (tag, merged[-1][1], i2, merged[-1][3], j2)
        else:
            merged.append((tag, i1, i2, j1, j2))
    return merged


# -- HTML ----------------------------------------------------------------------------------------


def _render(a: list[str], b: list[str], script: Script) -> tuple[SafeString, SafeString]:
    left: list[tuple[str, list[str]]] = []
    right: list[tuple[str, list[str]]] = []
    for tag, i1, i2, j1, j2 in script:
        if tag == "equal":
            _add(left, "", a[i1:i2])
            _add(right, "", b[j1:j2])
        elif tag == "delete":
            _add(left, "del", a[i1:i2])
        else:
            _add(right, "ins", b[j1:j2])
    return _html(left), _html(right)


def _add(parts: list[tuple[str, list[str]]], tag: str, tokens: list[str]) -> None:
    # A replaced stretch alternates deletes and inserts: one <del> for all of it on the left.
    if parts and parts[-1][0] == tag:
        parts[-1][1].extend(tokens)
    else:
        parts.append((tag, list(tokens)))


def _html(parts: list[tuple[str, list[str]]]) -> SafeString:
    # format_html_join escapes every text; the tags are ours.
    return mark_safe(
        format_html_join(
            "",
            "{}{}{}",
            (
                (
                    mark_safe(f"<{tag}>") if tag else "",
                    "".join(texts),
                    mark_safe(f"</{tag}>") if tag else "",
                )
                for tag, texts in parts
                if any(texts)
            ),
        )
    )
