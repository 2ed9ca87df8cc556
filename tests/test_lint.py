"""The template's own code is lint-clean: Python (ruff) and shell scripts (shellcheck)."""

from __future__ import annotations

import subprocess
import sys

from conftest import TEMPLATE


def test_ruff_on_template_code():
    paths = ["hooks", "scripts", "tests", "benchmarks"]
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", *paths],
                            cwd=TEMPLATE, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_shellcheck_on_scripts():
    scripts = [".ci/run", *sorted(str(p.relative_to(TEMPLATE)) for p in (TEMPLATE / "tests").rglob("*.sh"))]
    result = subprocess.run(["shellcheck", *scripts], cwd=TEMPLATE, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
