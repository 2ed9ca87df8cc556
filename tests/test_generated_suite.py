"""Each level x task render passes its own test suite (unit tests per stage + end to end), in this
environment: one shared set of installed packages, the generated package imported from src/.

The end-to-end module runs the whole pipeline with `dvc repro`. It does the same for a task at every
level, so it runs here once (FULL), for classification; regression's runs in tests/test_own_data.py,
on a user's regression data set with a drifted current batch. The other renders run the rest of their
suite, which is where the levels and the rotated answers differ (report, comment poster, deploy
module, DVC remote, target name)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from conftest import COMBOS

FULL = {("2", "classification")}  # with every test; regression's end to end is in test_own_data.py


@pytest.mark.parametrize(("level", "task"), COMBOS)
def test_generated_suite_passes(rendered, level, task):
    _, project = rendered(level, task)
    skip = [] if (level, task) in FULL else ["--ignore", "tests/test_e2e.py"]
    result = subprocess.run(
        # -n 0: one process per suite (pyproject's -n auto would start a worker per core inside each of
        # this run's own workers); the act test runs ci.yml's `pytest` as users do, on every core.
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0", *skip],
        cwd=project, capture_output=True, text=True, timeout=1800,
    )
    tail = "\n".join((result.stdout + result.stderr).splitlines()[-60:])
    assert result.returncode == 0, tail
    summary = result.stdout.strip().splitlines()[-1]
    passed = re.search(r"(\d+) passed", summary)
    assert passed and int(passed.group(1)) >= 30, summary
    # No skips: CI has everything the generated suite needs, so a skip there would hide an untested part.
    assert "failed" not in summary and "error" not in summary and "skipped" not in summary, summary
