"""Template test fixtures: render the template through cookiecutter's Python API, once per answer set."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

import pytest
from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]
LEVELS = ("0", "1", "2")
TASKS = ("classification", "regression")

# The other options rotate across the level x task renders, so each value appears at least once.
ROTATING = {
    "project_name": ["Churn Model", "Price Forecast", "Fraud Detector", "House Prices", "Demo Model", "Iris Lab"],
    "python_version": ["3.11", "3.10", "3.12", "3.13"],
    "target_column": [None, "label", None, "y_value"],
    "mlflow_tracking_uri": ["", "http://127.0.0.1:5000"],
    "dvc_remote": ["none", "/tmp/dvc-store", "s3://bucket/models", "gs://bucket/models", "azure://container/models",
                   "ssh://ci@storage.example.com/srv/dvc"],
    "container_registry": ["ghcr.io", "registry.example.com:5000/team"],
    "retrain_cron": ["0 4 * * 1", "30 2 1 * *", "0 */6 * * *"],
    "drift_cron": ["0 5 * * *", "15 3 * * mon-fri"],
    "gate_max_drop": ["0.02", "0", "0.1"],
    "drift_share_threshold": ["0.5", "0.3"],
    # Level 2 renders are index 4 (swarm) and 5 (kubernetes); test_render.py renders `none` itself.
    "deploy_target": ["swarm", "kubernetes", "none", "none", "swarm", "kubernetes"],
}
COMBOS = [(level, task) for level in LEVELS for task in TASKS]

# The longest tests start first and `make test` hands tests out one at a time (--maxschedchunk 1), so the
# two workers finish together instead of one running a five-minute test alone at the end. Ordered by
# CI's --durations; only the order matters. A parametrized test listed without its [id] ranks each id.
LONGEST_FIRST = [
    "tests/test_workflows.py::test_level2_champion_history",
    "tests/test_deploy.py::test_swarm_history",
    "tests/test_generated_suite.py::test_generated_suite_passes[2-classification]",
    "tests/test_own_data.py",
    "tests/test_monitor_loop.py::test_monitoring_loop_end_to_end",
    "tests/test_benchmarks.py::test_smoke_run_prints_every_row_with_sane_numbers",
    "tests/test_tracking.py::test_ci_and_a_teammate_share_a_postgres_backed_server_and_a_dvc_remote",
    "tests/test_generated_suite.py::test_generated_suite_passes[1-classification]",
    "tests/test_generated_suite.py",
    "tests/test_docker.py::test_serving_image",
    "tests/test_workflows.py::test_level1_retrain_promote_monitor_and_keepalive",
    "tests/test_first_push.py",
    "tests/test_pr_comments.py",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        for name in (item.nodeid, item.nodeid.split("[")[0], item.nodeid.split("::")[0]):
            if name in LONGEST_FIRST:
                return LONGEST_FIRST.index(name)
        return len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the rest keep pytest's order

DOCKER_DIR = TEMPLATE / "tests" / "docker"
BASE_IMAGE = "mlops-template/python-base:bookworm"
# .ci/run sets MLOPS_REQUIRE_ALL=1: then a test that cannot run for want of something in the environment
# (Docker, PostgreSQL, Chromium, sshd, root, act, a tool) fails instead of skipping, so CI cannot hide it.
# MLOPS_REQUIRE_DOCKER=1 is its older name, still honoured.
REQUIRE_ALL = "1" in (os.environ.get("MLOPS_REQUIRE_ALL"), os.environ.get("MLOPS_REQUIRE_DOCKER"))


def answers_for(index: int, level: str, task: str) -> dict[str, str]:
    answers = {"mlops_level": level, "task": task}
    for key, values in ROTATING.items():
        value = values[index % len(values)]
        if value is not None:
            answers[key] = value
    return answers


def render(output_dir: Path, **answers: str) -> Path:
    return Path(cookiecutter(str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(output_dir)))


@pytest.fixture(scope="session")
def rendered(tmp_path_factory):
    """(answers, project dir) for every level x task, rendered once per test session."""
    cache: dict[tuple[str, str], tuple[dict, Path]] = {}

    def get(level: str, task: str) -> tuple[dict, Path]:
        if (level, task) not in cache:
            answers = answers_for(COMBOS.index((level, task)), level, task)
            cache[level, task] = answers, render(tmp_path_factory.mktemp(f"l{level}-{task}"), **answers)
        return cache[level, task]

    return get


def unavailable(reason: str, module: bool = False) -> NoReturn:
    """The one way a test gives up for want of something in the environment: a skip saying why, or a
    failure where everything is required (MLOPS_REQUIRE_ALL=1, CI). Never call pytest.skip for that directly.
    `module=True` at a test module's top level skips (or fails) the whole module."""
    if REQUIRE_ALL:
        pytest.fail(f"{reason} (MLOPS_REQUIRE_ALL=1 requires it)", pytrace=False)
    pytest.skip(f"{reason}; set MLOPS_REQUIRE_ALL=1 to make this a failure", allow_module_level=module)


@pytest.fixture(scope="session")
def docker_base() -> str:
    """A running engine and the local base image, from the idempotent scripts in tests/docker/."""
    if (sys.implementation.name, sys.version_info[:2], platform.machine()) != ("cpython", (3, 11), "x86_64"):
        unavailable("host-built wheels must match the base image's CPython 3.11 on x86_64")
    for script, timeout in (("engine.sh", 300), ("base_image.sh", 900)):
        try:
            result = subprocess.run([str(DOCKER_DIR / script)], capture_output=True, text=True, timeout=timeout,
                                    check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            unavailable(f"no Docker engine: tests/docker/{script}: {exc}")
        if result.returncode != 0:
            unavailable(f"no Docker engine: tests/docker/{script} exited {result.returncode}: "
                        f"{result.stderr.strip()[-500:]}")
    return BASE_IMAGE
