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
    if result.returncode != 0 or not out.is_file():
        raise RuntimeError(f"test_swarm_history exited {result.returncode}:\n{(result.stdout + result.stderr)[-3000:]}")
    return json.loads(out.read_text())
