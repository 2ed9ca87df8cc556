"""The commands the workflows call besides the pipeline: step outputs, the champion record, drift alerts
(against the tests' one fake GitHub API, github_stub.py, loopback only) and the deployment smoke test."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from github_stub import GitHubStub

from {{ cookiecutter.package_name }} import champion
from {{ cookiecutter.package_name }}.ci import actions, alerts
from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.errors import CheckFailed, PipelineError
from {{ cookiecutter.package_name }}.serving import smoke

PARAMS = str(Path(__file__).resolve().parents[1] / "params.yaml")
REPO, TOKEN = "acme/demo", "test-token"
DRIFTED = {"note": "current batch: data/raw/current.csv", "current": "data/raw/current.csv", "dataset_drift": True,
           "drift_share": 0.6, "share_threshold": 0.5, "drifted_columns": 3, "reference_rows": 100,
           "current_rows": 50, "columns": [
               {"column": "size`|<b>", "method": "K-S p_value", "score": 0.001, "threshold": 0.05, "drifted": True},
               {"column": "colour", "method": "chi-square p_value", "score": 0.01, "threshold": 0.05,
                "drifted": True},
               {"column": "noise", "method": "K-S p_value", "score": 0.6, "threshold": 0.05, "drifted": False}]}
STEADY = {**DRIFTED, "dataset_drift": False, "drift_share": 0.0, "drifted_columns": 0,
          "columns": [{**c, "drifted": False} for c in DRIFTED["columns"]]}


def serve(routes) -> tuple[ThreadingHTTPServer, str, list]:
    """A loopback HTTP server: routes(method, path, query, body, headers) -> (status, JSON payload or None)."""
    seen: list[tuple[str, str, object]] = []

    class Handler(BaseHTTPRequestHandler):
        def _any(self):
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            seen.append((self.command, parts.path, body))
            status, payload = routes(self.command, parts.path, parse_qs(parts.query), body, self.headers)
            data = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_PUT = _any

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}", seen


@pytest.fixture
def github():
    """The tests' one fake GitHub API (github_stub.py): (env for the alert, the stub)."""
    with GitHubStub(repo=REPO, token=TOKEN, prs=()) as stub:
        env = {**stub.env(), "GITHUB_REF_NAME": "main", "GITHUB_SERVER_URL": "https://github.com",
               "GITHUB_RUN_ID": "42"}
        yield env, stub


def write(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data))
    return path


def test_step_outputs_and_summary(tmp_path):
    env = {"GITHUB_OUTPUT": str(tmp_path / "out"), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary")}
    assert actions.set_outputs({"version": 3, "notes": "two\nlines"}, env)
    assert actions.add_summary("### Title", env)
    text = (tmp_path / "out").read_text()
    assert text.startswith("version=3\nnotes<<ghadelimiter_") and "\ntwo\nlines\nghadelimiter_" in text
    assert (tmp_path / "summary").read_text() == "### Title\n\n"
    assert not actions.set_outputs({"a": 1}, {}) and not actions.add_summary("x", {})  # outside Actions: nothing


def test_champion_command(tmp_path, monkeypatch, capsys):
    record = write(tmp_path / "champion.json", {"model_name": "demo", "version": 4, "run_id": "r1",
                                                "model_sha256": "ab" * 32, "trained_from": "abc"})
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "out"))
    assert main(["--params", PARAMS, "champion", "--file", str(record)]) == 0
    assert "champion: demo version 4 (model sha256 abababababab" in capsys.readouterr().out
    assert "version=4\n" in (tmp_path / "out").read_text() and f"model-sha256={'ab' * 32}\n" in (
        tmp_path / "out").read_text()
    assert main(["--params", PARAMS, "champion", "--file", str(tmp_path / "missing.json")]) == 2
    with pytest.raises(PipelineError, match="integer version"):
        champion.read(write(tmp_path / "bad.json", {"model_name": "demo", "version": "4"}))


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


COLUMNS = [{"name": "size", "dtype": "float64", "minimum": 2.0, "maximum": 4.0, "nullable": False},
           {"name": "rate", "dtype": "float64", "exclusive_minimum": 0.0, "nullable": False},
           {"name": "colour", "dtype": "str", "allowed": ["blue", "red"], "nullable": True},
           {"name": "note", "dtype": "str", "nullable": True}]


@pytest.fixture
def api():
    """A serving app's /health, /metadata and /predict, checking the record it is sent."""
    received = []

    def routes(method, path, query, body, headers):
        if path == "/health":
            return 200, {"status": "ok", "model_version": 3}
        if path == "/metadata":
            return 200, {"version": 3, "input_schema": COLUMNS}
        if path == "/predict" and method == "POST":
            received.append(body)
            return 200, {"predictions": ["yes"], "model_version": 3}
        return 404, {"detail": "Not Found"}

    server, url, _ = serve(routes)
    yield url, received
    server.shutdown()
    server.server_close()


def test_smoke_scores_a_record_built_from_the_schema(api, capsys):
    url, received = api
    assert main(["--params", PARAMS, "smoke", "--url", url, "--expect-version", "3"]) == 0
    assert "smoke test passed" in capsys.readouterr().out
    assert received == [{"records": [{"size": 3.0, "rate": 1.0, "colour": "blue", "note": None}]}]
    assert main(["--params", PARAMS, "smoke", "--url", url, "--expect-version", ""]) == 0  # empty: any version


def test_smoke_fails_clearly(api):
    url, _ = api
    with pytest.raises(CheckFailed, match="serves model version 3, expected 4"):
        smoke.run(url, wait=0, expect_version=4)
    with pytest.raises(CheckFailed, match="not healthy after 0 s"):
        smoke.run("http://127.0.0.1:9", wait=0)  # nothing listens on the discard port
    with pytest.raises(PipelineError, match="http"):
        smoke.run("file:///etc/passwd", wait=0)
