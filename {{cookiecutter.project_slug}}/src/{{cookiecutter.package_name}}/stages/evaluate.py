"""Score the trained model on the held-out split: metrics (JSON) for the gate, and the plots (plots.py).

Also how sure those numbers are and where they differ (reports/evaluation.json, for the gate's
`slices.max_gap` rule and the model card): a bootstrap interval per metric, and the primary metric per
slice of the columns in `slices.columns` (slices.py).

No MLflow here: the `register` stage logs the metrics and the whole plots/ folder to the run.
"""

from __future__ import annotations

import json

import joblib
import numpy as np
import pandas as pd
from sklearn import metrics as skm

from .. import slices
from ..errors import CheckFailed
from ..paths import EVALUATION, METRICS, MODEL, TEST, TRAIN
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


RESAMPLES = 1000  # bootstrap resamples of the test split
LEVEL = 0.95


def resample_scores(task: str, y_true, y_pred, proba: np.ndarray | None, rows: np.ndarray) -> dict[str, np.ndarray]:
    """score() for many resamples at once: `rows` is (resamples, n) row indices; one value per resample and metric.
    Vectorised with numpy (sklearn per resample takes seconds); the same definitions as score(): macro averages
    over the labels present in each resample, zero_division=0, the larger label positive for roc_auc."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if task == "regression":
        t, p = y_true.astype(float)[rows], y_pred.astype(float)[rows]
        errors = t - p
        total = ((t - t.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = 1 - (errors ** 2).sum(axis=1) / total
        return {"r2": r2, "rmse": np.sqrt((errors ** 2).mean(axis=1)), "mae": np.abs(errors).mean(axis=1)}
    labels = np.unique(np.concatenate([y_true.astype(str), y_pred.astype(str)]))
    t = np.searchsorted(labels, y_true.astype(str))[rows]
    p = np.searchsorted(labels, y_pred.astype(str))[rows]
    tp = np.stack([((t == k) & (p == k)).sum(axis=1) for k in range(len(labels))], axis=1).astype(float)
    actual = np.stack([(t == k).sum(axis=1) for k in range(len(labels))], axis=1).astype(float)
    predicted = np.stack([(p == k).sum(axis=1) for k in range(len(labels))], axis=1).astype(float)
    present = (actual + predicted) > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(actual > 0, tp / actual, 0.0)
        f1 = np.where(present, 2 * tp / (actual + predicted), 0.0)
    count = present.sum(axis=1)
    found = {"accuracy": (t == p).mean(axis=1), "f1_macro": (f1 * present).sum(axis=1) / count,
             "precision_macro": (precision * present).sum(axis=1) / count,
             "recall_macro": (recall * present).sum(axis=1) / count}
    if proba is not None and proba.shape[1] == 2:
        from scipy.stats import rankdata

        positive = (y_true.astype(str) == np.unique(y_true.astype(str))[-1])[rows]
        ranks = rankdata(np.asarray(proba)[:, 1][rows], axis=1)
        n_pos, n_neg = positive.sum(axis=1), (~positive).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            found["roc_auc"] = ((ranks * positive).sum(axis=1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return found


def bootstrap(task: str, y_true, y_pred, proba: np.ndarray | None, seed: int, resamples: int = RESAMPLES,
              level: float = LEVEL) -> dict:
    """{"resamples", "level", "intervals": {metric: {"low", "high"}}}: percentile intervals of each metric over
    seeded resamples (with replacement) of the test rows. Resamples holding one class only are left out."""
    y_true = np.asarray(y_true)
    rows = np.random.default_rng(seed).integers(0, len(y_true), (resamples, len(y_true)))
    if task == "classification":
        codes = np.unique(y_true.astype(str), return_inverse=True)[1]
        rows = rows[codes[rows].min(axis=1) != codes[rows].max(axis=1)]
    tail = (1 - level) / 2 * 100
    intervals = {}
    for name, values in resample_scores(task, y_true, y_pred, proba, rows).items():
        values = values[np.isfinite(values)]
        intervals[name] = {"low": round(float(np.percentile(values, tail)), 6),
                           "high": round(float(np.percentile(values, 100 - tail)), 6)}
    return {"resamples": len(rows), "level": level, "intervals": intervals}


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
    columns = list((params.get("slices") or {}).get("columns") or [])
    seed = int(params["split"]["seed"])
    evaluation = {"test_rows": len(y), "bootstrap": bootstrap(task, y, predictions, proba, seed),
                  "slices": slices.slice_metrics(X, y, predictions, columns, task) if columns else None}
    EVALUATION.parent.mkdir(parents=True, exist_ok=True)
    EVALUATION.write_text(json.dumps(evaluation, indent=2) + "\n")
    return result
