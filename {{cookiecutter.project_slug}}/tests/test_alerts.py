"""Drift alerts (levels 1 and 2): the drift summary as step outputs and job summary, and the alert that
starts retraining and keeps one issue, against the tests' one fake GitHub API (github_stub.py, loopback only)."""

from __future__ import annotations

import pytest
from conftest import REPO, TOKEN
from github_stub import GitHubStub
from test_ci import PARAMS, write

from {{ cookiecutter.package_name }}.ci import alerts
from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.errors import PipelineError

DRIFTED = {"note": "current batch: data/raw/current.csv", "current": "data/raw/current.csv", "dataset_drift": True,
           "drift_share": 0.6, "share_threshold": 0.5, "drifted_columns": 3, "reference_rows": 100,
           "current_rows": 50, "columns": [
               {"column": "size`|<b>", "method": "K-S p_value", "score": 0.001, "threshold": 0.05, "drifted": True},
               {"column": "colour", "method": "chi-square p_value", "score": 0.01, "threshold": 0.05,
                "drifted": True},
               {"column": "noise", "method": "K-S p_value", "score": 0.6, "threshold": 0.05, "drifted": False}]}
STEADY = {**DRIFTED, "dataset_drift": False, "drift_share": 0.0, "drifted_columns": 0,
          "columns": [{**c, "drifted": False} for c in DRIFTED["columns"]]}


@pytest.fixture
def github():
    """The tests' one fake GitHub API (github_stub.py): (env for the alert, the stub)."""
    with GitHubStub(repo=REPO, token=TOKEN, prs=()) as stub:
        env = {**stub.env(), "GITHUB_REF_NAME": "main", "GITHUB_SERVER_URL": "https://github.com",
               "GITHUB_RUN_ID": "42"}
        yield env, stub


def test_drift_summary_sets_the_output_and_the_job_summary(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "out"))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary"))
    assert main(["--params", PARAMS, "drift-summary", "--summary", str(write(tmp_path / "d.json", DRIFTED))]) == 0
    assert capsys.readouterr().out.startswith("dataset drift detected: share of drifted columns 0.60")
    assert "drift=true\nshare=0.6\n" in (tmp_path / "out").read_text()
    summary = (tmp_path / "summary").read_text()
    assert "### Drift" in summary and "`size'\\|<b>`" in summary  # column names from the data are shown as code
    assert main(["--params", PARAMS, "drift-summary", "--summary", str(tmp_path / "none.json")]) == 2


def test_no_drift_calls_nothing(tmp_path, github):
    env, stub = github
    assert alerts.alert(write(tmp_path / "d.json", STEADY), env=env)["action"] == "none"
    assert stub.requests == []


def test_drift_starts_retraining_and_keeps_one_issue(tmp_path, github):
    env, stub = github
    summary = write(tmp_path / "d.json", DRIFTED)
    first = alerts.alert(summary, env=env)
    issues = stub.state["issues"]
    assert first == {"action": "opened", "issue": 1, "dispatched": "retrain.yml on main",
                     "verdict": alerts.verdict(DRIFTED)}
    dispatch = stub.requests[0]
    assert (dispatch["method"], dispatch["path"]) == ("POST", f"/repos/{REPO}/actions/workflows/retrain.yml/dispatches")
    assert dispatch["body"]["ref"] == "main" and "https://github.com/acme/demo/actions/runs/42" in dispatch["body"][
        "inputs"]["reason"]
    (issue,) = issues
    assert issue["body"].startswith(alerts.MARKER) and issue["labels"] == [{"name": "drift"}]
    assert "`size'\\|<b>`" in issue["body"]  # untrusted column names cannot inject Markdown or HTML

    second = alerts.alert(summary, env=env)
    assert second["action"] == "updated" and second["issue"] == 1 and len(issues) == 1
    assert [(r["method"], r["path"]) for r in stub.requests[-3:]] == [
        ("POST", f"/repos/{REPO}/actions/workflows/retrain.yml/dispatches"), ("GET", f"/repos/{REPO}/issues"),
        ("POST", f"/repos/{REPO}/issues/1/comments")]


def test_drift_without_new_labels_asks_for_them_and_starts_nothing(tmp_path, github):
    env, stub = github
    result = alerts.alert(write(tmp_path / "d.json", DRIFTED), labelled_rows=0, env=env)
    assert result["action"] == "opened" and result["dispatched"] is None
    assert not [r for r in stub.requests if r["path"].endswith("/dispatches")]
    (issue,) = stub.state["issues"]
    assert "No retraining was started" in issue["body"] and "Fill in the target column" in issue["body"]


def test_drift_alert_rejects_odd_inputs(tmp_path, github):
    env, stub = github
    summary = write(tmp_path / "d.json", DRIFTED)
    with pytest.raises(PipelineError, match="--workflow"):
        alerts.alert(summary, workflow="../x.yml", env=env)
    with pytest.raises(PipelineError, match="--ref"):
        alerts.alert(summary, ref="main;rm", env=env)
    with pytest.raises(PipelineError, match="GITHUB_TOKEN"):
        alerts.alert(summary, env={**env, "GITHUB_TOKEN": ""})
    assert stub.requests == []
