"""Every skip for want of something in the environment goes through `unavailable()` (tests/conftest.py), so
MLOPS_REQUIRE_ALL=1, which .ci/run sets, turns each of them into a failure: CI cannot hide an untested part."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from conftest import TEMPLATE

DIRECT_SKIP = re.compile(r"pytest\.skip\(|mark\.skipif|importorskip")


def test_no_template_test_skips_on_its_own():
    offenders = [f"{path.relative_to(TEMPLATE)}:{number}"
                 for path in (TEMPLATE / "tests").rglob("*.py") if path.name not in ("conftest.py", "test_skips.py")
                 for number, line in enumerate(path.read_text().splitlines(), 1) if DIRECT_SKIP.search(line)]
    assert offenders == [], f"skip through conftest.unavailable() instead: {offenders}"


def test_ci_requires_everything():
    assert re.search(r"^export MLOPS_REQUIRE_ALL=1$", (TEMPLATE / ".ci/run").read_text(), re.M)


def test_unavailable_skips_or_fails_by_the_variable(tmp_path):
    here = str(Path(__file__).parent)
    (tmp_path / "test_probe.py").write_text(
        f"import sys\nsys.path.insert(0, {here!r})\nfrom conftest import unavailable\n\n"
        "def test_probe():\n    unavailable('no frobnicator (apt-get install frobnicator)')\n")
    for value, outcome in (("", "1 skipped"), ("1", "1 failed")):
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rsf",
                                 str(tmp_path / "test_probe.py")], cwd=tmp_path, capture_output=True, text=True,
                                env={"PATH": "/usr/bin:/bin", "MLOPS_REQUIRE_ALL": value}, timeout=120)
        assert outcome in result.stdout, result.stdout
        assert "no frobnicator (apt-get install frobnicator)" in result.stdout
        if value:
            assert "MLOPS_REQUIRE_ALL=1 requires it" in result.stdout
        else:
            assert "set MLOPS_REQUIRE_ALL=1 to make this a failure" in result.stdout
