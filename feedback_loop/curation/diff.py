"""A side-by-side, word-level diff of the model's answer and the user's version, as HTML in
which every piece of user text is escaped."""

from __future__ import annotations

import difflib
import re

from django.utils.html import conditional_escape, format_html_join
from django.utils.safestring import SafeString, mark_safe

_TOKENS = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)
# Past this many tokens a side, SequenceMatcher's cost grows too much for a page view.
MAX_TOKENS = 20_000


def side_by_side(before: str, after: str) -> tuple[SafeString, SafeString]:
    """(left, right) HTML: removed words in ``<del>`` on the left, added ones in ``<ins>`` on
    the right; unchanged text as it is. Both escaped."""
    a, b = _TOKENS.findall(before), _TOKENS.findall(after)
    if len(a) > MAX_TOKENS or len(b) > MAX_TOKENS:
        return conditional_escape(before), conditional_escape(after)
    left: list[tuple[str, str]] = []
    right: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        old, new = "".join(a[i1:i2]), "".join(b[j1:j2])
        if op == "equal":
            left.append(("", old))
            right.append(("", new))
            continue
        if old:
            left.append(("del", old))
        if new:
            right.append(("ins", new))
    return _html(left), _html(right)


def _html(parts: list[tuple[str, str]]) -> SafeString:
    # format_html_join escapes every text; the tags are ours.
    return mark_safe(
        format_html_join(
            "",
            "{}{}{}",
            (
                (mark_safe(f"<{tag}>") if tag else "", text, mark_safe(f"</{tag}>") if tag else "")
                for tag, text in parts
            ),
        )
    )


def changed_share(before: str, after: str) -> float:
    """How much of the text changed, 0 to 1, by words."""
    a, b = before.split(), after.split()
    if not a and not b:
        return 0.0
    return 1 - difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()
