"""Bad answers are rejected before anything is written, with one message naming the variable and value."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import TEMPLATE, render
from cookiecutter.exceptions import FailedHookException

BAD_ANSWERS = [
    ("project_slug", "Bad Slug!", "must be lowercase letters and digits"),
    ("project_slug", "trailing-", "must be lowercase letters and digits"),
    ("package_name", "class", "not a keyword"),
    ("package_name", "My-Package", "lowercase Python identifier"),
    ("python_version", "3.9", "must be one of 3.10, 3.11, 3.12, 3.13"),
    ("python_version", "2.7", "must be one of"),
    ("target_column", "my target", "must start with a letter"),
    ("gate_min_score", "1.5", "is not between 0 and 1"),
    ("gate_min_score", "high", "is not a number"),
    ("gate_max_drop", "-0.1", "is not between 0 and 1"),
    ("drift_share_threshold", "2", "is not between 0 and 1"),
    ("retrain_cron", "0 4 * *", "needs 5 fields"),
    ("retrain_cron", "61 4 * * 1", "'61' in '61' is not in 0-59"),
    ("drift_cron", "0 5 * * funday", "'funday'"),
    ("drift_cron", "*/0 * * * *", "bad step"),
    ("batch_cron", "0 25 * * *", "'25' in '25' is not in 0-23"),
    ("mlflow_tracking_uri", "ftp://tracking", "must be empty, http(s)://"),
    ("dvc_remote", "hdfs://cluster/path", "must be none, a local path, or an s3://"),
    ("dvc_remote", "", "with no spaces"),
    ("container_registry", "https://ghcr.io", "registry host"),
    ("github_owner", "-bad-", "GitHub user or organisation"),
    ("target_column", 'x"; import os; os.system("echo pwned") #', "must start with a letter"),
]


@pytest.mark.parametrize(("key", "value", "why"), BAD_ANSWERS, ids=[f"{k}={v}" for k, v, _ in BAD_ANSWERS])
def test_bad_answer_is_rejected_and_nothing_is_left(tmp_path, capfd, key, value, why):
    with pytest.raises(FailedHookException):
        render(tmp_path, **{key: value})
    err = capfd.readouterr().err
    line = next((ln for ln in err.splitlines() if f"{key}={value!r}: " in ln), "")
    assert why in line, err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("key", "value"), [("mlops_level", "3"), ("task", "clustering"),
                                            ("deploy_target", "docker-host")])
def test_bad_choice_is_rejected_and_nothing_is_left(tmp_path, key, value):
    # Cookiecutter validates choice variables itself, before our hook and before writing anything.
    with pytest.raises(ValueError, match=f"{value} provided for choice variable {key}"):
        render(tmp_path, **{key: value})
    assert list(tmp_path.iterdir()) == []


def test_valid_edge_values_are_accepted(tmp_path):
    project = render(tmp_path, project_name="A1 Model", python_version="3.13", gate_min_score="0",
                     gate_max_drop="1", retrain_cron="*/15 0-6 1,15 jan-jun sun", dvc_remote="../dvc-store",
                     mlflow_tracking_uri="https://mlflow.example.com", container_registry="localhost:5000")
    assert project.name == "a1-model" and (project / "src/a1_model/cli.py").is_file()


def test_cli_reports_a_bad_answer_with_a_nonzero_exit(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "cookiecutter", "--no-input", "-o", str(tmp_path), str(TEMPLATE), "drift_cron=daily"],
        capture_output=True, text=True,
    )
    assert result.returncode != 0
    assert "drift_cron='daily': is not a valid cron schedule: needs 5 fields" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_default_github_owner_gets_a_warning(tmp_path, capfd):
    render(tmp_path / "default")
    assert "WARNING: github_owner is left at 'your-org'" in capfd.readouterr().err
    render(tmp_path / "named", github_owner="acme")
    assert "github_owner" not in capfd.readouterr().err


def test_post_gen_hook_is_rerunnable(tmp_path):
    """Template-update tools re-run hooks: a second run must change nothing and need no network."""
    project = render(tmp_path, mlops_level="0")
    before = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()}
    hook = (TEMPLATE / "hooks/post_gen_project.py").read_text()
    # The recorded answers, with `_template` and `_commit`: what cruft passes when it renders again.
    answers = json.loads((project / ".cruft.json").read_text())["context"]["cookiecutter"]
    rendered = hook.replace("{{ cookiecutter | tojson }}", json.dumps(answers))
    subprocess.run([sys.executable, "-c", rendered], cwd=project, check=True, env={"PATH": "/usr/bin:/bin"})
    after = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()}
    assert after == before
    assert not (project / ".git").exists()
