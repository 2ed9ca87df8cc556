"""Level 2's deploy (deploy_target swarm), for real: a Docker Swarm stack over SSH.

The "manager" is this machine: Debian's sshd, started here on a free loopback port with its own
config, host key and authorized key, in front of the local Docker engine, made a one-node swarm for
the test (`docker swarm init --advertise-addr 127.0.0.1`, left again at the end unless it was a swarm
already). The deploy reaches it the way it reaches a real one, with an SSH Docker context and the
pinned known_hosts. The proxy and Prometheus images are Debian's nginx and prometheus on the offline
base (tests/docker/), the serving image is built once from one rendered project, and three more
versions derive from it in a second each (another model version in metadata.json; a health check that
fails). The sandbox has no iptables, so the stack's services use DNS round robin (endpoint_mode dnsrr),
as deploy/stack.yml does, and the proxy's port is published on the node (host mode).

One test walks an environment through its history, each step a subtest with its wall time, with
clients sending requests through the proxy: a first deploy with two replicas; an upgrade with >= 2,000
requests and none failing; a version whose health check fails, rolled back by Swarm while the old one
serves; a smoke-test failure after convergence, rolled back; a rollback to version 1 through
rollback.yml under act that also scales to three replicas, each scraped by Prometheus. The GitHub deployments
go to the REST API stand-in (tests/act/loopback.py). More tests show the skip without settings, from
the CLI and under act (the deploy job grey), and the failure when the environment is half configured.
"""

from __future__ import annotations

import csv
import fcntl
import getpass
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
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
PROMETHEUS_IMAGE = "mlops-template/prometheus:bookworm"
ENVIRONMENT = "production"
# Faster health checks and update windows than deploy/stack.yml's defaults (5 s, 20 s, 5 s, 30 s),
# so the history fits the CI budget; the bench rows (benchmarks/) measure the defaults. The start
# period is longer: on a loaded 2-core machine a replica has taken 36 s to start.
FAST = {"APP_HEALTH_INTERVAL": "2s", "APP_HEALTH_START_PERIOD": "45s", "APP_UPDATE_DELAY": "1s",
        "APP_UPDATE_MONITOR": "5s", "DEPLOY_RESOLVE_IMAGE": "never"}
# `make bench` (benchmarks/deploy.py) runs the history with the stack's defaults and takes its numbers.
BENCH = os.environ.get("MLOPS_DEPLOY_BENCH")
if BENCH:
    FAST = {"DEPLOY_RESOLVE_IMAGE": "never"}
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
from {package} import contract
from {package}.serving import export
from {package}.config import load_params

params = load_params()
frame = pd.read_csv(params["data"]["path"])
target = params["data"]["target"]
X, y = frame.drop(columns=[target]), frame[target]
model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
metadata = {{"model_name": params["mlflow"]["model_name"], "version": 1, "run_id": "deploy-test",
             "metrics": {{}}, "git_commit": None, "task": params["task"], "target": target}}
export.write("build/model", model, metadata, contract.input_schema(params, list(X.columns)), X)
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



# --------------------------------------------------------------------------- the manager: sshd + Docker + swarm

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




@pytest.fixture(scope="module")
def stack_images(docker_base) -> tuple[str, str]:
    with _lock("proxy-image"):  # xdist workers and concurrent sessions build it once
        sh(str(DOCKER_DIR / "proxy_image.sh"), PROXY_IMAGE, docker_base)
    with _lock("prometheus-image"):
        sh(str(DOCKER_DIR / "prometheus_image.sh"), PROMETHEUS_IMAGE, docker_base)
    return PROXY_IMAGE, PROMETHEUS_IMAGE


def swarm_state() -> str:
    return sh("docker", "info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip()


@pytest.fixture(scope="module")
def swarm():
    """A one-node swarm on this engine for the module, left as found: joined only if it was not a
    swarm already (another session's), then left, and docker_gwbridge removed if the swarm made it.
    The lock keeps two sessions from initialising and leaving under each other."""
    if not shutil.which("docker") or sh("docker", "info", check=False).returncode != 0:
        unavailable("no Docker engine (tests/docker/engine.sh)")
    with _lock("swarm"):
        had_bridge = sh("docker", "network", "inspect", "docker_gwbridge", check=False).returncode == 0
        joined = swarm_state() != "active"
        if joined:
            sh("docker", "swarm", "init", "--advertise-addr", "127.0.0.1")
        try:
            yield
        finally:
            if joined:
                sh("docker", "swarm", "leave", "--force", check=False)
                if not had_bridge:
                    sh("docker", "network", "rm", "docker_gwbridge", check=False)


# --------------------------------------------------------------------------- the images


@dataclass
class Images:
    project: Path  # the rendered project the images were built from; the deploy runs from it
    package: str
    repository: str
    tags: dict[str, str] = field(default_factory=dict)  # v1, v2, v4, unhealthy -> image reference


@pytest.fixture(scope="module")
def images(tmp_path_factory, docker_base, wheelhouse) -> Images:  # noqa: F811 (the imported fixture)
    """The serving image of one rendered project (model v1), plus versions derived from it: v2 and v4
    (other model versions in metadata.json) and v3, whose health check fails."""
    started, suffix = time.monotonic(), uuid.uuid4().hex[:6]
    project = render(tmp_path_factory.mktemp("deploy-project"), mlops_level="2", task="classification",
                     project_name=f"Swarm {suffix}", python_version="3.11", github_owner="acme",
                     container_registry=REGISTRY, deploy_target="swarm")
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
        failing = 'HEALTHCHECK --interval=2s --retries=2 CMD ["python", "-c", "raise SystemExit(1)"]'
        for name, version, extra in (("v2", 2, ""), ("unhealthy", 3, failing), ("v4", 4, "")):
            context = tmp_path_factory.mktemp(f"image-{name}")
            model = json.loads((project / "build/model/metadata.json").read_text())
            (context / "metadata.json").write_text(json.dumps({**model, "version": version}))
            (context / "Dockerfile").write_text(f"FROM {v1}\nCOPY metadata.json /opt/model/metadata.json\n{extra}\n")
            built.tags[name] = f"{built.repository}:model-v{version}"
            sh("docker", "build", "--force-rm", "-t", built.tags[name], str(context))
        TIMINGS["images (render, model, wheels, build, three derived)"] = time.monotonic() - started
        yield built
    finally:
        docker_cleanup(images=built.repository, package=package)


# --------------------------------------------------------------------------- traffic through the proxy


class Traffic:
    """Requests through the proxy from `clients` threads, each on a new connection, alternating /health
    and a prediction, each thread at most `rate` per second (the machine's two cores also run the
    replicas and their health checks), until stopped: what answered, which model version, what failed."""

    def __init__(self, port: int, record: dict, clients: int = 2, rate: float = 40, limit: float = 600):
        self.port, self.record, self.limit, self.pause = port, record, limit, 1 / rate
        self.seen: list[tuple[float, int | None, str]] = []  # (time, model version, error or "")
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

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
            self.seen.append((time.monotonic(), version, error))  # list.append is atomic
            n += 1
            time.sleep(self.pause)

    @property
    def failed(self) -> list[str]:
        return [error for _, _, error in self.seen if error]

    def versions(self, since: float = 0) -> set[int]:
        return {version for at, version, error in self.seen if not error and at >= since}


# --------------------------------------------------------------------------- the environment


@dataclass
class Environment:
    images: Images
    host: SshHost
    listen: int
    prometheus: int
    api_url: str  # the REST API stand-in the CLI runs record to
    api_state: Path
    summary: Path
    stack: str  # the environment's stack on the swarm

    def settings(self, replicas: int = 2) -> dict[str, str]:
        """The GitHub Environment's variables and secret, as the workflow passes them to `deploy`."""
        return {"DEPLOY_HOST": "127.0.0.1", "DEPLOY_USER": self.host.user, "DEPLOY_SSH_PORT": str(self.host.port),
                "DEPLOY_KNOWN_HOSTS": self.host.known_hosts, "DEPLOY_SSH_KEY": self.host.key,
                "DEPLOY_LISTEN_PORT": str(self.listen), "DEPLOY_PROMETHEUS_PORT": str(self.prometheus),
                "DEPLOY_PROXY_IMAGE": PROXY_IMAGE, "DEPLOY_PROMETHEUS_IMAGE": PROMETHEUS_IMAGE,
                "DEPLOY_REPLICAS": str(replicas), "DEPLOY_TIMEOUT": "240"}

    def deploy(self, image: str, version: int | None, replicas: int = 2,
               **stack: str) -> subprocess.CompletedProcess:
        """`python -m <package> deploy` as the workflow step runs it, recording to the API stand-in;
        `stack`: more of deploy/stack.yml's variables."""
        self.summary.write_text("")
        env = {**self.settings(replicas), **FAST, **stack, "PYTHONPATH": "src", "GITHUB_ACTIONS": "true",
               "GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": REPO, "GITHUB_SHA": "c0ffee", "GITHUB_API_URL": self.api_url,
               "GITHUB_STEP_SUMMARY": str(self.summary)}
        return sh(sys.executable, "-m", self.images.package, "deploy", "--environment", ENVIRONMENT,
                  "--image", image, "--version", "" if version is None else str(version), cwd=self.images.project,
                  env=env, check=False, timeout=600)

    def replicas(self) -> Counter:
        """image -> running replicas of the app service."""
        out = sh("docker", "service", "ps", f"{self.stack}_app", "--filter", "desired-state=running",
                 "--format", "{{.Image}} {{.CurrentState}}").stdout
        return Counter(line.split()[0] for line in out.splitlines() if " Running " in f" {line} ")

    def targets(self) -> list[dict]:
        """Prometheus' active scrape targets of the app."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.prometheus}/api/v1/targets", timeout=10) as response:
            active = json.loads(response.read())["data"]["activeTargets"]
        # The scrape job is named after the project; its targets are the ones found through tasks.app.
        return [t for t in active if t.get("discoveredLabels", {}).get("__meta_dns_name") == "tasks.app"]

    def deployments(self) -> list[dict]:
        return json.loads(self.api_state.read_text()).get("deployments", [])


@pytest.fixture
def environment(tmp_path, images, ssh_host, swarm, stack_images):
    api_dir = tmp_path / "api"
    api_dir.mkdir()
    api = GitHubStub(repo=REPO, token=TOKEN, prs=(), state_file=api_dir / "state.json",  # the one fake GitHub API
                     requests_file=api_dir / "requests.jsonl").start()
    env = Environment(images, ssh_host, free_port(), free_port(), api.url, api_dir / "state.json",
                      tmp_path / "summary.md", f"{images.project.name}-{ENVIRONMENT}")
    try:
        yield env
    finally:
        api.stop()
        sh("docker", "stack", "rm", env.stack, check=False)
        deadline = time.monotonic() + 60  # the stack's containers and network go away asynchronously
        while time.monotonic() < deadline and sh("docker", "network", "inspect", f"{env.stack}_serving",
                                                 check=False).returncode == 0:
            time.sleep(1)
        for volume in ("capture", "prometheus"):  # once the last container using it is gone
            wait_for(lambda name=f"{env.stack}_{volume}": sh("docker", "volume", "rm", "--force", name,
                                                             check=False).returncode == 0, 60, f"removing {volume}")


def wait_for(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        assert time.monotonic() < deadline, f"{what}: not within {seconds:.0f} s"
        time.sleep(1)
    return value


# --------------------------------------------------------------------------- the history of one environment


def test_swarm_history(environment, images, subtests, monkeypatch, tmp_path):
    env, tags = environment, images.tags
    record = one_record(images)

    with step(subtests, "first deploy: two replicas of v1 behind the proxy, scraped by Prometheus"):
        result = env.deploy(tags["v1"], 1)
        assert result.returncode == 0, result.stdout + result.stderr
        assert serving(env.listen) == 1 and env.replicas() == {tags["v1"]: 2}
        summary = env.summary.read_text()
        assert "model v1 is live" in summary and "none (first deploy)" in summary and "2 replica(s)" in summary
        (first,) = env.deployments()
        assert first["environment"] == ENVIRONMENT and first["payload"] == {"image": tags["v1"], "model_version": 1}
        assert [s["state"] for s in first["statuses"]] == ["in_progress", "success"]
        wait_for(lambda: len(env.targets()) == 2, 60, "Prometheus discovers both replicas (tasks.app)")

    with step(subtests, "upgrade to v2: a rolling update, >= 2,000 requests through the proxy, none failing"):
        with Traffic(env.listen, record) as traffic:
            time.sleep(1)
            started = time.monotonic()
            result = env.deploy(tags["v2"], 2)
            done = time.monotonic()
            wait_for(lambda: len(traffic.seen) >= 2000 and traffic.seen[-1][0] > done + 5, 120, "2,000 requests")
        during = [error for at, _, error in traffic.seen if started <= at <= done]
        converged = re.search(r"(\d+) replicas healthy in (\d+) s", env.summary.read_text())
        bench = {"replicas": 2, "upgrade_requests": len(during), "upgrade_failed": sum(map(bool, during)),
                 "converged_s": float(converged.group(2)) if converged else None}
        assert result.returncode == 0, result.stdout + result.stderr
        print(f"upgrade: {len(traffic.seen)} requests, {Counter(v for _, v, _ in traffic.seen)}")
        assert len(traffic.seen) >= 2000 and traffic.failed == []
        # Once converged, only v2: the old replicas are out of DNS, and nginx's resolver cache is 2 s.
        assert traffic.versions() == {1, 2} and traffic.versions(since=done + 3) == {2}
        assert env.replicas() == {tags["v2"]: 2}
        assert f"`{tags['v1']}`, model v1" in env.summary.read_text()  # the previous version

    with step(subtests, "v3 fails its health check: Swarm rolls back by itself, v2 serves throughout"):
        with Traffic(env.listen, record) as traffic:
            started = time.monotonic()
            # Its health check never passes, so a start period only delays the verdict (the bench keeps it).
            result = env.deploy(tags["unhealthy"], 3, **({} if BENCH else {"APP_HEALTH_START_PERIOD": "4s"}))
            bench["rollback_s"] = time.monotonic() - started
        assert result.returncode == 1, result.stdout + result.stderr
        assert "Swarm rolled the update back (" in result.stderr, result.stderr
        assert f"{tags['v2']} serves on 2 replica(s)" in result.stderr
        assert traffic.failed == [] and traffic.versions() == {2}
        assert env.replicas() == {tags["v2"]: 2}
        failure = env.deployments()[-1]["statuses"][-1]
        assert failure["state"] == "failure" and "rolled the update back" in failure["description"]
        assert "failed" in env.summary.read_text()

    with step(subtests, "v4 converges but fails the smoke test (not the expected model): rolled back to v2"):
        with Traffic(env.listen, record) as traffic:
            result = env.deploy(tags["v4"], 5)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "smoke test failed after convergence" in result.stderr and "serves model version 4" in result.stderr
        assert f"rolled {env.stack}_app back to {tags['v2']}" in result.stderr
        assert traffic.failed == [] and serving(env.listen) == 2 and env.replicas() == {tags["v2"]: 2}

    with step(subtests, "rollback to v1 on three replicas: rollback.yml's deploy under act, all three scraped"):
        with Traffic(env.listen, record, clients=1) as traffic:
            run, sha = act_rollback(images.project, tmp_path, monkeypatch, 1, {**env.settings(replicas=3), **FAST},
                                    bridges=(env.host.port,))
        assert run.ok, run.log[-6000:]
        assert run.jobs == {"settings": "success", "deploy": "success"}
        assert "model v1 on 3 replica(s)" in run.job_log("deploy")
        assert traffic.failed == [] and serving(env.listen) == 1 and env.replicas() == {tags["v1"]: 3}
        assert "### Deploy to production: model v1 is live" in run.summaries["deploy"]
        assert "3 replica(s)" in run.summaries["deploy"]
        state = json.loads((tmp_path / "act-loopback/state.json").read_text())
        (deployment,) = state["deployments"]
        assert deployment["environment"] == ENVIRONMENT and deployment["ref"] == sha
        assert [s["state"] for s in deployment["statuses"]] == ["in_progress", "success"]
        wait_for(lambda: len(env.targets()) == 3, 60, "Prometheus discovers the third replica")

    if BENCH:
        Path(BENCH).write_text(json.dumps(bench))
    print("deploy test wall times: " + "; ".join(f"{name.split(':')[0]} {seconds:.1f} s"
                                                 for name, seconds in TIMINGS.items()))


# --------------------------------------------------------------------------- under act


def act_rollback(project: Path, tmp_path: Path, monkeypatch, version: int, settings: dict[str, str],
                 bridges: tuple[int, ...] = ()):
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
    # The deploy job checks the champion git names before it rolls out (verify-champion): commit the one the
    # images serve, as the rollback's pull request would have.
    model = project / "build/model/model.joblib"
    if model.is_file():
        (repo / "champion").mkdir(exist_ok=True)
        shutil.copy2(model, repo / "champion/model.joblib")
        (repo / "champion.json").write_text(json.dumps({
            "model_name": project.name, "version": version, "storage": "git",
            "model_sha256": hashlib.sha256(model.read_bytes()).hexdigest()}))
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
                       "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                       **{k: v for k, v in settings.items() if k in FAST}})
    return run, sha


# --------------------------------------------------------------------------- without settings


def test_settings_none_skip_some_fail(rendered, tmp_path):
    """`deploy-settings`: none set -> ready=false and a summary naming them (the deploy job is then
    skipped); some set, or none with DEPLOY_REQUIRED=true -> exit 2 naming the missing ones. No SSH."""
    answers, project = rendered("2", "classification")
    assert answers["deploy_target"] == "swarm"
    package = project.name.replace("-", "_")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOY_")}
    cases = {
        "nothing set": ({}, 0, "ready=false", "DEPLOY_HOST, DEPLOY_USER, DEPLOY_KNOWN_HOSTS, DEPLOY_SSH_KEY not set"),
        "no key": ({"DEPLOY_HOST": "deploy.example.com", "DEPLOY_USER": "deploy",
                    "DEPLOY_KNOWN_HOSTS": "deploy.example.com ssh-ed25519 AAAA"}, 2, "",
                   "DEPLOY_SSH_KEY not set, and the environment is partly configured"),
        "required": ({"DEPLOY_REQUIRED": "true"}, 2, "", "has DEPLOY_REQUIRED=true"),
    }
    for case, (settings, code, output, message) in cases.items():
        summary, outputs = tmp_path / f"{case}-summary.md", tmp_path / f"{case}-output"
        result = subprocess.run([sys.executable, "-m", package, "deploy-settings", "--environment", "production"],
                                cwd=project, capture_output=True, text=True, timeout=120,
                                env={**clean, **settings, "PYTHONPATH": "src", "GITHUB_STEP_SUMMARY": str(summary),
                                     "GITHUB_OUTPUT": str(outputs)})
        assert result.returncode == code, (case, result.stdout, result.stderr)
        assert message in (result.stdout + result.stderr + (summary.read_text() if summary.exists() else "")), case
        if output:
            assert outputs.read_text().strip() == output
            assert summary.read_text().startswith("### Deploy to production: skipped")
        else:
            assert not outputs.exists() or "ready=true" not in outputs.read_text()


def test_missing_settings_skip_the_deploy_job_under_act(rendered, tmp_path, monkeypatch):
    """rollback.yml's deploy in an environment without settings: the settings job succeeds saying what
    to set, and the deploy job never runs (grey on GitHub)."""
    _, project = rendered("2", "classification")
    run, _ = act_rollback(project, tmp_path, monkeypatch, 1, {})
    assert run.ok and run.jobs == {"settings": "success"}, run.log[-4000:]  # the deploy job never ran
    assert "deploy to production skipped: DEPLOY_HOST, DEPLOY_USER" in run.job_log("settings")
    assert run.summaries["settings"].startswith("### Deploy to production: skipped")
    assert json.loads((tmp_path / "act-loopback/state.json").read_text())["deployments"] == []
