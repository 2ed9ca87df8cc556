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

from {{ cookiecutter.package_name }} import champion
from {{ cookiecutter.package_name }}.serving import export
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


def test_promote_names_the_model_by_content_and_proposes_nothing_new(params, project):
    registration = registered(params)
    first = register.promote(params)
    record = json.loads((project / "champion.json").read_text())
    assert first["promoted"] and record == first["record"]
    assert record["version"] == record["highest_version"] == 1 and record["storage"] == "git"
    assert record["model_sha256"] == champion.sha256_file(project / "champion/model.joblib")
    assert record["model_sha256"] == champion.sha256_file(project / "models/model.joblib")
    assert record["run_id"] == registration["run_id"] and record["metrics"] == registration["metrics"]
    assert record["data_sha256"] == champion.sha256_file(project / params["data"]["path"])
    assert record["trained_from"] == git("rev-parse", "HEAD", cwd=project).strip()
    assert record["target"] == params["data"]["target"] and params["data"]["target"] not in record["features"]
    commit_all(project, "champion v1")

    # The same pipeline again: a byte-identical model is not proposed, and nothing is written.
    again = run_cli("promote")
    assert again.returncode == 0 and "nothing to promote: the model is byte-identical to champion v1" in again.stdout
    assert git("status", "--porcelain", "champion.json", "champion", cwd=project) == ""


def test_same_inputs_are_nothing_new_even_if_the_bytes_differ(params, project):
    registered(params)
    register.promote(params)
    record = json.loads((project / "champion.json").read_text())
    record["model_sha256"] = "0" * 64  # as if a library had written the same model differently
    champion.write(record)
    result = register.promote(params, check=True)
    assert not result["promoted"] and "no new labelled data" in result["reason"]


def test_versions_follow_git_whatever_store_the_run_starts_from(params, project, tmp_path, monkeypatch):
    # A rolled-back champion v2 whose history reached v4; this run's own registry is new (version 1).
    champion.write({"model_name": "demo", "version": 2, "highest_version": 4, "model_sha256": "x",
                    "inputs_sha256": "y"})
    commit_all(project, "champion v2 after a rollback from v4")
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "out"))
    assert registered(params)["version"] == 1
    record = register.promote(params)["record"]
    assert record["version"] == record["highest_version"] == 5  # never 3 or 4 again
    assert "promoted=true\nversion=5\n" in (tmp_path / "out").read_text()
    assert champion.next_version(record, registry_version=9) == 9  # a shared registry that is ahead wins


def test_rollback_restores_an_earlier_champion_from_history(project, monkeypatch):
    models = {}
    for version in (1, 2):
        (project / "champion").mkdir(exist_ok=True)
        (project / "champion/model.joblib").write_bytes(f"model {version}".encode())
        models[version] = champion.sha256_file(project / "champion/model.joblib")
        champion.write({"model_name": "demo", "version": version, "highest_version": version,
                        "model_sha256": models[version], "metrics": {"f1_macro": 0.9 + version / 100}})
        commit_all(project, f"champion v{version}")

    result = run_cli("rollback", "--version", "1")
    assert result.returncode == 0, result.stderr
    assert "v1 is the champion again (was v2)" in result.stdout
    record = json.loads((project / "champion.json").read_text())
    assert (record["version"], record["highest_version"], record["rolled_back_from"]) == (1, 2, 2)
    assert (project / "champion/model.joblib").read_bytes() == b"model 1"
    assert champion.next_version(record, None) == 3

    commit_all(project, "roll back to v1")
    assert "version 1 is already the champion" in run_cli("rollback", "--version", "1").stderr
    unknown = run_cli("rollback", "--version", "7")
    assert unknown.returncode == 2 and "versions found: [1, 2]" in unknown.stderr


def test_export_serves_only_the_recorded_bytes(params, project):
    registered(params)
    register.promote(params)
    metadata = export.run(params, "champion", project / "build/model")
    assert metadata["version"] == 1 and metadata["alias"] == "champion"
    assert metadata["model_sha256"] == champion.sha256_file(project / "champion/model.joblib")

    with (project / "champion/model.joblib").open("ab") as model:
        model.write(b"tampered")
    result = run_cli("export", "--out", "build/other")
    assert result.returncode == 2 and "refusing to use a model that is not the recorded champion" in result.stderr
    assert not (project / "build/other").exists()

    candidate = export.run(params, "candidate", project / "build/candidate")
    assert candidate["alias"] == "candidate" and candidate["version"] is None


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
