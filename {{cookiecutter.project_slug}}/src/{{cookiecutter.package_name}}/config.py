"""Load and validate params.yaml, the one file that holds every tunable of the pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import PipelineError

# The files the stages hand to each other (dvc.yaml names the same paths). Defined here, in a module
# that imports nothing heavy, so a stage can name another's output without importing its libraries.
TRAIN = Path("data/prepared/train.csv")
TEST = Path("data/prepared/test.csv")
MODEL = Path("models/model.joblib")
METRICS = Path("metrics/metrics.json")
VERDICT = Path("reports/gate.json")
EVALUATION = Path("reports/evaluation.json")  # bootstrap intervals and slice metrics (evaluate), for gate and card
MODEL_CARD = Path("reports/model_card.md")
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


def load_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    path = Path(path)
    try:
        params = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise PipelineError(f"{path}: not found; run commands from the project root") from None
    except yaml.YAMLError as exc:
        raise PipelineError(f"{path}: not valid YAML: {exc}") from None
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
