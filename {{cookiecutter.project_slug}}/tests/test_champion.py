"""The champion lives in git: promote writes it by content, versions only go up, nothing new is never
proposed, rollback restores an earlier champion from history, export refuses bytes that differ,
and the MLflow run holds everything a reviewer looks for."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import joblib
import mlflow
import numpy as np
import pandas as pd
import pytest
from conftest import git, store

from {{ cookiecutter.package_name }}.stages import checks, evaluate, gate, ingest, prepare, register, train

COMMIT = ("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm")


def registered(params) -> dict:
    """The pipeline up to `register`, in this process (as `dvc repro` runs it, minus drift)."""
    checks.run_checks(params, "reports/data_check.json", "reports/data_check.html")
    prepare.run(params)
    train.run(params)
    evaluate.run(params)
    gate.run(params)
    return register.register(params)


def commit_all(project, message: str) -> None:
    git("add", "-A", cwd=project)
    git(*COMMIT, message, cwd=project)


def test_add_current_appends_new_labelled_rows_once(params, project):
    path = project / params["data"]["path"]
    before = pd.read_csv(path)
    target = params["data"]["target"]
    current = before.head(6).copy()
    feature = next(c for c in current.columns if c != target)
    numeric = pd.api.types.is_numeric_dtype(current[feature])
    current[feature] = current[feature] + 1000 if numeric else current[feature].astype(str) + "-new"  # new rows
    current.loc[current.index[:2], target] = np.nan  # unlabelled rows stay out
    current = pd.concat([current, before.tail(1)])  # a row the training data already holds
    params["drift"]["current"] = params["drift"].get("current") or "data/raw/current.csv"
    current.to_csv(project / params["drift"]["current"], index=False)
    assert ingest.add_current(params) == (4, params["drift"]["current"])
    after = pd.read_csv(path)
    assert len(after) == len(before) + 4 and path.read_text().startswith(before.to_csv(index=False)[:200])
    assert ingest.add_current(params) == (0, params["drift"]["current"])


def test_register_logs_what_a_reviewer_looks_for(params, project, tmp_path):
    registration = registered(params)
    client = store(project)
    run = client.get_run(registration["run_id"])
    for key in ("task", "model.family", "model.seed", "split.test_size", "split.seed", "data.target",
                "data.sha256", "data.train_rows"):
        assert key in run.data.params, key
    primary = next(iter(params["gate"]["thresholds"]))
    assert run.data.metrics[f"test_{primary}"] == pytest.approx(registration["metrics"][primary])
    contexts = {tag.value for i in run.inputs.dataset_inputs for tag in i.tags if tag.key == "mlflow.data.context"}
    assert contexts == {"training", "evaluation"}
    artifacts = {a.path for folder in ("reports", "metrics", "plots") for a in client.list_artifacts(run.info.run_id,
                                                                                                       folder)}
    assert {"reports/gate.json", "reports/data_check.json", "metrics/metrics.json"} <= artifacts
    assert any(path.startswith("plots/") for path in artifacts)
    assert run.data.tags["gate"] == "passed"
    version = client.get_model_version(params["mlflow"]["model_name"], str(registration["version"]))
    assert {"gate", "primary_metric", "git_commit", "data_sha256"} <= set(version.tags)
    assert version.tags["gate"] == "passed" and version.description

    # A real MLflow client scores the raw CSV the project trained from (integer columns included; the
    # target is an extra column it leaves out), like the file DVC tracks.
    raw = pd.read_csv(project / params["data"]["path"])
    pyfunc = mlflow.pyfunc.load_model(f"models:/{params['mlflow']['model_name']}/{registration['version']}")
    expected = joblib.load(project / "models/model.joblib").predict(train.split_xy(raw, params)[0])
    np.testing.assert_array_equal(np.asarray(pyfunc.predict(raw)), expected)
    assert str((project / "mlflow.db").resolve()) not in (project / "models/run.json").read_text()

    # The project folder moves: the embedded store follows it (paths re-rooted on the next use). A new
    # process, as every CLI call is: MLflow caches stores and artifact repositories per process.
    moved = tmp_path / "moved"
    shutil.copytree(project, moved, symlinks=True)
    shutil.rmtree(project / "mlruns")
    code = ("import mlflow, sys; from {{ cookiecutter.package_name }} import config, tracking\n"
            "tracking.setup(config.load_params())\n"
            f"model = mlflow.pyfunc.load_model('models:/{params['mlflow']['model_name']}/{registration['version']}')\n"
            f"print(len(mlflow.MlflowClient().list_artifacts('{registration['run_id']}', 'reports')))")
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}  # set_tracking_uri exports it
    result = subprocess.run([sys.executable, "-c", code], cwd=moved, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert int(result.stdout.split()[-1]) >= 2
