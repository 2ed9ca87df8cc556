"""Training: seeded and deterministic, handles strings and gaps, every model family trains; no MLflow here."""

from __future__ import annotations

import subprocess
import sys

import joblib
import numpy as np
import pytest
from conftest import user_frame, write_schema

from {{ cookiecutter.package_name }} import contract, paths
from {{ cookiecutter.package_name }}.config import MODEL_FAMILIES
from {{ cookiecutter.package_name }}.errors import PipelineError
from {{ cookiecutter.package_name }}.stages import prepare, train


def fit_predict(params, frame):
    X, y = train.split_xy(frame, params)
    return train.build_pipeline(params, X).fit(X, y).predict(X)


def test_training_is_deterministic(params):
    prepare.run(params)
    X, y = train.read_split(paths.TRAIN, params)
    first = train.build_pipeline(params, X).fit(X, y).predict(X)
    second = train.build_pipeline(params, X).fit(X, y).predict(X)
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_strings_missing_values_and_string_labels(params, task):
    params = {**params, "task": task, "data": {**params["data"], "target": "label"}}
    params["model"] = {**params["model"], "family": "random_forest", "params": {"n_estimators": 20}}
    frame = user_frame(task)
    predictions = fit_predict(params, frame)
    assert len(predictions) == len(frame)
    if task == "classification":
        assert set(predictions) <= {"yes", "no"}


@pytest.mark.parametrize("family", sorted(set(MODEL_FAMILIES["{{ cookiecutter.task }}"])))
def test_every_family_trains_without_mlflow(params, project, family):
    params["model"] = {"family": family, "seed": 0, "params": {}}
    prepare.run(params)
    path = train.run(params)
    X, _ = train.read_split(paths.TEST, params)
    assert len(joblib.load(project / path).predict(X)) == len(X)
    assert not (project / "mlruns").exists()  # train talks to no store


def test_only_register_imports_mlflow_and_only_drift_evidently():
    """Importing MLflow or Evidently costs seconds: every other stage must stay clear of them."""
    stages = ("cli", "stages.checks", "contract", "stages.prepare", "stages.train", "stages.evaluate", "stages.gate",
              "stages.register", "serving.export", "champion", "stages.ingest")
    code = ("import importlib, sys\n"
            f"for stage in {stages!r}:\n"
            "    importlib.import_module('{{ cookiecutter.package_name }}.' + stage)\n"
            "print(sorted(m for m in ('mlflow', 'evidently', 'matplotlib') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_signature_types_columns_as_pandas_reads_the_csv(tmp_path, params):
    write_schema(user_frame("classification"), tmp_path / "schema.yaml")
    params = {**params, "task": "classification", "data": {**params["data"], "schema": str(tmp_path / "schema.yaml")}}
    signature = contract.model_signature(params, ["colour", "size", "noise", "count"])
    assert {c.name: c.type.name for c in signature.inputs.inputs} == {
        "colour": "string", "size": "double", "noise": "double", "count": "long"}
    assert signature.outputs.inputs[0].type.name == "string"


def test_bad_hyper_parameter_is_named(params):
    params["model"] = {**params["model"], "params": {"no_such_option": 1}}
    X, _ = train.split_xy(user_frame(params["task"]).rename(columns={"label": params["data"]["target"]}), params)
    with pytest.raises(PipelineError, match=r"model\.params for .*no_such_option"):
        train.build_pipeline(params, X)
