"""promptfoo (npm, pinned in package.json) runs the `promptfoo` export as its tests, with the
built-in echo provider and the prompt {{input}}: the results hold one graded test per row, each
with its assertions, some passing and some failing (never "all passed" with nothing checked).
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
PROMPTFOO = HERE / "node_modules" / ".bin" / "promptfoo"
ALL_ASSERTIONS = "all assertions passed"


def test_promptfoo_rows_are_tests_with_vars_and_assertions(exports):
    rows = exports("promptfoo")
    for number, row in enumerate(rows, 1):
        where = f"promptfoo.jsonl row {number}"
        vars_ = row.get("vars")
        assert isinstance(vars_, dict), f"{where}: no vars"
        assert isinstance(vars_.get("id"), str) and row.get("description") == vars_["id"], where
        assert isinstance(vars_.get("input"), str) and vars_["input"].strip(), f"{where}: input"
        messages = json.loads(vars_["messages"])
        assert isinstance(messages, list) and messages[-1]["role"] == "user", f"{where}: messages"
        assert vars_["input"] == messages[-1]["content"], f"{where}: input is not the last turn"
        asserts = row.get("assert")
        assert isinstance(asserts, list) and asserts, f"{where}: no assertion"
        for assertion in asserts:
            assert isinstance(assertion.get("type"), str), f"{where}: assertion without a type"
            assert assertion.get("value") not in (None, ""), f"{where}: assertion on nothing"


@pytest.fixture(scope="module")
def promptfoo_results(exports_dir, tmp_path_factory):
    if not PROMPTFOO.exists():
        pytest.fail(f"promptfoo is not installed: cd {HERE} && npm ci")
    work = tmp_path_factory.mktemp("promptfoo")
    config = {
        "description": "feedback-loop promptfoo export",
        "prompts": ["{{input}}"],
        "providers": ["echo"],
        "tests": f"file://{exports_dir / 'promptfoo.jsonl'}",
    }
    (work / "promptfooconfig.json").write_text(json.dumps(config, indent=2))
    env = {
        **os.environ,
        "PROMPTFOO_DISABLE_TELEMETRY": "1",
        "PROMPTFOO_DISABLE_UPDATE": "1",
        "PROMPTFOO_DISABLE_REMOTE_GENERATION": "1",
        "PROMPTFOO_DISABLE_SHARING": "1",
        "PROMPTFOO_CONFIG_DIR": str(work / "home"),  # its database and settings, not ~/.promptfoo
        "PROMPTFOO_CACHE_ENABLED": "false",
        "NO_COLOR": "1",
    }
    node = shutil.which("node")
    assert node, "node is not on PATH"
    done = subprocess.run(
        [
            str(PROMPTFOO), "eval",
            "-c", str(work / "promptfooconfig.json"),
            "-o", str(work / "results.json"),
            "--no-cache", "--no-progress-bar", "--no-table",
        ],
        cwd=work, env=env, capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    # promptfoo exits 100 when some test failed, as some must here.
    assert done.returncode in (0, 100), f"promptfoo eval failed:\n{done.stdout}\n{done.stderr}"
    return json.loads((work / "results.json").read_text())["results"]


def test_promptfoo_grades_one_test_per_row_each_with_its_assertions(exports, promptfoo_results):
    rows = exports("promptfoo")
    results = promptfoo_results["results"]
    assert len(results) == len(rows), f"promptfoo ran {len(results)} tests for {len(rows)} rows"
    assert sorted(r["testCase"]["description"] for r in results) == sorted(
        row["description"] for row in rows
    )
    for result in results:
        name = result["testCase"]["description"]
        assert result["testCase"].get("assert"), f"{name}: promptfoo saw no assertion"
        components = (result.get("gradingResult") or {}).get("componentResults") or []
        assert components, f"{name}: nothing was graded"
        assert all("assertion" in c and "pass" in c for c in components), name
        assert result["vars"]["input"], f"{name}: the prompt variable is empty"
        assert result["response"]["output"] == result["vars"]["input"], "echo answers its prompt"
        assert result.get("failureReason") != 2, f"{name}: promptfoo error {result.get('error')}"


def test_promptfoo_results_hold_real_passes_and_failures(promptfoo_results):
    stats = promptfoo_results["stats"]
    assert stats["errors"] == 0, stats
    # The echo provider answers with the input: an item expecting its input passes, one expecting
    # an answer fails. All passed would mean the assertions check nothing.
    assert stats["successes"] >= 1, f"no test passed: {stats}"
    assert stats["failures"] >= 1, f"no test failed, the assertions are vacuous: {stats}"
    passed = [r for r in promptfoo_results["results"] if r["success"]]
    for result in passed:
        assert result["gradingResult"]["reason"] != "No assertions", result["testCase"]
