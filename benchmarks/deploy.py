"""Level 2's Swarm deploy against the real engine: rows W1-W3.

The measurements come from the deploy test's own history (tests/test_deploy.py::test_swarm_history: a
one-node swarm over a loopback sshd, traffic through the proxy), run here with deploy/stack.yml's
default health-check and update timings instead of the test's faster ones (MLOPS_DEPLOY_BENCH names the
JSON file the test writes its numbers to). The test asserts outcomes; this module only reads the numbers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure(workdir: Path) -> dict:
    out = workdir / "deploy-bench.json"
    out.unlink(missing_ok=True)
    result = subprocess.run([sys.executable, "-m", "pytest", "tests/test_deploy.py::test_swarm_history", "-p",
                             "no:cacheprovider", "-q", "-n", "0"], cwd=ROOT, capture_output=True, text=True,
                            timeout=3600,
                            env={**os.environ, "MLOPS_DEPLOY_BENCH": str(out), "MLOPS_REQUIRE_DOCKER": "1"})
    if not out.is_file():  # the numbers are written at the end of the history, so it got there
        errors = [line for line in result.stdout.splitlines() if line.startswith(("E ", "SUBFAILED", "FAILED"))]
        raise RuntimeError(f"test_swarm_history exited {result.returncode}:\n" + "\n".join(errors[-40:]))
    numbers = json.loads(out.read_text())
    numbers["test_passed"] = result.returncode == 0
    return numbers
