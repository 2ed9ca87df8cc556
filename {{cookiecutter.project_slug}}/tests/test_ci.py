"""The commands the workflows call besides the pipeline: step outputs, the champion record and the deployment
smoke test (against a loopback stand-in of the serving app). Drift alerts: test_alerts.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import serve

from {{ cookiecutter.package_name }} import champion
from {{ cookiecutter.package_name }}.ci import actions
from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.errors import CheckFailed, PipelineError
from {{ cookiecutter.package_name }}.serving import smoke

PARAMS = str(Path(__file__).resolve().parents[1] / "params.yaml")


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
