"""The champion lives in git: promote writes it by content, versions only go up, nothing new is never
proposed, rollback restores an earlier champion from history, export refuses bytes that differ,
and the MLflow run holds everything a reviewer looks for."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import joblib
import mlflow
import numpy as np
import pandas as pd
import pytest
from conftest import git, run_cli, store

from {{ cookiecutter.package_name }}.stages import card, checks, evaluate, gate, ingest, prepare, register, train

COMMIT = ("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm")


def registered(params) -> dict:
    """The pipeline up to `register`, in this process (as `dvc repro` runs it, minus drift)."""
    checks.run_checks(params, "reports/data_check.json", "reports/data_check.html")
    prepare.run(params)
    train.run(params)
    evaluate.run(params)
    card.run(params)
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


def test_add_current_appends_text_and_keeps_every_byte(params, project):
    """Integers with gaps, codes with leading zeros, quoted commas, no final line break: the training file's bytes
    stay, the new rows arrive as the batch spelled them, and git shows only added lines."""
    data = project / "data/raw/own.csv"
    # CRLF line endings, and no final line break
    training = 'code,visits,city,label\r\n007,181,"Paris, FR",yes\r\n012,,Lyon,no\r\n"013",5,"Nice, FR",no'
    data.write_bytes(training.encode())
    (project / "own-schema.yaml").write_text(
        "columns:\n  code: {dtype: str}\n  visits: {dtype: float64, nullable: true}\n  city: {dtype: str}\n"
        "  label: {dtype: str}\n")
    (project / "data/raw/own_current.csv").write_text(
        "visits,code,city,label\n"   # another column order
        "181.0,007,\"Paris, FR\",yes\n"  # the first training row: 181.0 is 181 in a float64 column
        "181,7,\"Paris, FR\",yes\n"  # code 7 is not code 007: new
        ",014,\"Metz, \"\"old\"\" town\",no\n"  # a gap, a quoted comma and quotes: new
        "3,015,Brest,\n"  # no label yet: stays out
        ",014,\"Metz, \"\"old\"\" town\",no\n")  # repeated in the batch: added once
    params["data"].update(path="data/raw/own.csv", schema="own-schema.yaml", target="label")
    params["drift"]["current"] = "data/raw/own_current.csv"
    commit_all(project, "own data")
    assert ingest.add_current(params) == (2, "data/raw/own_current.csv")
    after = data.read_bytes()
    assert after.startswith(training.encode())
    assert after[len(training):] == b'\r\n7,181,"Paris, FR",yes\r\n014,,"Metz, ""old"" town",no\r\n'
    diff = git("diff", "-U0", "--", "data/raw/own.csv", cwd=project).splitlines()
    removed = [line[1:] for line in diff if line.startswith("-") and not line.startswith("---")]
    added = [line[1:] for line in diff if line.startswith("+") and not line.startswith("+++")]
    # The one "removed" line is the last one gaining its line break, with the same text.
    assert removed == ['"013",5,"Nice, FR",no'] and added[0].rstrip("\r") == removed[0]
    assert ingest.add_current(params) == (0, "data/raw/own_current.csv")  # twice adds nothing
    assert data.read_bytes() == after

    # A file that ends with a line break: the diff is only added lines.
    commit_all(project, "added")
    (project / "data/raw/own_current.csv").write_text("visits,code,city,label\n2,016,Caen,yes\n")
    assert ingest.add_current(params) == (1, "data/raw/own_current.csv")
    numstat = git("diff", "--numstat", "--", "data/raw/own.csv", cwd=project).split()
    assert numstat[:2] == ["1", "0"], numstat  # one line added, none removed
    frame = checks.read_csv(data, ["code"])
    assert list(frame["code"]) == ["007", "012", "013", "7", "014", "016"]


def test_register_logs_what_a_reviewer_looks_for(params, project, tmp_path, monkeypatch):
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
    assert {"reports/model_card.md", "reports/evaluation.json"} <= set(artifacts)  # the card, in the run
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

    # The project folder moves: the embedded store follows it. MLflow's tables are never rewritten: the artifact
    # location they hold is a link, re-pointed on the next use. A new process, as every CLI call is: MLflow
    # caches stores and artifact repositories per process.
    db = (project / "mlflow.db").read_bytes()
    assert str(project.resolve()).encode() + b"/mlruns" not in db
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
    assert (moved / "mlflow.db").read_bytes() == db  # MLflow's own writes only (none, to read)

    # Moved again: `ui` re-points the link before it starts MLflow's UI (its exec is caught here: the server
    # takes half a minute to start), and then a plain MLflow client, which knows nothing of this project, works.
    again = tmp_path / "again"
    shutil.move(moved, again)
    started = []
    monkeypatch.setattr(os, "execv", lambda path, argv: started.append(argv))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # set_tracking_uri exported it in this process
    assert run_cli("ui", "--port", "5123", cwd=again).returncode == 0
    assert started[0][1:] == ["-m", "mlflow", "ui", "--backend-store-uri", f"sqlite:///{again / 'mlflow.db'}",
                              "--host", "127.0.0.1", "--port", "5123"]
    code = ("import mlflow\n"
            f"mlflow.set_tracking_uri('sqlite:///mlflow.db')\n"
            f"mlflow.pyfunc.load_model('models:/{params['mlflow']['model_name']}/{registration['version']}')\n"
            f"print(mlflow.artifacts.load_text('runs:/{registration['run_id']}/reports/gate.json'))")
    result = subprocess.run([sys.executable, "-c", code], cwd=again, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout) == json.loads((again / "reports/gate.json").read_text())
