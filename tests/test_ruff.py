"""ruff over the package, the tests and the notebooks (ruff reads .ipynb natively)."""

import subprocess
import sys

from dlcourse import course


def test_ruff_is_clean():
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "dlcourse", "tests", "notebooks",
                           "benchmarks"], cwd=course.root(), capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
