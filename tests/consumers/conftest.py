"""The consumer job: the export files fed to TRL, OpenAI's checks, inspect-ai and promptfoo.

Run with the job's own virtualenv and its pytest.ini (see README.md):

    tests/consumers/.venv/bin/pytest tests/consumers --exports DIR     (or EXPORTS_DIR=DIR)

DIR holds <format>.jsonl (dpo, dpo-text, openai-chat, openai-preference, inspect, promptfoo,
jsonl) and openai-*.manifest.jsonl. Without --exports the tests run on the hand-made files of
sample_exports.py, and the header says so.

The main suite (the project's .venv, pyproject's pytest settings) walks into this folder too: there
these tests are not collected, since their libraries live in this job's virtualenv only.
"""

import os
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def _own_config(config):
    return config.inipath is not None and Path(config.inipath).resolve().parent == HERE


def pytest_ignore_collect(collection_path, config):
    if not _own_config(config):
        return True
    return None


def pytest_configure(config):
    import importlib.util

    if _own_config(config):
        missing = [m for m in ("trl", "inspect_ai", "tiktoken") if not importlib.util.find_spec(m)]
        if missing:
            raise pytest.UsageError(
                f"{', '.join(missing)} not installed: run the consumer tests with their own "
                "virtualenv, tests/consumers/.venv/bin/pytest (see tests/consumers/README.md)"
            )


def pytest_addoption(parser):
    parser.addoption(
        "--exports",
        default=None,
        help="folder of export files named <format>.jsonl (default: $EXPORTS_DIR, else the "
        "hand-made files of sample_exports.py)",
    )


def _exports_option(config):
    try:
        return config.getoption("--exports") or os.environ.get("EXPORTS_DIR") or None
    except ValueError:
        return None


def pytest_report_header(config):
    if not _own_config(config):
        return None
    from consumer_support import offline_tiktoken

    given = _exports_option(config)
    if given:
        lines = [f"exports: {Path(given).resolve()}"]
    else:
        lines = ["exports: the hand-made files of sample_exports.py (no --exports or EXPORTS_DIR)"]
    found = offline_tiktoken()
    lines.append(
        f"OpenAI token counts: {found[0]}"
        if found
        else "OpenAI token counts: no tiktoken encoding on this machine (nothing is downloaded "
        "here: run npm ci for js-tiktoken's), estimated with the local byte-level BPE tokenizer"
    )
    return lines


@pytest.fixture(scope="session")
def exports_dir(request, tmp_path_factory):
    given = _exports_option(request.config)
    if given:
        path = Path(given).resolve()
        assert path.is_dir(), f"--exports {given}: no such folder"
        return path
    import sample_exports

    return sample_exports.write(tmp_path_factory.mktemp("sample-exports"))


@pytest.fixture(scope="session")
def exports(exports_dir):
    """exports("dpo") -> the rows of dpo.jsonl; exports("openai-chat.manifest") likewise."""
    from consumer_support import read_jsonl

    cache = {}

    def rows(name):
        if name not in cache:
            cache[name] = read_jsonl(exports_dir / f"{name}.jsonl")
        return cache[name]

    return rows
