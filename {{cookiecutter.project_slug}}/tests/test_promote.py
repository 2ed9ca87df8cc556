"""Promotion (levels 1 and 2): promote writes the champion by content, versions only go up, nothing new is
never proposed, and export serves only the bytes champion.json names."""

from __future__ import annotations

import json

import joblib
import pytest
from conftest import git, run_cli
from fastapi.testclient import TestClient
from test_champion import commit_all, registered
from test_serve import JSON, batch, same_predictions

from {{ cookiecutter.package_name }} import champion, paths
from {{ cookiecutter.package_name }}.ci import promote
from {{ cookiecutter.package_name }}.errors import PipelineError
from {{ cookiecutter.package_name }}.serving import export, serve
from {{ cookiecutter.package_name }}.stages import evaluate, gate, prepare, register, train


def test_promote_without_a_registered_candidate_is_a_clear_error(project):
    result = run_cli("promote")
    assert result.returncode == 2
    assert "reports/registration.json: not found; run the register stage first" in result.stderr


def test_promote_names_the_model_by_content_and_proposes_nothing_new(params, project):
    registration = registered(params)
    first = promote.promote(params)
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
    promote.promote(params)
    record = json.loads((project / "champion.json").read_text())
    record["model_sha256"] = "0" * 64  # as if a library had written the same model differently
    champion.write(record)
    result = promote.promote(params, check=True)
    assert not result["promoted"] and "no new labelled data" in result["reason"]


def test_versions_follow_git_whatever_store_the_run_starts_from(params, project, tmp_path, monkeypatch):
    # A rolled-back champion v2 whose history reached v4; this run's own registry is new (version 1).
    champion.write({"model_name": "demo", "version": 2, "highest_version": 4, "model_sha256": "x",
                    "inputs_sha256": "y"})
    commit_all(project, "champion v2 after a rollback from v4")
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "out"))
    assert registered(params)["version"] == 1
    assert run_cli("promote").returncode == 0  # the command sets the step outputs
    record = champion.read()
    assert record["version"] == record["highest_version"] == 5  # never 3 or 4 again
    assert "promoted=true\nversion=5\n" in (tmp_path / "out").read_text()
    assert promote.next_version(record, registry_version=9) == 9  # a shared registry that is ahead wins


def test_export_serves_only_the_recorded_bytes(params, project):
    registered(params)
    promote.promote(params)
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


def test_export_writes_the_champion_with_its_metadata(params, project, tmp_path):
    with pytest.raises(PipelineError, match="champion.json: not found"):
        export.run(params, out=tmp_path / "none")
    prepare.run(params)
    train.run(params)
    evaluate.run(params)
    # Any threshold: the gate's bar is not what this test is about.
    params["gate"]["thresholds"] = {next(iter(params["gate"]["thresholds"])): {"min": -1e9}}
    gate.run(params)
    register.register(params)
    promote.promote(params)

    metadata = export.run(params, out=tmp_path / "model")
    assert metadata["version"] == 1 and metadata["alias"] == "champion"
    assert metadata["metrics"] == json.loads(paths.METRICS.read_text())
    assert metadata["git_commit"] == git("rev-parse", "HEAD", cwd=project).strip()
    assert json.loads((tmp_path / "model" / paths.METADATA_FILE).read_text()) == metadata

    # The ONNX model, verified on the whole held-out split, is what the app serves; the image installs
    # ONNX Runtime, not scikit-learn.
    X, _ = train.read_split(paths.TEST, params)
    conversion = metadata["conversion"]
    assert metadata["runtime"] == "onnx" and conversion["status"] == "verified"
    assert conversion["rows"] == conversion["within_tolerance"] == len(X)
    if params["task"] == "classification":
        assert conversion["identical_labels"] == len(X)
    assert (tmp_path / "model" / paths.ONNX_FILE).is_file()
    requirements = (tmp_path / "model" / paths.REQUIREMENTS_FILE).read_text()
    assert "onnxruntime==" in requirements and "scikit-learn" not in requirements
    response = TestClient(serve.create_app(tmp_path / "model")).post(
        "/predict", content=batch(*X.head(5).to_dict(orient="records")), headers=JSON)
    assert response.status_code == 200, response.text
    expected = joblib.load(paths.MODEL).predict(X.head(5)).tolist()
    assert same_predictions(response.json()["predictions"], expected, params["task"])
