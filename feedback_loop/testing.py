"""A pytest plugin: a dataset's items as the cases of a team's own tests.

Installed with the package (the ``pytest11`` entry point), so pytest loads it in every run; it
imports nothing from Django until a test asks for a dataset, and does nothing otherwise::

    from feedback_loop.testing import dataset_cases

    @dataset_cases("Regression set")            # one test per item, ids "item-<id>"
    def test_answers(case):                     # case: the item (a Row): input, messages,
        assert my_bot(case.messages) == case.expected_output   # expected_output, metadata...

- ``dataset_cases(name, version=None, project=None, argname="case")``: ``version`` is a frozen
  version's number (or ``"latest"``), else the live items; ``project`` (a name or an id) picks
  the dataset when several projects have one of that name.
- ``dataset_cases()`` (or ``@pytest.mark.feedback_loop_dataset``) without a name takes it from
  ``--fl-dataset NAME`` (and ``--fl-dataset-version N``, ``--fl-project P``); without either,
  the test is skipped.
- ``--fl-cases FILE`` reads the cases from a JSON Lines export (``feedback_loop_export --format
  jsonl``) instead of the database, so a CI without the production database runs the same set;
  ``--fl-cases NAME=FILE`` (repeatable) gives one dataset's file.

The items are read once, at collection, from the database the settings name (the team's real
one, not the per-test database pytest-django makes later); pytest-django's block on database
access is lifted for that read only.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import pytest

if TYPE_CHECKING:
    from feedback_loop.internal.datasets import Row

MARKER = "feedback_loop_dataset"
DEFAULT_ARGNAME = "case"
_F = TypeVar("_F", bound=Callable[..., Any])
_cache_key = pytest.StashKey[dict[tuple, list]]()


def dataset_cases(
    name: str | int | None = None,
    version: int | str | None = None,
    project: str | int | None = None,
    *,
    argname: str = DEFAULT_ARGNAME,
) -> Callable[[_F], _F]:
    """Parametrise the test with one case per item of the dataset ``name`` (its name or id);
    without a name, the one ``--fl-dataset`` gives."""
    mark: Callable[[_F], _F] = getattr(pytest.mark, MARKER).with_args(
        name, version=version, project=project, argname=argname
    )
    return mark


# -- hooks -------------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("feedback-loop", "django-feedback-loop datasets as test cases")
    group.addoption(
        "--fl-dataset",
        metavar="NAME",
        help="The dataset (name or id) whose items parametrise tests marked with "
        "dataset_cases() without a name.",
    )
    group.addoption(
        "--fl-dataset-version",
        metavar="N",
        help="With --fl-dataset: frozen version N (or 'latest') instead of the live items.",
    )
    group.addoption(
        "--fl-project",
        metavar="PROJECT",
        help="With --fl-dataset: the project (name or id) the dataset belongs to.",
    )
    group.addoption(
        "--fl-cases",
        metavar="[NAME=]FILE",
        action="append",
        default=[],
        help="Read the cases from a JSON Lines export (feedback_loop_export --format jsonl) "
        "instead of the database; NAME=FILE for one dataset's tests only. Repeatable.",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(name=None, version=None, project=None, argname='case'): one test per item "
        "of a django-feedback-loop dataset (feedback_loop.testing.dataset_cases).",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker(MARKER)
    if marker is None:
        return
    config = metafunc.config
    name, version, project, argname = _arguments(marker)
    if name is None:
        name = config.getoption("fl_dataset")
        version = config.getoption("fl_dataset_version")
        project = config.getoption("fl_project")
    file = _cases_file(config.getoption("fl_cases") or [], name)
    if name is None and file is None:
        reason = "no dataset: run pytest with --fl-dataset NAME or --fl-cases FILE"
        skipped = pytest.param(None, marks=pytest.mark.skip(reason=reason), id="no-dataset")
        metafunc.parametrize(argname, [skipped])
        return
    key = (str(file) if file else None, name, version, project)
    cache = config.stash.setdefault(_cache_key, {})
    if key not in cache:
        cache[key] = _from_file(file) if file else _from_database(config, name, version, project)
    cases = cache[key]
    metafunc.parametrize(argname, cases, ids=[f"item-{case.id}" for case in cases])


def _arguments(marker: pytest.Mark) -> tuple[Any, Any, Any, str]:
    kwargs = dict(marker.kwargs)
    name = marker.args[0] if marker.args else kwargs.pop("name", None)
    version = kwargs.pop("version", None)
    project = kwargs.pop("project", None)
    argname = kwargs.pop("argname", DEFAULT_ARGNAME)
    if kwargs or len(marker.args) > 1:
        _error(f"{MARKER} takes (name, version=, project=, argname=), not {marker.args, kwargs}")
    return name, version, project, argname


def _cases_file(values: list[str], name: Any) -> Path | None:
    """The file ``--fl-cases`` gives for the dataset ``name``: its own, else the bare one."""
    bare = None
    for value in values:
        label, equals, path = value.partition("=")
        if equals and path and not Path(value).exists():
            if name is not None and label == str(name):
                return Path(path)
        else:
            bare = Path(value)
    return bare


def _error(message: str) -> NoReturn:
    """A collection error that shows the message, not a traceback (nor the exception that
    led to it)."""
    raise pytest.fail.Exception(f"feedback_loop: {message}", pytrace=False) from None


# -- reading the cases -------------------------------------------------------------------------


def _django_ready() -> None:
    try:
        from django.conf import settings
    except ImportError:  # pragma: no cover - the package depends on Django
        _error("Django is not installed")
    if not settings.configured:
        try:
            settings.DATABASES  # noqa: B018 - configures from DJANGO_SETTINGS_MODULE
        except Exception as exc:
            _error(f"dataset cases need the Django settings (DJANGO_SETTINGS_MODULE): {exc}")
    import django
    from django.apps import apps

    if not apps.ready:
        django.setup()


def _row_type() -> type[Row]:
    _django_ready()
    from feedback_loop.internal.datasets import Row

    return Row


def _from_file(path: Path) -> list[Row]:
    """The cases of a JSON Lines export (``jsonl``: id, input, messages, expected_output, output,
    metadata, source_trace_id; chosen and rejected for a preference set)."""
    row = _row_type()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        _error(f"cannot read the cases file {str(path)!r}: {exc.strerror or exc}")
    cases = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            _error(f"{path}:{number} is not JSON ({exc})")
        if not isinstance(record, dict) or "id" not in record:
            _error(f"{path}:{number} is not a jsonl export row (no 'id')")
        cases.append(
            row(
                id=str(record["id"]),
                input=record.get("input") or "",
                messages=record.get("messages") or [],
                expected_output=record.get("expected_output") or "",
                output=record.get("output") or "",
                chosen=record.get("chosen") or "",
                rejected=record.get("rejected") or "",
                metadata=record.get("metadata") or {},
                source_trace_id=record.get("source_trace_id") or "",
            )
        )
    return cases


def _from_database(config: pytest.Config, name: Any, version: Any, project: Any) -> list[Row]:
    _django_ready()
    from django.db import DatabaseError, connections, router

    from feedback_loop.internal.datasets import rows
    from feedback_loop.models import Dataset

    alias = router.db_for_read(Dataset)
    connection = connections[alias]
    was_open = connection.connection is not None
    where = f"the database {connection.settings_dict.get('NAME')!s} ({alias!r})"
    try:
        with _unblocked(config):
            try:
                dataset = _dataset(name, project)
                frozen = _version(dataset, version)
                return list(rows(dataset, frozen))
            finally:
                if not was_open:
                    # Closed, so the per-test database pytest-django sets up later starts clean.
                    connection.close()
    except DatabaseError as exc:
        _error(f"cannot read the dataset {name!r} from {where}: {exc}".strip())
    except LookupError as exc:
        _error(f"{exc} in {where}")


def _unblocked(config: pytest.Config) -> AbstractContextManager[Any]:
    """pytest-django's block on database access, lifted (a no-op without pytest-django)."""
    try:
        from pytest_django.plugin import blocking_manager_key
    except ImportError:
        return contextlib.nullcontext()
    if blocking_manager_key not in config.stash:
        return contextlib.nullcontext()
    return config.stash[blocking_manager_key].unblock()


def _dataset(name: Any, project: Any) -> Any:
    from feedback_loop.models import Dataset

    query = Dataset.objects.select_related("project")
    if project is not None:
        by_id = isinstance(project, int) or str(project).isdigit()
        query = (
            query.filter(project_id=int(project)) if by_id else query.filter(project__name=project)
        )
    if isinstance(name, int) or str(name).isdigit():
        found = list(query.filter(pk=int(name)))
        if not found:
            found = list(query.filter(name=str(name))[:2])
    else:
        found = list(query.filter(name=name)[:2])
    of = f" of the project {project!r}" if project is not None else ""
    if len(found) > 1:
        raise LookupError(
            f"several projects have a dataset named {name!r}; give project= (or --fl-project)"
        )
    if not found:
        names = ", ".join(repr(d.name) for d in query.order_by("pk")[:20]) or "none"
        raise LookupError(f"no dataset {name!r}{of} (datasets: {names})")
    return found[0]


def _version(dataset: Any, version: Any) -> Any:
    if version in (None, ""):
        return None
    versions = dataset.versions.order_by("-number")
    if version == "latest":
        found = versions.first()
    elif isinstance(version, int) or str(version).isdigit():
        found = versions.filter(number=int(version)).first()
    else:
        raise LookupError(f"version {version!r} of {dataset.name!r} is not a number or 'latest'")
    if found is None:
        numbers = ", ".join(str(n) for n in versions.values_list("number", flat=True)) or "none"
        raise LookupError(
            f"the dataset {dataset.name!r} has no version {version} (versions: {numbers})"
        )
    return found
