"""Template test fixtures: render the template through cookiecutter's Python API, once per answer set."""

from __future__ import annotations

from pathlib import Path

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
    "dvc_remote": ["none", "/tmp/dvc-store", "s3://bucket/models", "gs://bucket/models", "azure://container/models"],
    "container_registry": ["ghcr.io", "registry.example.com:5000/team"],
    "retrain_cron": ["0 4 * * 1", "30 2 1 * *", "0 */6 * * *"],
    "drift_cron": ["0 5 * * *", "15 3 * * mon-fri"],
    "gate_max_drop": ["0.02", "0", "0.1"],
    "drift_share_threshold": ["0.5", "0.3"],
}
COMBOS = [(level, task) for level in LEVELS for task in TASKS]


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
