"""Metrics per slice: how the model does on each value of the columns named in params.yaml `slices.columns`.

Used by the model card (candidate vs test data) and by monitoring (captured predictions with labels). A numeric
column with many distinct values is cut into quartiles, so each slice has rows enough to mean something; slices
below MIN_ROWS are reported but left out of the widest gap, which one unlucky row would otherwise decide.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .errors import PipelineError

# The task's primary metric (the gate's default) and which way is better.
METRIC = {"classification": ("f1_macro", 1), "regression": ("r2", 1)}
MIN_ROWS = 10  # fewer rows: shown, but no part of the widest gap
MAX_VALUES = 10  # numeric columns with more distinct values are cut into quartiles
MISSING = "(missing)"


def _score(task: str, y_true: pd.Series, y_pred: pd.Series) -> float | None:
    from sklearn import metrics as skm

    if task == "classification":
        return round(float(skm.f1_score(y_true, y_pred, average="macro")), 6)
    if len(y_true) < 2 or float(np.var(y_true)) == 0.0:
        return None  # r2 is undefined on one row or a constant target
    return round(float(skm.r2_score(y_true, y_pred)), 6)


def _groups(values: pd.Series) -> tuple[pd.Series, list[str]]:
    """Each row's slice label (the value itself, or its quartile, "12.3 to 14.1", for a numeric column with many
    values), and the labels in order (quartiles from low to high)."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values) \
            and values.nunique(dropna=True) > MAX_VALUES:
        bins = pd.qcut(values, q=4, duplicates="drop")
        low = values.min()  # qcut moves the first edge a little below it
        names = {interval: f"{max(interval.left, low):.4g} to {interval.right:.4g}" for interval in bins.cat.categories}
        labels = bins.map(names).astype(object)
        order = list(names.values())
    else:
        labels = values.astype(str)
        order = sorted(labels[values.notna()].unique(), key=str)
    labels = labels.where(values.notna(), MISSING)
    return labels, order + ([MISSING] if values.isna().any() else [])


def slice_metrics(frame: pd.DataFrame, y_true, y_pred, columns: list[str], task: str) -> dict:
    """{"metric": name, "min_rows": n, "columns": {column: {value: {"rows": n, metric: x}}}, "widest_gap": ...}.

    `widest_gap` is {column, gap, best, worst} (best/worst are slice values) for the column whose slices with at
    least MIN_ROWS rows differ most in the metric, or None when no column has two such slices.
    """
    if task not in METRIC:
        raise PipelineError(f"slices: task '{task}' is not one of {', '.join(METRIC)}")
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise PipelineError(f"slices.columns in params.yaml names {', '.join(map(repr, missing))}, not a column of "
                            f"the data (columns: {', '.join(map(str, frame.columns))})")
    metric, _ = METRIC[task]
    y_true = pd.Series(np.asarray(y_true), index=frame.index)
    y_pred = pd.Series(np.asarray(y_pred), index=frame.index)
    result: dict = {"metric": metric, "min_rows": MIN_ROWS, "columns": {}, "widest_gap": None}
    widest = None
    for column in columns:
        labels, order = _groups(frame[column])
        per_value: dict[str, dict] = {}
        for value in order:
            mask = labels == value
            per_value[str(value)] = {"rows": int(mask.sum()), metric: _score(task, y_true[mask], y_pred[mask])}
        result["columns"][column] = per_value
        scored = {v: s[metric] for v, s in per_value.items()
                  if s["rows"] >= MIN_ROWS and s[metric] is not None and not math.isnan(s[metric])}
        if len(scored) >= 2:
            best, worst = max(scored, key=scored.get), min(scored, key=scored.get)
            gap = round(scored[best] - scored[worst], 6)
            if widest is None or gap > widest["gap"]:
                widest = {"column": column, "gap": gap, "best": best, "worst": worst}
    result["widest_gap"] = widest
    return result
