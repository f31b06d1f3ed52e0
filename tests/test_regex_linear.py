"""Every regular expression the package applies to text, read from its source, is linear.

The patterns are collected from the code itself (each ``re.compile``, ``re.split``,
``re.search``... with a literal pattern, and each RegexValidator of the app's model fields), so a
new one cannot escape the check, and each goes to recheck (tests/redos, from npm), an analyser
that decides from the pattern's automaton whether matching can take super-linear time, under the
unanchored search semantics of ``re.search``, ``re.sub`` and ``re.split`` (an upper bound for
``re.match``). regexploit, the Python analyser, runs on Python 3.11 but passes the quadratic
pattern this replaced (it looks for backtracking within one match attempt, not for a match tried
again from every line start), so it cannot vouch for these.

The audit (pattern, where, why linear) is in the docstring of ``test_every_pattern_is_linear``.
"""

import ast
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "feedback_loop"
RECHECK = Path(__file__).resolve().parent / "redos"
# The re functions, and where each takes its flags among the positional arguments.
_FLAGS_AT = {"compile": 1, "search": 2, "match": 2, "fullmatch": 2, "findall": 2, "finditer": 2}
_FLAGS_AT |= {"split": 3, "sub": 4, "subn": 4}
_FLAGS = {"I": "i", "IGNORECASE": "i", "M": "m", "MULTILINE": "m", "S": "s", "DOTALL": "s"}
_IGNORED_FLAGS = {"U", "UNICODE"}  # the default for str patterns
# Before this issue (commit 6ee638b): quadratic on runs of newlines.
OLD_STRUCTURE_RE = (r"```[\w-]*|^\s*(?:[-*+>]|\d+[.)]|#{1,6})\s+|[{}\[\]\",:|`*_#]", "m")


def _flags(node) -> str:
    if node is None:
        return ""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _flags(node.left) + _flags(node.right)
    if isinstance(node, ast.Attribute) and ast.unparse(node.value) == "re":
        if node.attr in _IGNORED_FLAGS:
            return ""
        if node.attr in _FLAGS:
            return _FLAGS[node.attr]
    raise AssertionError(f"flags the audit does not know: {ast.unparse(node)}")


# Patterns the package compiles but does not write: (file, the argument). The evaluation's
# ``regex:PATTERN`` scorer runs a team's own pattern over its model's outputs, from its own
# command or code; the server API refuses it, so no remote caller can send one.
TEAMS_PATTERNS = {("feedback_loop/evaluation/scoring.py", "pattern")}


def source_patterns() -> list[tuple[str, str, str]]:
    """(where, pattern, JavaScript flags) of every re.* call in the package."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "re"
                and node.func.attr in _FLAGS_AT
            ):
                continue
            where = f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
            pattern = node.args[0] if node.args else None
            if (str(path.relative_to(PACKAGE.parent)), ast.unparse(pattern)) in TEAMS_PATTERNS:
                continue
            assert isinstance(pattern, ast.Constant) and isinstance(pattern.value, str), (
                f"{where}: a pattern the audit cannot read; use a literal"
            )
            flags = next((k.value for k in node.keywords if k.arg == "flags"), None)
            position = _FLAGS_AT[node.func.attr]
            if flags is None and len(node.args) > position:
                flags = node.args[position]
            found.append((where, pattern.value, _flags(flags)))
    return found


def validator_patterns() -> list[tuple[str, str, str]]:
    from django.apps import apps
    from django.core.validators import RegexValidator

    found = []
    for model in apps.get_app_config("feedback_loop").get_models():
        for field in model._meta.get_fields():
            for validator in getattr(field, "validators", []):
                if isinstance(validator, RegexValidator):
                    flags = "i" if validator.regex.flags & re.IGNORECASE else ""
                    where = f"{model.__name__}.{field.name} ({type(validator).__name__})"
                    found.append((where, validator.regex.pattern, flags))
    return found


def as_javascript(pattern: str) -> str:
    """The few Python spellings JavaScript lacks; refuse what has no equivalent."""
    assert "(?P=" not in pattern and "(?#" not in pattern, pattern
    return pattern.replace("(?P<", "(?<").replace(r"\Z", "$").replace(r"\A", "^")


def recheck(patterns: list[tuple[str, str]]) -> list[dict]:
    node = shutil.which("node")
    if node is None or not (RECHECK / "node_modules" / "recheck").is_dir():
        message = "recheck is not installed: make install-redos (node and npm needed)."
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    payload = [{"source": as_javascript(p), "flags": f} for p, f in patterns]
    done = subprocess.run(
        [node, "check.mjs"],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        cwd=RECHECK,
        timeout=240,
        check=True,
    )
    return json.loads(done.stdout)


def test_the_audit_finds_the_patterns_it_is_about():
    wheres = {where.split(":")[0] for where, _p, _f in source_patterns()}
    assert {"feedback_loop/triage.py", "feedback_loop/origins.py"} <= wheres
    assert any("ErrorMode.slug" in where for where, _p, _f in validator_patterns())


def test_the_analyser_finds_the_quadratic_pattern_this_replaced():
    [result] = recheck([OLD_STRUCTURE_RE])
    assert result["status"] == "vulnerable"
    assert result["complexity"]["type"] == "polynomial" and result["complexity"]["degree"] == 2
    assert "\\n" in result["attack"]


@pytest.mark.timeout(300)
def test_every_pattern_is_linear():
    """Every pattern, where it is, and why it is linear (recheck's verdict, and the reason):

    - triage.REFUSAL_RE: alternatives of fixed phrases, no repetition; and it reads only the
      first REFUSAL_WINDOW (300) characters of an answer.
    - origins._HOST_RE: labels of [a-z0-9-] between mandatory dots; a label's repetition and
      the next label cannot take the same character, so there is one way to match.
    - origins parse_allowlist ``[\\s,]+``, validate_allowlist ``[\\r\\n,]+`` and ``\\s``: one
      character class, repeated at most once per position, with nothing after it.
    - conf._RATE_RE (a setting, not user text): anchored, and \\s and \\d runs are disjoint.
    - admin/diff.py _TOKENS ``\\s+|\\w+|[^\\w\\s]``: three disjoint classes, one token each.
    - ErrorMode.slug's Django slug validator: one class repeated, anchored.

    The structure rule of triage (list markers, fences, punctuation) is plain passes now, see
    triage._words; the schema's NUL pattern (api/schema_view.py) is a string in the OpenAPI
    document for clients, never matched by the package.
    """
    patterns = source_patterns() + validator_patterns()
    results = recheck([(pattern, flags) for _where, pattern, flags in patterns])
    verdicts = {
        where: (result["status"], (result["complexity"] or {}).get("type"), result["attack"])
        for (where, _p, _f), result in zip(patterns, results, strict=True)
    }
    unsafe = {where: verdict for where, verdict in verdicts.items() if verdict[0] != "safe"}
    assert not unsafe
    assert all(result["checker"] == "automaton" for result in results)
