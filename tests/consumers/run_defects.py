"""Show that the consumer tests fail on wrong data: for each defect sample_exports.py can inject,
write the samples with it, run the consumer tests on them, and list the tests that failed.

    tests/consumers/.venv/bin/python tests/consumers/run_defects.py [DEFECT ...]

Exits non-zero if some defect made no test fail.
"""

import subprocess
import sys
import tempfile
from pathlib import Path

import sample_exports

HERE = Path(__file__).resolve().parent


def failures(defect, folder):
    sample_exports.write(folder, defect)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(HERE), "--exports", str(folder), "-q", "-rf",
         "-p", "no:warnings"],
        capture_output=True, text=True, cwd=HERE.parent.parent,
    )  # fmt: skip
    return [
        line[len("FAILED ") :] for line in done.stdout.splitlines() if line.startswith("FAILED ")
    ]


def main(names):
    uncaught = []
    for defect in names or sample_exports.DEFECTS:
        with tempfile.TemporaryDirectory() as folder:
            failed = failures(defect, Path(folder))
        print(f"{defect}: {sample_exports.DEFECTS[defect]}")
        for line in failed:
            print(f"    {line}")
        if not failed:
            print("    NOTHING FAILED")
            uncaught.append(defect)
    return 1 if uncaught else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
