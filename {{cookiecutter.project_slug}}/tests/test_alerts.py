"""Monitoring alerts (levels 1 and 2): `monitor-alert` keeps one issue and starts retraining only on new labelled
production rows, against the tests' one fake GitHub API (github_stub.py, loopback only)."""

from __future__ import annotations

import json

import pytest
from conftest import REPO
from test_ci import PARAMS

from {{ cookiecutter.package_name }}.ci import alerts
from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.errors import PipelineError

# A verdict quotes column names from the data: they must not inject Markdown, HTML or mentions into the issue.
ALERTING = {"status": "ok", "rows": 80, "alerts": ["data drift: `size`|<b> @team drifted"], "new_labelled_rows": 0}
QUIET = {"status": "ok", "rows": 80, "alerts": [], "new_labelled_rows": 0}


def test_no_alert_and_no_labels_calls_nothing(github):
    env, stub = github
    assert alerts.monitor_alert(QUIET, "ok", new_labelled_rows=0, env=env) == {
        "action": "none", "issue": None, "dispatched": None}
    assert stub.requests == []


def test_the_command_opens_one_issue_and_comments_on_it_after(tmp_path, github, monkeypatch, capsys):
    env, stub = github
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    summary = tmp_path / "monitor.json"
    summary.write_text(json.dumps(ALERTING))
    assert main(["--params", PARAMS, "monitor-alert", "--summary", str(summary)]) == 0
    assert "no retraining (no new labelled rows); opened issue #1" in capsys.readouterr().out
    (issue,) = stub.state["issues"]
    assert issue["body"].startswith(alerts.MARKER) and issue["labels"] == [{"name": "monitoring"}]
    assert "https://github.com/acme/demo/actions/runs/42" in issue["body"]
    assert "<b>" not in issue["body"] and "@\u200bteam" in issue["body"]  # neutralised, not rendered
    assert "No retraining was started" in issue["body"]
    assert not [r for r in stub.requests if r["path"].endswith("/dispatches")]

    # Again, with labelled production rows: retraining starts and the same issue gets a comment.
    assert main(["--params", PARAMS, "monitor-alert", "--summary", str(summary), "--labelled-rows", "7"]) == 0
    assert "started retrain.yml on main; updated issue #1" in capsys.readouterr().out
    assert len(stub.state["issues"]) == 1
    assert [(r["method"], r["path"]) for r in stub.requests[-3:]] == [
        ("POST", f"/repos/{REPO}/actions/workflows/retrain.yml/dispatches"), ("GET", f"/repos/{REPO}/issues"),
        ("POST", f"/repos/{REPO}/issues/1/comments")]
    assert "Retraining was requested: `retrain.yml on main`" in stub.requests[-1]["body"]


def test_alert_rejects_odd_inputs(github):
    env, stub = github
    with pytest.raises(PipelineError, match="--workflow"):
        alerts.monitor_alert(ALERTING, "drift", new_labelled_rows=1, workflow="../x.yml", env=env)
    with pytest.raises(PipelineError, match="--ref"):
        alerts.monitor_alert(ALERTING, "drift", new_labelled_rows=1, ref="main;rm", env=env)
    with pytest.raises(PipelineError, match="GITHUB_TOKEN"):
        alerts.monitor_alert(ALERTING, "drift", new_labelled_rows=1, env={**env, "GITHUB_TOKEN": ""})
    assert stub.requests == []
