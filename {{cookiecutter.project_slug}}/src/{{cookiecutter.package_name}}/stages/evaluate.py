"""Score the trained model on the held-out split: metrics (JSON) for the gate, and the plots (plots.py).

No MLflow here: the `register` stage logs the metrics and the whole plots/ folder to the run.
"""

from __future__ import annotations

import json

import joblib
import numpy as np
import pandas as pd
from sklearn import metrics as skm

from ..errors import CheckFailed
from ..paths import METRICS, MODEL, TEST, TRAIN
from . import plots
from .train import read_split


def score(task: str, y_true: pd.Series, y_pred: np.ndarray, proba: np.ndarray | None = None) -> dict[str, float]:
    if task == "classification":
        result = {
            "accuracy": skm.accuracy_score(y_true, y_pred),
            "f1_macro": skm.f1_score(y_true, y_pred, average="macro"),
            "precision_macro": skm.precision_score(y_true, y_pred, average="macro", zero_division=0),
            "recall_macro": skm.recall_score(y_true, y_pred, average="macro", zero_division=0),
        }
        if proba is not None and proba.shape[1] == 2:
            result["roc_auc"] = skm.roc_auc_score(y_true, proba[:, 1])
    else:
        result = {
            "r2": skm.r2_score(y_true, y_pred),
            "rmse": float(np.sqrt(skm.mean_squared_error(y_true, y_pred))),
            "mae": skm.mean_absolute_error(y_true, y_pred),
        }
    return {name: round(float(value), 6) for name, value in result.items()}


def run(params: dict) -> dict[str, float]:
    task = params["task"]
    model = joblib.load(MODEL)
    X, y = read_split(TEST, params)
    if task == "classification":
        seen = set(read_split(TRAIN, params)[1])
        unseen = sorted(set(y) - seen)
        if unseen:
            raise CheckFailed(
                f"{TEST}: column '{params['data']['target']}': rule label_seen_in_training failed, e.g. {unseen[:5]}"
            )
    predictions = model.predict(X)
    proba = model.predict_proba(X) if task == "classification" and hasattr(model, "predict_proba") else None
    result = score(task, y, predictions, proba)

    METRICS.parent.mkdir(parents=True, exist_ok=True)
    METRICS.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    plots.write(task, model, X, y, predictions, proba, seed=int(params["model"].get("seed", 0)))
    return result
