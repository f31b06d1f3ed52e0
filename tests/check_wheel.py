"""Build the wheel and check that it ships what a host needs: the widget, templates, migrations
and py.typed, and nothing of the demo or the tests."""

import subprocess
import sys
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
    "feedback_loop/templatetags/feedback_loop.py",
]
FORBIDDEN_PREFIXES = ("example_project/", "tests/", "bench/", "widget/")


def main() -> int:
    with tempfile.TemporaryDirectory() as out:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--no-deps",
                "--no-build-isolation",
                "-q",
                "-w",
                out,
                str(ROOT),
            ],
            check=True,
        )
        (wheel,) = Path(out).glob("django_feedback_loop-*.whl")
        names = set(zipfile.ZipFile(wheel).namelist())
    missing = [name for name in REQUIRED if name not in names]
    stray = sorted(n for n in names if n.startswith(FORBIDDEN_PREFIXES))
    print(f"{wheel.name}: {len(names)} files")
    if missing or stray:
        for name in missing:
            print(f"  missing: {name}")
        for name in stray:
            print(f"  should not ship: {name}")
        return 1
    print("  widget, templates, migrations, commands and py.typed are in; demo and tests are not")
    return 0


if __name__ == "__main__":
    sys.exit(main())
