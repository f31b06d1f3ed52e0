"""Build the release as PyPI would get it and check it: ``python -m build`` makes the sdist and
the wheel, ``twine check --strict`` reads their metadata and README, and the files are what a
host needs (the widget, templates, migrations, py.typed) and nothing of the demo or the tests.
The version is the package's and the changelog's newest entry.

    .venv/bin/python tests/check_wheel.py [--out DIR]   # DIR keeps the built files
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = [
    "feedback_loop/__init__.py",
    "feedback_loop/py.typed",
    "feedback_loop/static/feedback_loop/widget.js",
    "feedback_loop/templates/admin/feedback_loop/project/keys.html",
    "feedback_loop/migrations/0001_initial.py",
    "feedback_loop/migrations/0002_builtin_error_modes.py",
    "feedback_loop/management/commands/feedback_loop_create_project.py",
    "feedback_loop/management/commands/feedback_loop_project.py",
    "feedback_loop/templatetags/feedback_loop.py",
]
SDIST_EXTRA = ["README.md", "CHANGELOG.md", "LICENSE", "pyproject.toml"]
FORBIDDEN_PREFIXES = ("example_project/", "tests/", "bench/", "widget/", "docs/")


def version() -> str:
    text = (ROOT / "feedback_loop" / "__init__.py").read_text()
    return re.search(r'^__version__ = "([^"]+)"', text, re.M).group(1)


def changelog_version() -> str:
    return re.search(r"^## (\S+)", (ROOT / "CHANGELOG.md").read_text(), re.M).group(1)


def build(out: Path) -> tuple[Path, Path]:
    built = subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
    )
    if built.returncode:
        sys.exit(f"python -m build failed:\n{built.stdout}{built.stderr}")
    (wheel,) = out.glob("django_feedback_loop-*.whl")
    (sdist,) = out.glob("django_feedback_loop-*.tar.gz")
    return wheel, sdist


def problems(wheel: Path, sdist: Path) -> list[str]:
    found = []
    expected = version()
    if changelog_version() != expected:
        found.append(f"CHANGELOG.md's newest entry is {changelog_version()}, not {expected}")
    for path in (wheel, sdist):
        if f"-{expected}" not in path.name:
            found.append(f"{path.name} is not version {expected}")
    twine = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)],
        capture_output=True,
        text=True,
    )
    if twine.returncode:
        found.append(f"twine check --strict:\n{twine.stdout}{twine.stderr}")
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    with tarfile.open(sdist) as tar:
        in_sdist = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    for names, kind, required in [
        (in_wheel, "wheel", REQUIRED),
        (in_sdist, "sdist", REQUIRED + SDIST_EXTRA),
    ]:
        found += [f"{kind} misses {name}" for name in required if name not in names]
        found += [
            f"{kind} should not ship {n}" for n in sorted(names) if n.startswith(FORBIDDEN_PREFIXES)
        ]
    return found


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, help="keep the built files here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        wheel, sdist = build(out)
        found = problems(wheel, sdist)
        print(f"{wheel.name} ({len(zipfile.ZipFile(wheel).namelist())} files), {sdist.name}")
    if found:
        for problem in found:
            print(f"  {problem}")
        return 1
    print(
        "  twine check --strict passes; version, changelog and file names agree; the widget, "
        "templates, migrations, commands and py.typed are in; demo, docs and tests are not"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
