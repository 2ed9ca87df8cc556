"""MLflow setup shared by every stage that logs: one place decides the store and experiment."""

from __future__ import annotations

import os
from importlib.metadata import version
from pathlib import Path

import mlflow

EMBEDDED_DB = Path("mlflow.db")
EMBEDDED_ARTIFACTS = Path("mlruns")
# Explicit requirements: letting MLflow infer them re-imports the model in a subprocess (slow).
PIP_PACKAGES = ("scikit-learn", "pandas", "numpy", "scipy")
# Types in our own freshly trained pipelines that skops does not trust by default (tree nodes).
SKOPS_TRUSTED_TYPES = [
    "numpy.dtype",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
]


def tracking_uri(params: dict) -> str:
    """MLFLOW_TRACKING_URI wins, then params.yaml, then the embedded SQLite store in the repo."""
    configured = os.environ.get("MLFLOW_TRACKING_URI") or params["mlflow"].get("tracking_uri")
    # Absolute: MLflow caches one store per URI, so a relative path would outlive a change of directory.
    return configured or f"sqlite:///{EMBEDDED_DB.resolve()}"


def setup(params: dict) -> str:
    """Point MLflow at the configured store and experiment; return the experiment id."""
    uri = tracking_uri(params)
    mlflow.set_tracking_uri(uri)
    name = params["mlflow"]["experiment"]
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is None:
        # The embedded store keeps artifacts beside mlflow.db, so `mlflow ui` in the repo shows them.
        location = EMBEDDED_ARTIFACTS.resolve().as_uri() if uri.startswith("sqlite:") else None
        experiment_id = mlflow.create_experiment(name, artifact_location=location)
    else:
        experiment_id = experiment.experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def pip_requirements() -> list[str]:
    return [f"{name}=={version(name)}" for name in PIP_PACKAGES]


def test_metrics(client: mlflow.MlflowClient, run_id: str) -> dict[str, float]:
    """The held-out metrics the evaluate stage logged on a run, without their `test_` prefix."""
    logged = client.get_run(run_id).data.metrics
    return {k.removeprefix("test_"): v for k, v in logged.items() if k.startswith("test_")}
