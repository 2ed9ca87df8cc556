"""Train a seeded scikit-learn Pipeline (preprocessing + model from params.yaml); `register` logs it to MLflow."""

from __future__ import annotations

from pathlib import Path

import joblib
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from .. import contract
from ..errors import PipelineError
from ..paths import MODEL, TRAIN

ESTIMATORS = {
    ("classification", "logistic_regression"): LogisticRegression,
    ("classification", "random_forest"): RandomForestClassifier,
    ("classification", "gradient_boosting"): GradientBoostingClassifier,
    ("classification", "hist_gradient_boosting"): HistGradientBoostingClassifier,
    ("regression", "ridge"): Ridge,
    ("regression", "random_forest"): RandomForestRegressor,
    ("regression", "gradient_boosting"): GradientBoostingRegressor,
    ("regression", "hist_gradient_boosting"): HistGradientBoostingRegressor,
}


def build_pipeline(params: dict, X: pd.DataFrame) -> Pipeline:
    """Impute and scale numbers, impute and one-hot encode strings, then the configured model."""
    model = params["model"]
    estimator_class = ESTIMATORS[(params["task"], model["family"])]
    hyper = dict(model.get("params") or {})
    if "random_state" in estimator_class().get_params():
        hyper.setdefault("random_state", model.get("seed", 0))
    try:
        estimator = estimator_class(**hyper)
    except TypeError as exc:
        raise PipelineError(f"params.yaml: model.params for {model['family']}: {exc}") from None
    # Explicit column lists (not selectors): they document the inputs and convert to ONNX.
    numeric = X.select_dtypes("number").columns.tolist()
    categorical = [c for c in X.columns if c not in numeric]
    preprocess = ColumnTransformer(
        [
            ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            ("categorical", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                          OneHotEncoder(handle_unknown="ignore")), categorical),
        ]
    )
    return Pipeline([("preprocess", preprocess), ("model", estimator)])


def split_xy(frame: pd.DataFrame, params: dict) -> tuple[pd.DataFrame, pd.Series]:
    target = params["data"]["target"]
    y = frame[target].astype(str) if params["task"] == "classification" else frame[target].astype(float)
    return frame.drop(columns=[target]), y


def read_split(path: Path, params: dict) -> tuple[pd.DataFrame, pd.Series]:
    """Read a prepared split with the contract's dtypes: integers stay integers, strings stay strings."""
    return split_xy(contract.read(path, contract.load(params["data"]["schema"])), params)


def run(params: dict) -> Path:
    X, y = read_split(TRAIN, params)
    pipeline = build_pipeline(params, X).fit(X, y)
    MODEL.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(pipeline, MODEL)
    return MODEL
