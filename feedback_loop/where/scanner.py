"""The scanner: an expression's characters into tokens, one pass, no regular expression."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NoReturn

from feedback_loop.where.syntax import KEYWORDS, MAX_KEYS, MAX_NUMBER, OPERATORS, WhereError

# -- the scanner -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    kind: str  # field, keyword, number, string, op, "(", ")", ",", end
    text: str  # as written (a keyword in lower case)
    pos: int
    value: Any = None  # a number's or a string's value; a field's path


def is_name_start(c: str) -> bool:
    return c.isascii() and (c.isalpha() or c == "_")


def is_name(c: str) -> bool:
    return c.isascii() and (c.isalnum() or c in "_-")


_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t", "r": "\r"}


class Scanner:
    def __init__(self, source: str):
        self.s = source
        self.i = 0

    def fail(self, message: str, pos: int) -> NoReturn:
        raise WhereError(message, pos, self.s)

    def tokens(self) -> list[Token]:
        out: list[Token] = []
        s = self.s
        while True:
            while self.i < len(s) and s[self.i] in " \t\r\n":
                self.i += 1
            if self.i >= len(s):
                out.append(Token("end", "", self.i))
                return out
            c, start = s[self.i], self.i
            if c in "(),":
                self.i += 1
                out.append(Token(c, c, start))
            elif c in "'\"":
                out.append(self.string())
            elif c.isascii() and (c.isdigit() or c in "-.+"):
                out.append(self.number())
            elif is_name_start(c):
                out.append(self.name())
            elif c in "=!<>~":
                op = next((o for o in OPERATORS if s.startswith(o, self.i)), None)
                if op is None:
                    self.fail(f"unexpected character {c!r} \x00 (did you mean '!='?)", start)
                self.i += len(op)
                out.append(Token("op", "=" if op == "==" else op, start))
            else:
                self.fail(f"unexpected character {c!r} \x00", start)

    def string(self) -> Token:
        s, start = self.s, self.i
        quote = s[self.i]
        self.i += 1
        chars: list[str] = []
        while True:
            if self.i >= len(s):
                self.fail(f"unterminated string: no closing {quote} for the one \x00", start)
            c = s[self.i]
            if c == quote:
                self.i += 1
                return Token("string", s[start : self.i], start, "".join(chars))
            if c == "\\":
                nxt = s[self.i + 1 : self.i + 2]
                if nxt not in _ESCAPES:
                    self.fail(
                        "unknown escape \x00: use \\\\, \\', \\\", \\n, \\t or \\r in a string",
                        self.i,
                    )
                chars.append(_ESCAPES[nxt])
                self.i += 2
            else:
                chars.append(c)
                self.i += 1

    def number(self) -> Token:
        s, start = self.s, self.i
        i = start + (1 if s[start] in "-+" else 0)
        digits_start = i
        while i < len(s) and s[i].isascii() and s[i].isdigit():
            i += 1
        whole = i > digits_start
        if i < len(s) and s[i] == ".":
            i += 1
            frac_start = i
            while i < len(s) and s[i].isascii() and s[i].isdigit():
                i += 1
            whole = whole or i > frac_start
        if not whole:
            self.fail(f"unexpected character {s[start]!r} \x00", start)
        if i < len(s) and s[i] in "eE":
            j = i + 1 + (1 if s[i + 1 : i + 2] in ("-", "+") else 0)
            k = j
            while k < len(s) and s[k].isascii() and s[k].isdigit():
                k += 1
            if k == j:
                self.fail("a number's exponent needs digits \x00", i)
            i = k
        if i < len(s) and (is_name(s[i]) or s[i] == "."):
            self.fail(f"unexpected {s[i]!r} after a number \x00", i)
        text = s[start:i]
        self.i = i
        if len(text) > 40:
            self.fail("a number of more than 40 characters \x00", start)
        value: int | float
        if "." not in text and "e" not in text.lower() and abs(int(text)) <= MAX_NUMBER:
            value = int(text)
        else:
            value = float(text)
            if not math.isfinite(value):
                self.fail(f"the number {text} is out of range \x00", start)
        return Token("number", text, start, value)

    def name(self) -> Token:
        s, start = self.s, self.i
        path: list[str] = []
        while True:
            key_start = self.i
            if self.i < len(s) and s[self.i] in "'\"" and path:
                path.append(self.string().value)  # a quoted key: scores."regex:^a"
            else:
                while self.i < len(s) and is_name(s[self.i]):
                    self.i += 1
                if self.i == key_start:
                    self.fail("expected a key after '.' \x00", key_start)
                path.append(s[key_start : self.i])
            if len(path) > MAX_KEYS + 1:
                self.fail(f"a field of more than {MAX_KEYS} keys \x00", key_start)
            if self.i < len(s) and s[self.i] == ".":
                self.i += 1
                continue
            break
        text = s[start : self.i]
        if len(path) == 1 and path[0].lower() in KEYWORDS:
            return Token("keyword", path[0].lower(), start)
        return Token("field", text, start, tuple(path))
