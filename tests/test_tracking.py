"""A team's setup, for real: a shared MLflow server on PostgreSQL and a DVC remote (issue 17).

One PostgreSQL 15 (Debian's, started here with initdb/pg_ctl on 127.0.0.1) and one `mlflow server`
on it, started by the generated repo's own tracking/server.sh (PostgreSQL for runs and the registry,
a separate artifact folder, basic authentication with a `ci` user), serve the whole module.

- Two fresh clones of one origin, as two people: the first moves the training data into a DVC
  remote on a local path, trains, registers version 1 on the server and promotes it (champion.json
  v1, its model pushed); the second pulls byte-identical data and model, adds the new labelled rows,
  registers version 2 and promotes it. champion.json and the registry agree on the versions, and the
  `champion` alias moves only when `sync-registry` runs after each "merge".
- The workflows under act: retrain.yml on a level-1 repo whose data lives in the DVC remote, with the
  tracking URI as a repository variable and the credentials as secrets (the server reached through
  tests/act/loopback.py's bridge), then sync-registry.yml after the promotion is merged.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from act.harness import events, init_git_repo
from act.loopback import free_port
from conftest import COMBOS, TEMPLATE, unavailable
from test_workflows import Scenario, tool, workflows

SERVER_SCRIPT = TEMPLATE / "{{cookiecutter.project_slug}}" / "tracking" / "server.sh"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
VENV_BIN = str(Path(sys.executable).parent)
CI_USER = ("ci", "ci-password-for-tests")
ADMIN = ("admin", "admin-password-for-tests")


def missing(reason: str) -> None:
    """CI installs PostgreSQL (.ci/run), so there a missing one fails (MLOPS_REQUIRE_ALL); elsewhere the tests skip."""
    unavailable(f"{reason}; apt-get install postgresql (.ci/run does)")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Server:
    """PostgreSQL and the MLflow server on it, for one test session."""

    def __init__(self, root: Path):
        self.root = root
        self.pg_port, self.port = free_port(), free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.artifacts = root / "artifacts"
        self.processes: list[subprocess.Popen] = []

    def pg(self, tool: str, *args: str) -> subprocess.CompletedProcess:
        """A PostgreSQL tool as the `postgres` user (initdb refuses root), with the database password."""
        binary = shutil.which(tool, path=str(PG_BIN)) or shutil.which(tool)
        if binary is None:
            missing(f"PostgreSQL's {tool} is not installed")
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run([*as_postgres, binary, *args], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PGPASSWORD": "pg-password"}, check=True)

    def database_uri(self, name: str) -> str:
        return f"postgresql+psycopg2://mlflow:pg-password@127.0.0.1:{self.pg_port}/{name}"

    def start(self) -> None:
        data = self.root / "pg"
        self.root.chmod(0o755)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        (self.root / "pwfile").write_text("pg-password\n")
        self.pg("initdb", "-D", str(data), "-U", "mlflow", "--pwfile", str(self.root / "pwfile"),
                "--auth=scram-sha-256", "-E", "UTF8", "--no-sync")
        self.pg("pg_ctl", "-D", str(data), "-l", str(self.root / "pg.log"), "-w", "start",
                "-o", f"-h 127.0.0.1 -p {self.pg_port} -k {self.root} -c fsync=off")
        for name in ("mlflow", "mlflow_auth"):
            self.pg("createdb", "-h", "127.0.0.1", "-p", str(self.pg_port), "-U", "mlflow", name)
        env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
               "MLFLOW_BACKEND_STORE_URI": self.database_uri("mlflow"),
               "MLFLOW_AUTH_DATABASE_URI": self.database_uri("mlflow_auth"),
               "MLFLOW_ARTIFACTS_DESTINATION": str(self.artifacts),
               "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN[1], "MLFLOW_FLASK_SERVER_SECRET_KEY": "test-secret-key",
               "MLFLOW_PORT": str(self.port), "MLFLOW_WORKERS": "1"}
        log = (self.root / "mlflow.log").open("w")
        self.processes.append(subprocess.Popen(["sh", str(SERVER_SCRIPT)], env=env, stdout=log, stderr=log,
                                               start_new_session=True))
        deadline = time.monotonic() + 300  # the first start migrates both schemas: slow on a busy machine
        while self.call("GET", "/health", auth=None)[0] != 200:
            if self.processes[0].poll() is not None or time.monotonic() > deadline:
                pytest.fail("mlflow server did not start:\n" + (self.root / "mlflow.log").read_text()[-3000:])
            time.sleep(1)
        status, body = self.call("POST", "/api/2.0/mlflow/users/create",
                                 {"username": CI_USER[0], "password": CI_USER[1]}, auth=ADMIN)
        assert status == 200, body

    def call(self, method: str, path: str, body: dict | None = None,
             auth: tuple[str, str] | None = CI_USER) -> tuple[int, dict]:
        request = urllib.request.Request(self.uri + path, method=method,
                                         data=json.dumps(body).encode() if body is not None else None,
                                         headers={"Content-Type": "application/json"})
        if auth:
            token = base64.b64encode(":".join(auth).encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                text = response.read().decode()
                return response.status, json.loads(text) if text.startswith("{") else {"text": text}
        except urllib.error.HTTPError as err:
            return err.code, {"text": err.read().decode(errors="replace")}
        except OSError:
            return 0, {}

    def aliases(self, model: str) -> dict[str, str]:
        status, body = self.call("GET", f"/api/2.0/mlflow/registered-models/get?name={model}")
        assert status == 200, body
        return {a["alias"]: a["version"] for a in body["registered_model"].get("aliases", [])}

    def versions(self, model: str) -> dict[str, str]:
        """version -> run id, as the server's PostgreSQL has them."""
        import psycopg2

        with psycopg2.connect(host="127.0.0.1", port=self.pg_port, user="mlflow", password="pg-password",
                              dbname="mlflow") as con, con.cursor() as cur:
            cur.execute("SELECT version, run_id FROM model_versions WHERE name = %s ORDER BY version", (model,))
            return {str(version): run_id for version, run_id in cur.fetchall()}

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
        if (self.root / "pg" / "postmaster.pid").exists():
            self.pg("pg_ctl", "-D", str(self.root / "pg"), "-m", "immediate", "-w", "stop")  # thrown away next


@pytest.fixture(scope="session")
def tracking_server():
    if not (PG_BIN / "initdb").exists() and not shutil.which("initdb"):
        missing("PostgreSQL 15 is not installed")
    started = time.monotonic()
    server = Server(Path(tempfile.mkdtemp(prefix="mlflow-pg-")))
    try:
        server.start()
        print(f"\nPostgreSQL and mlflow server up in {time.monotonic() - started:.0f}s at {server.uri}")
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)


# --------------------------------------------------------------------------- static, every render

PR_RUNS = {"ci.yml", "container.yml", "pr-report.yml"}  # run a pull request's code: no secrets, ever


@pytest.mark.parametrize(("level", "task"), COMBOS)
def test_every_setting_the_workflows_read_is_in_the_github_setup_table(rendered, level, task):
    """The generated README's "GitHub setup" is the one list: every secret, variable and environment the
    workflows use is there; secrets are read only in environment-bound jobs, never by pull-request runs."""
    _, project = rendered(level, task)
    readme = (project / "README.md").read_text()
    table = readme[readme.index("## GitHub setup"):readme.index("## Each step, locally")]
    for name, doc in workflows(project).items():
        text = (project / ".github/workflows" / name).read_text()
        for kind, setting in re.findall(r"\b(secrets|vars)\.([A-Z_]+)", text):
            assert f"`{setting}`" in table or setting == "GITHUB_TOKEN", f"{name}: {kind}.{setting} is not in the table"
        for job_id, job in doc["jobs"].items():
            reads = re.findall(r"secrets\.([A-Z_]+)", yaml.safe_dump(job))
            if reads and "uses" not in job:
                assert job.get("environment"), f"{name} {job_id} reads {reads} outside an environment"
                assert name not in PR_RUNS, f"{name} {job_id}: a pull-request run reads {reads}"
            if isinstance(job.get("environment"), str) and "${{" not in job["environment"]:
                assert f"`{job['environment']}`" in table, f"{name}: environment {job['environment']} not in the table"
    training = [("train.yml", "train")] + ([("retrain.yml", "train")] if level != "0" else [])
    for name, job in training:
        assert workflows(project)[name]["jobs"][job]["runs-on"] == "${{ vars.TRAINING_RUNNER || 'ubuntu-latest' }}"
    if level != "0":  # batch scoring reads the DVC remote with the training jobs' credentials: the same environment
        environment = workflows(project)["train.yml"]["jobs"]["train"]["environment"]
        assert workflows(project)["batch.yml"]["jobs"]["score"]["environment"] == environment


def test_tracking_stack_files_are_valid(rendered):
    """compose.yaml against the Compose schema, the image with hadolint, server.sh with shellcheck."""
    _, project = rendered("2", "classification")
    stack = project / "tracking"
    checks = [[tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(stack / "compose.yaml")],
              [tool("hadolint"), "--failure-threshold", "warning", str(stack / "Dockerfile")],
              [tool("hadolint"), "--failure-threshold", "warning", str(stack / "Dockerfile.evidently")],
              [tool("shellcheck"), str(stack / "server.sh")]]
    for command in checks:
        result = subprocess.run(command, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
    compose = yaml.safe_load((stack / "compose.yaml").read_text())
    assert compose["services"]["mlflow"]["ports"] == ["127.0.0.1:5000:5000"]  # only a local proxy reaches it
    assert "ports" not in compose["services"]["db"]
    assert compose["services"]["evidently"]["ports"] == ["127.0.0.1:8002:8000"]
    # The UI reads the workspace the project's Evidently writes: the same version as the lock's.
    locked = re.search(r'name = "evidently"\nversion = "([^"]+)"', (project / "uv.lock").read_text()).group(1)
    assert f'"evidently=={locked}"' in (stack / "Dockerfile.evidently").read_text()
    assert os.access(stack / "server.sh", os.X_OK)


# --------------------------------------------------------------------------- CI and a teammate, one server


class Clone:
    """A checkout of the project, as one person's: runs the project's CLI and DVC, signed in as `ci`."""

    def __init__(self, path: Path, package: str):
        self.path, self.package = path, package
        self.env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": "src",
                    "MLFLOW_TRACKING_USERNAME": CI_USER[0], "MLFLOW_TRACKING_PASSWORD": CI_USER[1],
                    "DO_NOT_TRACK": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
                    "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
        self.env.pop("MLFLOW_TRACKING_URI", None)  # params.yaml names the server

    def run(self, *args: str) -> str:
        result = subprocess.run(list(args), cwd=self.path, env=self.env, capture_output=True, text=True,
                                timeout=900)
        assert result.returncode == 0, f"{args}: {result.stdout[-2000:]}\n{result.stderr[-3000:]}"
        return result.stdout

    def cli(self, *args: str) -> str:
        return self.run("python", "-m", self.package, *args)

    def commit(self, message: str) -> None:
        self.run("git", "add", "-A")
        self.run("git", "commit", "-qm", message)

    def champion(self) -> dict:
        return json.loads((self.path / "champion.json").read_text())


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path}: no {old!r}"
    path.write_text(text.replace(old, new))


def dvc_object(storage: Path, dvc_file: Path) -> Path:
    """Where a local DVC remote keeps the bytes a .dvc file names."""
    digest = yaml.safe_load(dvc_file.read_text())["outs"][0]["md5"]
    return storage / "files" / "md5" / digest[:2] / digest[2:]


def test_ci_and_a_teammate_share_a_postgres_backed_server_and_a_dvc_remote(tracking_server, tmp_path, monkeypatch):
    """retrain.yml (under act) registers and proposes v1, sync-registry.yml moves @champion after the merge;
    a teammate's fresh clone pulls byte-identical data and model, trains v2, promotes it and syncs."""
    server, storage = tracking_server, tmp_path / "dvc-remote"
    s = Scenario(tmp_path, monkeypatch, level="1", task="classification", project_name="Team Model",
                 dvc_remote=str(storage), bridges=(server.port,))
    # The workflows must take the URI from the repository variable (act's --env would beat a job's env:).
    del s.env["MLFLOW_TRACKING_URI"]
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    s.variables |= {"MLFLOW_TRACKING_URI": server.uri, "TRAINING_RUNNER": "ubuntu-24.04"}
    secrets = {"MLFLOW_TRACKING_USERNAME": CI_USER[0], "MLFLOW_TRACKING_PASSWORD": CI_USER[1]}
    params = yaml.safe_load((s.project / "params.yaml").read_text())
    data, model = params["data"]["path"], params["mlflow"]["model_name"]
    edit(s.project / "params.yaml", "n_estimators: 200", "n_estimators: 40")  # the same pipeline, faster
    init_git_repo(s.project)
    first = Clone(s.project, s.package)
    # The training data moves into the DVC remote (README); act copies the checkout without git-ignored
    # files, so the workflow has only the remote to get it from.
    first.run("git", "rm", "-q", "--cached", data)
    first.run("dvc", "add", data)
    assert "pushed" in first.cli("remote", "push")
    first.commit("Keep the training data in the DVC remote")
    assert first.run("git", "check-ignore", data).strip() == data

    retrain = s.act("workflow_dispatch", events.workflow_dispatch({"reason": "new data"}), "retrain.yml",
                    secrets=secrets)
    assert retrain.jobs == {"train": "success", "propose": "success"}
    log = retrain.job_log("train")
    assert "dvc pull, remote 'storage'" in log and "dvc push, remote 'storage'" in log
    assert f"registered {model} version 1 as @challenger" in log
    assert server.aliases(model) == {"challenger": "1"}  # proposed, not champion: nothing is merged yet
    (pull,) = s.pulls()
    assert {"champion.json", "champion/model.joblib.dvc", f"{data}.dvc"} <= set(pull["files"])
    candidate = s.artifact(retrain, "candidate")

    first.run("git", "apply", "--index", str(s.store / "pulls/1.patch"))
    first.commit("Merge the promotion pull request")
    v1 = first.champion()
    assert (v1["version"], v1["registry_version"], v1["storage"]) == (1, 1, "dvc")
    assert server.versions(model) == {"1": v1["run_id"]}
    assert sha256(dvc_object(storage, s.project / "champion/model.joblib.dvc")) == v1["model_sha256"]
    synced = s.act("push", events.push(), "sync-registry.yml", secrets=secrets)
    assert synced.jobs == {"sync": "success"}
    assert "@champion moved from no version to version 1" in synced.job_log("sync")
    assert server.aliases(model) == {"challenger": "1", "champion": "1"}

    # The team points the repo at the server (docs/tracking.md); a teammate clones it fresh and gets,
    # from the DVC remote, exactly the data and model CI trained and promoted.
    edit(s.project / "params.yaml", 'tracking_uri: ""', f'tracking_uri: "{server.uri}"')
    first.commit("Track on the team's server")
    subprocess.run(["git", "clone", "-q", str(s.project), str(tmp_path / "teammate")], check=True)
    mate = Clone(tmp_path / "teammate", s.package)
    assert not (mate.path / data).exists() and not (mate.path / "champion/model.joblib").exists()
    mate.cli("remote", "pull")
    assert (mate.path / data).read_bytes() == (candidate / data).read_bytes()  # with CI's added rows
    assert sha256(mate.path / data) == v1["data_sha256"]
    assert (mate.path / "champion/model.joblib").read_bytes() == (candidate / "models/model.joblib").read_bytes()
    assert sha256(mate.path / "champion/model.joblib") == v1["model_sha256"]

    # The teammate's change makes version 2, in the registry and in git; @champion waits for the merge.
    edit(mate.path / "params.yaml", "n_estimators: 40", "n_estimators: 60")
    mate.run("dvc", "repro")
    assert not (mate.path / "mlflow.db").exists()  # params.yaml's server, not the embedded store
    mate.cli("promote")
    v2 = mate.champion()
    assert (v2["version"], v2["registry_version"], v2["highest_version"]) == (2, 2, 2)
    assert v2["model_sha256"] != v1["model_sha256"] and v2["data_sha256"] == v1["data_sha256"]
    mate.commit("Promote the retrained model to champion v2")
    assert server.aliases(model) == {"challenger": "2", "champion": "1"}
    assert "@champion moved from version 1 to version 2" in mate.cli("sync-registry")
    assert server.versions(model) == {"1": v1["run_id"], "2": v2["run_id"]}

    # Back in the first checkout: git, then DVC, give the teammate's bytes.
    first.run("git", "pull", "-q", str(mate.path), "main")
    first.cli("remote", "pull")
    assert sha256(first.path / "champion/model.joblib") == v2["model_sha256"]

    # The artifacts went to the separate artifact store, through the server; it refuses anonymous calls.
    logged = {p.name for p in server.artifacts.rglob("*") if p.is_file()}
    assert {"MLmodel", "gate.json", "metrics.json", "drift.html", "confusion.png"} <= logged, sorted(logged)
    assert not (mate.path / "mlruns").exists()
    assert server.call("GET", f"/api/2.0/mlflow/registered-models/get?name={model}", auth=None)[0] == 401
