"""The pytest plugin (feedback_loop.testing): a dataset's items as a team's test cases.

Each test runs an inner pytest session in a subprocess, as a team's suite runs: its settings
point at a "real" database this module prepared (migrated, one project, a dataset of three items
frozen as version 1), a SQLite file, or a PostgreSQL database of its own when the suite runs on
PostgreSQL. The inner session has pytest-django, as a team's suite would.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

SETTINGS = """
import json, os

SECRET_KEY = "plugin-test-not-secret-0123456789abcdef0123456789abcdef"
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.auth", "django.contrib.contenttypes", "django.contrib.staticfiles",
    "rest_framework", "django_filters", "feedback_loop",
]
DATABASES = {"default": json.loads(os.environ["FL_INNER_DATABASE"])}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "/static/"
CELERY_TASK_ALWAYS_EAGER = True
SILENCED_SYSTEM_CHECKS = ["feedback_loop.W004"]
"""

# The team's data: three items, one of which the task below gets wrong.
FILL = """
import json
import django

django.setup()
from feedback_loop.internal.datasets import freeze
from feedback_loop.models import Dataset, DatasetItem, DatasetKind, Project

project, _secret = Project.create("Plugin project")
dataset = Dataset.objects.create(project=project, name="Regression set",
                                 kind=DatasetKind.REGRESSION)
items = [
    DatasetItem.objects.create(
        dataset=dataset, input=question, expected_output=expected, output="(the old answer)",
        messages=[{"role": "system", "content": "Be brief."},
                  {"role": "user", "content": question}],
        metadata={"error_modes": modes},
    )
    for question, expected, modes in [
        ("Capital of France?", "Paris", ["hallucination"]),
        ("2 + 2?", "4", []),
        ("Colour of the sky?", "Blue", ["length"]),
    ]
]
freeze(dataset)
print(json.dumps([item.pk for item in items]))
"""

# What the team's task answers: right for France and for 2 + 2, wrong for the sky.
TASK = """
ANSWERS = {"Capital of France?": "Paris", "2 + 2?": "4", "Colour of the sky?": "Green"}


def task(case):
    return ANSWERS[case.input]
"""


@dataclass
class RealDatabase:
    folder: Path
    database: dict
    item_ids: list[int]
    export: Path

    def env(self, database: dict | None = None) -> dict[str, str]:
        return {
            "PYTHONPATH": str(self.folder),
            "DJANGO_SETTINGS_MODULE": "fl_plugin_settings",
            "FL_INNER_DATABASE": json.dumps(database or self.database),
        }


def _postgres_database(name: str) -> tuple[dict, object]:
    """A database of its own on the suite's PostgreSQL server, and how to drop it."""
    import psycopg
    from django.conf import settings
    from psycopg import sql

    outer = settings.DATABASES["default"]
    params = {
        "host": outer.get("HOST") or None,
        "port": outer.get("PORT") or None,
        "user": outer.get("USER") or None,
        "password": outer.get("PASSWORD") or None,
    }

    def execute(statement: sql.Composed) -> None:
        with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
            conn.execute(statement)

    execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
    execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    database = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "HOST": outer.get("HOST") or "",
        "PORT": str(outer.get("PORT") or ""),
        "USER": outer.get("USER") or "",
        "PASSWORD": outer.get("PASSWORD") or "",
        "TEST": {"NAME": f"{name}_pertest"},
    }

    def drop() -> None:
        for db in (name, f"{name}_pertest"):
            execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db)))

    return database, drop


@pytest.fixture(scope="module")
def real_database(tmp_path_factory) -> RealDatabase:
    """The team's database: migrated, filled through the ORM and exported as jsonl by
    ``feedback_loop_export``, all in subprocesses on the inner settings."""
    from django.conf import settings

    folder = tmp_path_factory.mktemp("fl-plugin")
    (folder / "fl_plugin_settings.py").write_text(SETTINGS)
    drop = None
    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        database, drop = _postgres_database(f"fl_plugin_cases_{uuid.uuid4().hex[:8]}")
    else:
        database = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(folder / "team.sqlite3")}
    real = RealDatabase(folder, database, [], folder / "regression-set.jsonl")
    env = {**os.environ, **real.env()}

    def django(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, *args], env=env, cwd=folder, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    try:
        django("-m", "django", "migrate", "-v0")
        real.item_ids = json.loads(django("-c", FILL).strip().splitlines()[-1])
        django("-m", "django", "feedback_loop_export", "Regression set", "--format", "jsonl",
               "-o", str(real.export))  # fmt: skip
        yield real
    finally:
        if drop is not None:
            drop()


@pytest.fixture
def inner(pytester, real_database, monkeypatch):
    """Runs an inner pytest session on the team's settings; returns (result, its output)."""
    for name, value in real_database.env().items():
        monkeypatch.setenv(name, value)
    pytester.makepyfile(team_task=TASK)

    def run(test_source: str, *args: str, database: dict | None = None):
        if database is not None:
            monkeypatch.setenv("FL_INNER_DATABASE", json.dumps(database))
        pytester.makepyfile(test_team=textwrap.dedent(test_source))
        result = pytester.runpytest_subprocess("-v", "-ra", "-p", "no:cacheprovider", *args)
        return result, result.stdout.str() + result.stderr.str()

    return run


def ran(output: str) -> dict[str, str]:
    """test id -> outcome, from a verbose run."""
    return dict(re.findall(r"::(\S+) (PASSED|FAILED|SKIPPED|ERROR)", output))


TEAM_TEST = """
from feedback_loop.testing import dataset_cases
from team_task import task


@dataset_cases("Regression set")
def test_answers(case):
    assert task(case) == case.expected_output, case.metadata
"""


def assert_the_team_test_ran(output: str, real_database) -> None:
    """One test per item, by its id; the team's assertion fails the third (the missed one)."""
    first, second, third = real_database.item_ids
    assert ran(output) == {
        f"test_answers[item-{first}]": "PASSED",
        f"test_answers[item-{second}]": "PASSED",
        f"test_answers[item-{third}]": "FAILED",
    }, output
    assert "AssertionError: {'error_modes': ['length']}" in output


def test_one_test_per_item_named_by_its_id_and_the_teams_assertion_fails_the_missed_one(
    inner, real_database
):
    result, output = inner(TEAM_TEST)
    assert_the_team_test_ran(output, real_database)
    assert "assert 'Green' == 'Blue'" in output
    assert result.ret == 1


def test_the_case_is_the_item_and_comes_from_the_real_database_not_the_per_test_one(inner):
    result, output = inner("""
        from feedback_loop.internal.datasets import Row
        from feedback_loop.models import Dataset
        from feedback_loop.testing import dataset_cases


        @dataset_cases("Regression set", argname="item")
        def test_item(item, db):
            assert isinstance(item, Row)
            assert item.messages[0] == {"role": "system", "content": "Be brief."}
            assert item.messages[-1]["content"] == item.input
            assert item.output == "(the old answer)"
            assert "error_modes" in item.metadata
            # pytest-django's per-test database is another, empty, one.
            assert not Dataset.objects.exists()
    """)
    assert result.ret == 0, output
    result.assert_outcomes(passed=3)


def test_the_dataset_from_the_command_line_and_a_frozen_version(inner, real_database):
    source = """
        import pytest
        from feedback_loop.testing import dataset_cases
        from team_task import task


        @dataset_cases()
        def test_answers(case):
            assert task(case) == case.expected_output


        @pytest.mark.feedback_loop_dataset(argname="row")
        def test_marked(row):
            assert row.input
    """
    result, output = inner(source, "--fl-dataset", "Regression set", "--fl-dataset-version", "1")
    assert result.ret == 1, output
    result.assert_outcomes(passed=5, failed=1)
    ids = {f"item-{pk}" for pk in real_database.item_ids}
    assert {re.search(r"\[(.*)\]", name)[1] for name in ran(output)} == ids

    # Without a dataset, such tests are skipped and say how to give one.
    result, output = inner(source)
    assert result.ret == 0, output
    result.assert_outcomes(skipped=2)
    assert "no dataset: run pytest with --fl-dataset NAME or --fl-cases FILE" in output

    result, output = inner(source, "--fl-dataset", "Regression set", "--fl-dataset-version", "7")
    assert result.ret == 2, output
    assert "feedback_loop: the dataset 'Regression set' has no version 7 (versions: 1)" in output


def test_cases_from_a_jsonl_export_without_the_database(inner, real_database, tmp_path):
    lines = real_database.export.read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [str(i) for i in real_database.item_ids]
    # No database at all: a SQLite file in a folder that does not exist.
    nowhere = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "no" / "db")}
    result, output = inner(TEAM_TEST, "--fl-cases", str(real_database.export), database=nowhere)
    assert_the_team_test_ran(output, real_database)

    # NAME=FILE is that dataset's file; another dataset's tests still read the database.
    result, output = inner(
        TEAM_TEST, "--fl-cases", f"Other set={real_database.export}", database=nowhere
    )
    assert result.ret == 2, output
    assert "feedback_loop: cannot read the dataset 'Regression set' from the database" in output


def test_an_unknown_dataset_is_a_clear_collection_error(inner, real_database):
    result, output = inner("""
        from feedback_loop.testing import dataset_cases


        @dataset_cases("No such set")
        def test_answers(case):
            pass


        def test_other():
            pass
    """)
    assert result.ret == 2, output  # collection errors interrupt the session
    assert "ERROR collecting test_team.py" in output
    assert "feedback_loop: no dataset 'No such set' (datasets: 'Regression set')" in output
    assert f"in the database {real_database.database['NAME']} ('default')" in output
    assert "Traceback" not in output and "site-packages/django" not in output, output


def test_a_bad_cases_file_is_a_clear_collection_error(inner, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "1", "input": "a"}\nnot json\n')
    result, output = inner(TEAM_TEST, "--fl-cases", str(bad))
    assert result.ret == 2, output
    assert f"feedback_loop: {bad}:2 is not JSON" in output


def test_the_plugin_does_nothing_when_unused(inner, pytester, monkeypatch):
    plain = """
        import sys


        def test_plain():
            assert "feedback_loop.testing" in sys.modules  # loaded, as every plugin is


        def test_nothing_parametrised(request):
            assert not hasattr(request.node, "callspec")
    """
    result, output = inner(plain)
    assert result.ret == 0, output
    result.assert_outcomes(passed=2)

    # A suite without Django settings at all: nothing of Django's models is imported.
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE")
    result, output = inner("""
        import sys


        def test_plain():
            assert "feedback_loop.models" not in sys.modules
            assert "django.db.models" not in sys.modules
    """)
    assert result.ret == 0, output
    result.assert_outcomes(passed=1)

    # Its options are listed with pytest's.
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(["*--fl-dataset=NAME*", "*--fl-cases=*FILE*"])
