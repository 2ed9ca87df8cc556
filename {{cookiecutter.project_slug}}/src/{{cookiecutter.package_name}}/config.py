"""Load and validate params.yaml, the one file that holds every tunable of the pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import PipelineError
from .paths import PARAMS, read

# What a scikit-learn model file needs to load: MLflow's pip requirements and the joblib image's pins.
PIP_PACKAGES = ("scikit-learn", "pandas", "numpy", "scipy")
# Which way is better, for the gate and the reports: +1 means higher is better.
DIRECTION = {"accuracy": 1, "f1_macro": 1, "precision_macro": 1, "recall_macro": 1, "roc_auc": 1,
             "r2": 1, "rmse": -1, "mae": -1}

TASKS = ("classification", "regression")
MODEL_FAMILIES = {
    "classification": ("logistic_regression", "random_forest", "gradient_boosting", "hist_gradient_boosting"),
    "regression": ("ridge", "random_forest", "gradient_boosting", "hist_gradient_boosting"),
}
REQUIRED = {
    "task": str,
    "data": dict,
    "split": dict,
    "checks": dict,
    "model": dict,
    "gate": dict,
    "drift": dict,
    "mlflow": dict,
}


def load_params(path: str | Path = PARAMS) -> dict[str, Any]:
    path = Path(path)
    params = read(path, "run commands from the project root", yaml.safe_load, "YAML", (yaml.YAMLError,))
    if not isinstance(params, dict):
        raise PipelineError(f"{path}: expected a mapping at the top level")
    for key, kind in REQUIRED.items():
        if not isinstance(params.get(key), kind):
            raise PipelineError(f"{path}: '{key}' is missing or not a {kind.__name__}")
    task = params["task"]
    if task not in TASKS:
        raise PipelineError(f"{path}: task '{task}' is not one of {', '.join(TASKS)}")
    family = params["model"].get("family")
    if family not in MODEL_FAMILIES[task]:
        raise PipelineError(
            f"{path}: model.family '{family}' is not one of {', '.join(MODEL_FAMILIES[task])} for {task}"
        )
    for key in ("path", "target", "schema"):
        if not params["data"].get(key):
            raise PipelineError(f"{path}: data.{key} is missing")
    return params


def primary_metric(params: dict) -> str:
    """The metric the gate names first: the one the registry, the champion record and the reports lead with."""
    return next(iter(params["gate"]["thresholds"]))
