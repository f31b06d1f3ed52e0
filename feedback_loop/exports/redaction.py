"""Redaction on export: ``FEEDBACK_LOOP["EXPORT_REDACTOR"]`` (a dotted path or a callable,
``(text) -> text``) is applied to every text an export writes. The built-in one,
``feedback_loop.exports.redaction.redact_pii``, replaces e-mail addresses, phone numbers and
card numbers (those that pass the Luhn check) with ``[email]``, ``[phone]`` and ``[card]``."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

# Each pattern consumes what it matches without backtracking into itself: linear on any text.
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){1,8}")
# 13 to 19 digits, optionally in groups split by single spaces or hyphens.
_CARD = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![ -]?[0-9])")
# An optional +country code, then 7 to 14 more digits in groups (spaces, dots, hyphens,
# parentheses around an area code).
_PHONE = re.compile(
    r"(?<![0-9A-Za-z])(?<![0-9][ .-])(?:\+[0-9]{1,3}[ .-]?)?(?:\([0-9]{1,4}\)[ .-]?)?"
    r"[0-9](?:[ .-]?[0-9]){6,13}(?![ .-]?[0-9])"
)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _card(match: re.Match) -> str:
    digits = re.sub(r"[ -]", "", match.group())
    return "[card]" if _luhn(digits) else match.group()


def _phone(match: re.Match) -> str:
    found = match.group()
    digits = sum(ch.isdigit() for ch in found)
    # A plain number or a date is not a phone number: one needs a "+", a separator or 10 digits.
    looks_like_one = found.startswith("+") or digits >= 10 or not found.isdigit()
    if _DATE.fullmatch(found) or not looks_like_one:
        return found
    return "[phone]"


def redact_pii(text: str) -> str:
    """E-mail addresses, card numbers (Luhn-valid) and phone numbers replaced by a label."""
    text = _EMAIL.sub("[email]", text)
    text = _CARD.sub(_card, text)
    return _PHONE.sub(_phone, text)


def redacting(redactor: Callable[[str], str] | None) -> Callable[[Any], Any]:
    """A function that applies ``redactor`` to every string inside a value (lists, dicts)."""
    if redactor is None:
        return lambda value: value

    def apply(value: Any) -> Any:
        if isinstance(value, str):
            return redactor(value)
        if isinstance(value, list):
            return [apply(item) for item in value]
        if isinstance(value, dict):
            return {key: apply(item) for key, item in value.items()}
        return value

    return apply
