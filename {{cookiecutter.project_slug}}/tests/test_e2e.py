"""End to end on the demo data and on a user's own CSV, through `dvc repro` as the README says.

`dvc repro` runs every stage in its own process, as users run it; where a test is about something
else (a user's CSV, a tracking server, a bad file), the stages run in this process, each as its
dvc.yaml command says (`stages()`), so the suite pays each library's import once."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time

import mlflow
import pytest
import yaml
from conftest import git, run_cli, store, use_user_data, user_frame


def dvc(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "dvc", *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def stages(*, until: str | None = None) -> None:
    """Every stage's command from dvc.yaml, in order, through the CLI in this process."""
    package = "{{ cookiecutter.package_name }}"
    for name, stage in yaml.safe_load(open("dvc.yaml"))["stages"].items():
        command = stage["cmd"].split()
        assert command[:3] == ["python", "-m", package], stage["cmd"]
        result = run_cli(*command[3:])
        assert result.returncode == 0, f"stage {name}: {result.stdout}{result.stderr}"
        if name == until:
            return


def test_demo_pipeline_end_to_end(params, project):
    (project / "mlflow.db").unlink()  # a fresh clone: the first run creates the store
    dvc("repro")
    metrics = json.loads((project / "metrics/metrics.json").read_text())
    verdict = json.loads((project / "reports/gate.json").read_text())
    registration = json.loads((project / "reports/registration.json").read_text())
    drift = json.loads((project / "reports/drift.json").read_text())
    assert verdict["passed"] is True and verdict["candidate"] == metrics
    assert registration["version"] == 1 and registration["alias"] == "challenger"
    version = store(project).get_model_version_by_alias(params["mlflow"]["model_name"], "challenger")
    assert int(version.version) == 1
    assert drift["current"] == (params["drift"]["current"] or "data/prepared/test.csv")
    assert (project / "reports/drift.html").is_file()
    assert json.loads((project / "reports/data_check.json").read_text())["passed"] is True

    again = dvc("repro")
    assert "Data and pipelines are up to date." in again.stdout
    assert "Running stage" not in again.stdout

    # Metrics are git-tracked, so `dvc metrics diff` compares with the base branch.
    git("add", "-A", cwd=project)
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "run", cwd=project)
    dvc("params", "diff")
    shown = dvc("metrics", "show", "--json").stdout
    primary = next(iter(params["gate"]["thresholds"]))
    assert primary in shown


@pytest.mark.parametrize("task", ["{{ cookiecutter.task }}"])
def test_users_own_csv(project, task):
    use_user_data(project, user_frame(task), task)
    inferred = run_cli("infer-schema")
    assert inferred.returncode == 0, inferred.stderr
    schema = (project / "schema.yaml").read_text()
    assert "colour:" in schema and "nullable: true" in schema
    stages()
    verdict = json.loads((project / "reports/gate.json").read_text())
    assert verdict["passed"] is True, verdict
    assert "no current batch configured" in json.loads((project / "reports/drift.json").read_text())["note"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path, migrated_store):
    """A real tracking server on loopback, with its own store (migrated already: it starts in seconds)."""
    shutil.copy2(migrated_store, tmp_path / "server.db")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "server-artifacts"), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("mlflow server did not start")
        yield uri
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_remote_tracking_server(project, mlflow_server, monkeypatch, params):
    (project / "mlflow.db").unlink()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    stages()  # register logs and registers; a failing gate would log too
    assert not (project / "mlflow.db").exists()
    client = mlflow.MlflowClient(tracking_uri=mlflow_server)
    version = client.get_model_version_by_alias(params["mlflow"]["model_name"], "challenger")
    assert int(version.version) == 1
    assert "test_" + next(iter(params["gate"]["thresholds"])) in client.get_run(version.run_id).data.metrics


def corrupt_data(project, params, how):
    """Break the project's data the way a user's CSV might be broken; return (column, rule, CSV line) to expect.

    Works for any data set the README's steps produce: columns are chosen by their type in the contract.
    """
    import pandas as pd

    from {{ cookiecutter.package_name }} import contract

    path = project / params["data"]["path"]
    frame = pd.read_csv(path)
    schema = contract.load(params["data"]["schema"])
    target = params["data"]["target"]
    first = next(c for c in frame.columns if c != target)
    numeric = [c for c in frame.columns if schema.dtype(c) in contract.NUMERIC]
    line = None
    if how == "empty-file":
        path.write_text("")
        return "", "not_empty", None
    if how == "missing-column":
        frame = frame.drop(columns=[first])
        rule = "column_in_dataframe"
    elif how == "wrong-dtype":
        if not numeric:  # only text columns: declare one a number, which the data then breaks
            numeric = [first]
            (project / params["data"]["schema"]).write_text(
                (project / params["data"]["schema"]).read_text().replace(f"  {first}: " + "{dtype: str,",
                                                                         f"  {first}: " + "{dtype: float64,", 1))
        first = numeric[0]
        frame[first] = frame[first].astype(object)
        frame.loc[3, first] = "twelve"
        line = 5
        rule = f"coerce_dtype('{contract.load(params['data']['schema']).dtype(first)}')"
    elif how == "all-null":
        frame[first] = None
        rule = "not_all_null" if schema.nullable(first) else "not_nullable"
    elif how == "missing-target":
        frame, first, rule = frame.drop(columns=[target]), target, "target_present"
    elif how == "bad-target":
        # Classification: a label the contract does not allow; regression: a missing target value.
        frame[target] = frame[target].astype(object)
        frame.loc[0, target] = "ultraviolet" if params["task"] == "classification" else None
        first, rule, line = target, "isin" if params["task"] == "classification" else "not_nullable", 2
    frame.to_csv(path, index=False)
    return first, rule, line


@pytest.mark.parametrize("how", ["missing-column", "wrong-dtype", "all-null", "empty-file", "missing-target",
                                 "bad-target"])
def test_bad_data_stops_the_pipeline_and_registers_nothing(params, project, how):
    column, rule, line = corrupt_data(project, params, how)
    if how == "missing-column":  # once through dvc: the failed check stops everything after it
        result = subprocess.run([sys.executable, "-m", "dvc", "repro"], capture_output=True, text=True)
        assert "failed to reproduce 'check'" in result.stderr
    else:
        result = run_cli("check")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert f"rule {rule}" in result.stderr
    if column:
        assert f"{params['data']['path']}: column '{column}': rule {rule}" in result.stderr
    report = json.loads((project / "reports/data_check.json").read_text())
    assert report["passed"] is False
    if line:
        failed = [f for f in report["failures"] if f["column"] == column and f["rule"].startswith(rule)]
        assert line in failed[0]["lines"], failed
    assert not (project / "models/model.joblib").exists()
    assert store(project).search_registered_models() == []
