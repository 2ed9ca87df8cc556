"""Shared fixtures: every test works in a throwaway copy of the project, never in the repo itself."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
# What a fresh clone holds; pipeline outputs and local stores are left behind.
REPO, TOKEN = "acme/demo", "test-token"  # the fake GitHub API's repository and token (test_alerts, test_deploy)
PROJECT_FILES = ["src", "data/raw", "schema.yaml", "params.yaml", "dvc.yaml", ".dvc/config", ".dvcignore",
                 ".gitignore", "pyproject.toml"]


@pytest.fixture
def github():
    """The tests' one fake GitHub API (github_stub.py, loopback only): (env for a workflow step, the stub)."""
    from github_stub import GitHubStub

    with GitHubStub(repo=REPO, token=TOKEN, prs=()) as stub:
        yield {**stub.env(), "GITHUB_REF_NAME": "main", "GITHUB_SERVER_URL": "https://github.com",
               "GITHUB_RUN_ID": "42"}, stub


@pytest.fixture(autouse=True)
def _subprocess_imports(monkeypatch, tmp_path):
    """Let `python -m` (called by dvc stages) import the package without installing it; apps built by
    tests capture predictions in the test's own folder."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("CAPTURE_DIR", str(tmp_path / "captures"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="session")
def migrated_store(tmp_path_factory) -> Path:
    """An empty, fully migrated MLflow SQLite store. Creating one takes seconds of schema
    migrations, so tests copy this one; the end-to-end test still starts from nothing."""
    import mlflow

    db = tmp_path_factory.mktemp("store") / "mlflow.db"
    mlflow.MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
    return db


@pytest.fixture
def project(tmp_path, monkeypatch, migrated_store) -> Path:
    """A copy of the project in a fresh git repo, as the working directory."""
    dest = tmp_path / "project"
    for name in PROJECT_FILES:
        source = ROOT / name
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    # Tests use the embedded MLflow store, never a configured (possibly shared) tracking server, and
    # push nothing to a configured DVC remote: the champion's model stays in git.
    settings = yaml.safe_load((dest / "params.yaml").read_text())
    settings["mlflow"]["tracking_uri"] = ""
    (dest / "params.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    config = dest / ".dvc/config"
    config.write_text(re.sub(r"(?m)^ *remote = .*\n|^\['remote .*\n(?: +.*\n)*", "", config.read_text()))
    git("init", "-q", "-b", "main", cwd=dest)
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "add", "-A", cwd=dest)
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "init", cwd=dest)
    shutil.copy2(migrated_store, dest / "mlflow.db")  # git-ignored, like the real one
    monkeypatch.chdir(dest)
    return dest


def store(project: Path):
    """An MLflow client of this project's embedded store: never the store an earlier test left configured."""
    import mlflow

    uri = f"sqlite:///{project / 'mlflow.db'}"
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


@pytest.fixture
def params(project):
    from {{ cookiecutter.package_name }}.config import load_params

    return load_params(project / "params.yaml")


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`python -m {{ cookiecutter.package_name }} ARGS` as a user runs it (exit code, stdout, stderr), but in this
    process: a new one would import pandas, scikit-learn, MLflow or Evidently again, seconds per call.
    `dvc repro` in test_e2e.py runs the real processes."""
    from {{ cookiecutter.package_name }}.cli import main

    out, err, here = io.StringIO(), io.StringIO(), os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse's usage errors
                code = exc.code if isinstance(exc.code, int) else 2
    finally:
        os.chdir(here)
    return subprocess.CompletedProcess([sys.executable, "-m", "{{ cookiecutter.package_name }}", *args], code,
                                       out.getvalue(), err.getvalue())


def user_frame(task: str, rows: int = 240, seed: int = 0) -> pd.DataFrame:
    """A user's own data: string categories first, integers, missing values and (classification) string labels."""
    rng = np.random.default_rng(seed)
    colour = rng.choice(["red", "green", "blue"], rows)
    size = rng.normal(10, 2, rows)
    noise = rng.normal(0, 1, rows)
    count = rng.integers(0, 50, rows)  # integers without gaps: pandas reads int64, MLflow types long
    frame = pd.DataFrame({"colour": colour, "size": size.round(3), "noise": noise.round(3), "count": count})
    score = size + np.where(colour == "red", 4.0, 0.0)
    if task == "classification":
        frame["label"] = np.where(score > 11.5, "yes", "no")
    else:
        frame["label"] = (3 * score + rng.normal(0, 1, rows)).round(3)
    frame.loc[rng.choice(rows, 12, replace=False), "noise"] = np.nan
    frame.loc[rng.choice(rows, 8, replace=False), "colour"] = np.nan
    return frame


def write_schema(frame: pd.DataFrame, path: Path | str, target: str = "label", task: str = "classification") -> None:
    """What `infer-schema` writes for `frame`."""
    from {{ cookiecutter.package_name }} import contract

    contract.write(path, contract.infer(frame, target, task, 50, "data/raw/user.csv"))


def declare(path: Path | str, column: str, rule: str) -> None:
    """Declare a hard rule (a pandera check, in YAML flow style) on a column of a schema infer-schema wrote."""
    path = Path(path)
    lines = path.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith(f"  {column}: "))
    entry, _, comment = lines[at].rstrip("\n").partition("  # ")
    lines[at] = f"{entry[:-1]}, {rule}}}" + (f"  # {comment}" if comment else "") + "\n"
    path.write_text("".join(lines))


def use_user_data(project: Path, frame: pd.DataFrame, task: str) -> None:
    """The README's steps for a user's CSV: put it in place; set task, target, gate, model name; no current batch."""
    frame.to_csv(project / "data/raw/user.csv", index=False)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["task"] = task
    params["data"]["path"] = "data/raw/user.csv"
    params["data"]["target"] = "label"
    params["model"]["family"] = "random_forest"
    params["drift"]["current"] = ""
    params["gate"]["thresholds"] = {"f1_macro": {"min": 0.8}} if task == "classification" else {"r2": {"min": 0.5}}
    params["mlflow"]["model_name"] = "user-model"
    params["slices"]["columns"] = ["colour"]
    for raw in (project / "data/raw").glob("*.csv"):
        if raw.name != "user.csv":
            raw.unlink()
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def numeric_features(params: dict) -> list[str]:
    """The feature columns the contract types as numbers (a user's data may have none)."""
    from {{ cookiecutter.package_name }} import contract

    schema = contract.load(params["data"]["schema"])
    return [c for c in schema.columns if c != params["data"]["target"] and schema.dtype(c) in contract.NUMERIC]


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
