"""Telling Markdown source from rendered text, so that a pair compares like with like: the
widget's edit of a rendered answer (its ``innerText``) against the Markdown the model wrote
would teach "drop the markdown", not the user's correction."""

from __future__ import annotations

from typing import Any

# Line starts that only Markdown source has (a rendered list shows bullets, not "- ").
_LINE_MARKS = ("# ", "## ", "### ", "#### ", "- ", "* ", "+ ", "> ", "```", "~~~", "|")
_INLINE_MARKS = ("**", "__", "](", "`")

NOT_PAIRED_RENDERED = (
    "Not paired: the widget sent the rendered text of a Markdown answer, so the pair would "
    "teach dropping the formatting. Give the widget the answer's source "
    "(data-feedback-source) to pair such edits."
)


def looks_like_markdown(text: str) -> bool:
    """Whether a text holds Markdown syntax: headings, list markers, quotes, code fences,
    tables, emphasis, inline code or links. One pass over its lines (linear)."""
    for line in text.splitlines():
        stripped = line.lstrip()
        if stripped.startswith(_LINE_MARKS) or _numbered(stripped):
            return True
        if any(mark in stripped for mark in _INLINE_MARKS):
            return True
    return False


def _numbered(line: str) -> bool:
    digits = len(line) - len(line.lstrip("0123456789"))
    return 0 < digits <= 3 and line[digits : digits + 2] == ". "


def unlike_edit(output: str, event: Any) -> str | None:
    """Why an edit cannot be paired with the answer, or None: the widget says it sent the
    rendered text (``metadata.text_format``), and the answer is Markdown."""
    text_format = (event.metadata or {}).get("text_format")
    if text_format == "rendered" and looks_like_markdown(output):
        return NOT_PAIRED_RENDERED
    return None
