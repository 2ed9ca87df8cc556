"""Blue/green deploys to a Docker host over SSH: the `deploy` command (docs/deploy.md).

The host runs deploy/compose.yml as one Compose project per environment (`<slug>-<environment>`): an
nginx reverse proxy and two slots for the app, blue and green, on the host's network, the slots on
127.0.0.1 only. Docker's own SSH transport reaches the host (DOCKER_HOST=ssh://user@host), with the
environment's key and pinned known_hosts only. A deploy:

1. starts the new image in the slot that is not live, beside the live one;
2. checks it inside its own container: /health, the expected model version, one prediction
   (`python -m <package>.smoke`). If that fails, traffic never moved: the new container is stopped
   and the deploy fails with the reason;
3. points the proxy at it, the old slot kept as backup, and checks again: through the proxy, a soak
   in which the new container must keep running, and DEPLOY_URL from here when set. If that fails,
   traffic goes back to the old slot and the deploy fails with the reason;
4. makes the new slot the only upstream and stops the old one.

What runs where goes to stdout, the job summary and, in GitHub Actions, a GitHub deployment with its
statuses. Without the environment's settings the deploy is skipped, naming the missing ones. Only the
standard library, and the `docker` CLI with its Compose plugin.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import CheckFailed, PipelineError
from ..serving import smoke
from . import actions
from .github import GitHub
from .report import run_links

SLUG = "{{ cookiecutter.project_slug }}"
COMPOSE_FILE = "deploy/compose.yml"
SLOTS = ("blue", "green")
# The GitHub Environment's required settings: three variables and a secret (docs/deploy.md).
REQUIRED = ("DEPLOY_HOST", "DEPLOY_USER", "DEPLOY_KNOWN_HOSTS", "DEPLOY_SSH_KEY")
DEFAULTS = {"DEPLOY_SSH_PORT": "22", "DEPLOY_LISTEN": "0.0.0.0:80", "DEPLOY_APP_PORTS": "8001,8002",
            "DEPLOY_SOAK_SECONDS": "30"}
LIVE_CONF = "/etc/nginx/live.conf"  # in the proxy container: the upstream servers, live slot first
SERVER = re.compile(r"^\s*server\s+127\.0\.0\.1:(\d+)\s*(backup)?\s*;", re.M)
VERSION_LABEL = "deploy.model-version"
SERVER_VERSION = "{" "{.Server.Version}" "}"  # a Go template for docker, split so that Jinja leaves it alone
START_WAIT = 120  # seconds for a new container to answer /health
COMMAND_TIMEOUT = 120  # seconds for one docker command; `up` may pull the image and gets longer
PULL_TIMEOUT = 900
DESCRIPTION_LIMIT = 140  # GitHub's limit for a deployment status description
SSH_HINTS = {
    "Host key verification failed": "the host's key is not the one in DEPLOY_KNOWN_HOSTS",
    "Permission denied": "DEPLOY_SSH_KEY is not authorised for DEPLOY_USER on the host",
    "Connection refused": "nothing accepts SSH connections at DEPLOY_HOST:DEPLOY_SSH_PORT",
    "timed out": "DEPLOY_HOST:DEPLOY_SSH_PORT does not answer (address, port or firewall)",
    "Could not resolve hostname": "DEPLOY_HOST is not a known host name",
    "permission denied while trying to connect to the Docker daemon": "DEPLOY_USER may not use Docker "
                                                                      "(add it to the docker group)",
}


@dataclass(frozen=True)
class Settings:
    """Where and how to deploy one environment, read from DEPLOY_* environment variables."""

    environment: str
    project: str  # Compose project on the host
    host: str
    user: str
    ssh_port: int
    known_hosts: str
    key: str
    listen: tuple[str, int]
    ports: dict[str, int]  # slot -> 127.0.0.1 port
    url: str  # checked from here after the switch, and recorded as the environment's URL
    proxy_image: str  # empty: the compose file's pinned default
    soak: float

    @property
    def proxy_url(self) -> str:
        """The proxy as seen from a container on the host's network."""
        address, port = self.listen
        return f"http://{'127.0.0.1' if address == '0.0.0.0' else address}:{port}"


def missing(env: dict) -> list[str]:
    """The required settings that are unset or empty."""
    return [name for name in REQUIRED if not (env.get(name) or "").strip()]


def _int(env: dict, name: str, low: int, high: int) -> int:
    raw = (env.get(name) or DEFAULTS[name]).strip()
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise PipelineError(f"{name}={raw!r}: expected a whole number from {low} to {high}")
    return int(raw)


def read_settings(environment: str, env: dict) -> Settings:
    """The settings for `environment`; PipelineError naming the first bad one."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", environment):
        raise PipelineError(f"--environment {environment!r}: expected letters, digits, - and _")
    host, user = env["DEPLOY_HOST"].strip(), env["DEPLOY_USER"].strip()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.-]*", host):
        raise PipelineError(f"DEPLOY_HOST={host!r}: expected a host name or IPv4 address")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", user):
        raise PipelineError(f"DEPLOY_USER={user!r}: expected a user name")
    listen = (env.get("DEPLOY_LISTEN") or DEFAULTS["DEPLOY_LISTEN"]).strip()
    match = re.fullmatch(r"(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})", listen)
    if not match or not 0 < int(match.group(2)) < 65536:
        raise PipelineError(f"DEPLOY_LISTEN={listen!r}: expected ADDRESS:PORT, such as 0.0.0.0:80")
    ports_text = (env.get("DEPLOY_APP_PORTS") or DEFAULTS["DEPLOY_APP_PORTS"]).strip()
    ports = [int(p) for p in re.findall(r"\d+", ports_text)]
    if (len(ports) != 2 or len({*ports, int(match.group(2))}) != 3 or not all(0 < p < 65536 for p in ports)
            or not re.fullmatch(r"\d+\s*,\s*\d+", ports_text)):
        raise PipelineError(f"DEPLOY_APP_PORTS={ports_text!r}: expected two ports BLUE,GREEN, "
                            "different from each other and from DEPLOY_LISTEN's")
    soak = (env.get("DEPLOY_SOAK_SECONDS") or DEFAULTS["DEPLOY_SOAK_SECONDS"]).strip()
    if not re.fullmatch(r"\d+(\.\d+)?", soak):
        raise PipelineError(f"DEPLOY_SOAK_SECONDS={soak!r}: expected a number of seconds")
    url = (env.get("DEPLOY_URL") or "").strip()
    if url and not re.fullmatch(r"https?://\S+", url):
        raise PipelineError(f"DEPLOY_URL={url!r}: expected an http(s) URL")
    proxy_image = (env.get("DEPLOY_PROXY_IMAGE") or "").strip()
    if any(c.isspace() for c in proxy_image):
        raise PipelineError(f"DEPLOY_PROXY_IMAGE={proxy_image!r}: expected an image reference")
    key = env["DEPLOY_SSH_KEY"].replace("\r\n", "\n").strip() + "\n"  # secrets often lose the final newline
    if "PRIVATE KEY-----" not in key:
        raise PipelineError("DEPLOY_SSH_KEY: expected a private key (-----BEGIN OPENSSH PRIVATE KEY----- ...)")
    known_hosts = env["DEPLOY_KNOWN_HOSTS"].replace("\r\n", "\n").strip() + "\n"
    project = re.sub(r"[^a-z0-9_-]+", "-", f"{SLUG}-{environment.lower()}")
    return Settings(environment, project, host, user, _int(env, "DEPLOY_SSH_PORT", 1, 65535), known_hosts, key,
                    (match.group(1), int(match.group(2))), dict(zip(SLOTS, ports, strict=True)), url, proxy_image,
                    float(soak))


# --------------------------------------------------------------------------- the host, over SSH


class Host:
    """The environment's Docker engine through Docker's SSH transport (`with Host(settings) as host:`).

    Docker runs `ssh` from PATH; a wrapper first on PATH, in a private temporary directory, gives it
    our key, the pinned known_hosts (StrictHostKeyChecking yes, nothing else trusted) and one shared
    connection for all commands. The directory, key included, is removed on exit.
    """

    def __init__(self, settings: Settings, compose_file: str | Path = COMPOSE_FILE):
        self.settings = settings
        self.compose_file = Path(compose_file)
        if not self.compose_file.is_file():
            raise PipelineError(f"{self.compose_file}: not found; run `deploy` from the project root")
        self.dir: Path | None = None
        self.env: dict[str, str] = {}
        self.server = ""

    def __enter__(self) -> Host:
        ssh, keygen = shutil.which("ssh"), shutil.which("ssh-keygen")
        if not ssh or not keygen or not shutil.which("docker"):
            raise PipelineError("deploy needs the OpenSSH client (ssh, ssh-keygen) and the docker CLI on PATH")
        self.dir = Path(tempfile.mkdtemp(prefix="deploy-"))  # mode 0700
        try:
            self._configure(ssh, keygen)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _configure(self, ssh: str, keygen: str) -> None:
        s, folder = self.settings, self.dir
        key, known = folder / "key", folder / "known_hosts"
        key.touch(mode=0o600)
        key.write_text(s.key)
        known.write_text(s.known_hosts)
        entry = s.host if s.ssh_port == 22 else f"[{s.host}]:{s.ssh_port}"
        if subprocess.run([keygen, "-F", entry, "-f", str(known)], capture_output=True).returncode != 0:
            raise PipelineError(f"DEPLOY_KNOWN_HOSTS has no key for {entry}: add the line "
                                f"`ssh-keyscan -p {s.ssh_port} {s.host}` prints, after checking its fingerprint")
        (folder / "ssh_config").write_text(
            "Host *\n"
            f"  IdentityFile {key}\n  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {known}\n  GlobalKnownHostsFile /dev/null\n"
            "  StrictHostKeyChecking yes\n  UpdateHostKeys no\n  BatchMode yes\n"
            "  ConnectTimeout 20\n  ServerAliveInterval 15\n  LogLevel ERROR\n"
            # One connection for every docker command of this deploy; closed in __exit__.
            f"  ControlMaster auto\n  ControlPath {folder}/mux-%C\n  ControlPersist 300\n")
        bin_dir = folder / "bin"
        bin_dir.mkdir()
        wrapper = bin_dir / "ssh"
        wrapper.write_text(f'#!/bin/sh\nexec "{ssh}" -F "{folder}/ssh_config" "$@"\n')
        wrapper.chmod(0o700)
        env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_CONTEXT", "DOCKER_TLS_VERIFY",
                                                                 "DOCKER_CERT_PATH")}
        self.env = {**env, "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
                    "DOCKER_HOST": f"ssh://{s.user}@{s.host}:{s.ssh_port}"}
        result = self.docker("version", "--format", SERVER_VERSION, check=False)
        if result.returncode != 0:
            raise PipelineError(f"cannot reach Docker on {self.where}: {self._explain(result.stderr)}")
        self.server = result.stdout.strip()

    def __exit__(self, *exc) -> None:
        if self.dir is None:
            return
        if (self.dir / "bin/ssh").exists():  # stop the shared connection, if one was opened
            subprocess.run([str(self.dir / "bin/ssh"), "-O", "exit", "-p", str(self.settings.ssh_port),
                            f"{self.settings.user}@{self.settings.host}"], capture_output=True, timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    @property
    def where(self) -> str:
        s = self.settings
        return f"{s.user}@{s.host}:{s.ssh_port}"

    @staticmethod
    def _explain(stderr: str) -> str:
        text = " ".join(stderr.split())[-400:] or "no output"
        hints = [hint for needle, hint in SSH_HINTS.items() if needle.lower() in text.lower()]
        return text + (f" ({'; '.join(hints)})" if hints else "")

    def docker(self, *args: str, check: bool = True, timeout: float = COMMAND_TIMEOUT, stdin: bytes | None = None,
               binary: bool = False, variables: dict | None = None) -> subprocess.CompletedProcess:
        """Run `docker ARGS` against the host; PipelineError with its stderr when it fails and check is set."""
        try:
            result = subprocess.run(["docker", *args], env={**self.env, **(variables or {})}, input=stdin,
                                    capture_output=True, timeout=timeout, text=not binary)
        except subprocess.TimeoutExpired:
            raise PipelineError(f"docker {' '.join(args[:3])} on {self.where}: no answer in {timeout:.0f} s") from None
        if check and result.returncode != 0:
            stderr = result.stderr.decode(errors="replace") if binary else result.stderr
            raise PipelineError(f"docker {' '.join(args[:3])} on {self.where} failed: {self._explain(stderr)}")
        return result

    def compose(self, *args: str, image: str = "", version: int | None = None, live_port: int | None = None,
                timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess:
        """`docker compose` on the environment's project, with the variables compose.yml reads."""
        s = self.settings
        variables = {"APP_IMAGE": image or "unused", "APP_VERSION": "" if version is None else str(version),
                     "BLUE_PORT": str(s.ports["blue"]), "GREEN_PORT": str(s.ports["green"]),
                     "LIVE_PORT": str(live_port or s.ports["blue"]), "LISTEN": f"{s.listen[0]}:{s.listen[1]}"}
        if s.proxy_image:
            variables["PROXY_IMAGE"] = s.proxy_image
        return self.docker("compose", "--project-name", s.project, "--file", str(self.compose_file), *args,
                           variables=variables, timeout=timeout)

    def container(self, service: str) -> str:
        return f"{self.settings.project}-{service}-1"  # Compose's name for the service's first container

    def inspect(self) -> dict[str, dict]:
        """service -> its container's state, for the services that have a container."""
        names = {self.container(service): service for service in (*SLOTS, "proxy")}
        result = self.docker("inspect", "--type", "container", *names, check=False)
        try:
            found = json.loads(result.stdout or "[]")
        except ValueError:
            raise PipelineError(f"docker inspect on {self.where}: unreadable output") from None
        states = {}
        for item in found:
            state, labels = item.get("State") or {}, (item.get("Config") or {}).get("Labels") or {}
            version = labels.get(VERSION_LABEL) or ""
            states[names[item["Name"].lstrip("/")]] = {
                "status": state.get("Status"), "running": bool(state.get("Running")) and not state.get("Restarting"),
                "exit_code": state.get("ExitCode"), "restarts": item.get("RestartCount", 0),
                "health": (state.get("Health") or {}).get("Status"), "image": item["Config"].get("Image"),
                "version": int(version) if version.isdigit() else None}
        return states

    def logs(self, service: str, lines: int = 3) -> str:
        result = self.docker("logs", "--tail", "50", self.container(service), check=False)
        text = [line for line in (result.stderr or result.stdout).splitlines() if line.strip()]
        return " | ".join(text[-lines:])

    def read_upstream(self) -> tuple[int | None, int | None]:
        """(primary port, backup port) from the proxy's live.conf; (None, None) without a proxy."""
        result = self.docker("cp", f"{self.container('proxy')}:{LIVE_CONF}", "-", check=False, binary=True)
        if result.returncode != 0:
            return None, None
        with tarfile.open(fileobj=io.BytesIO(result.stdout)) as archive:
            member = archive.extractfile(archive.getmembers()[0])
            text = member.read().decode() if member else ""
        return parse_upstream(text)

    def write_upstream(self, primary: int, backup: int | None, reload: bool = True) -> None:
        """Rewrite the proxy's live.conf and reload nginx: new connections go to `primary` at once, while
        requests in flight finish on the old workers. Without reload, for a stopped proxy."""
        data = upstream_conf(primary, backup).encode()
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            info = tarfile.TarInfo(Path(LIVE_CONF).name)
            info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
            archive.addfile(info, io.BytesIO(data))
        proxy = self.container("proxy")
        self.docker("cp", "-", f"{proxy}:{Path(LIVE_CONF).parent}", stdin=buffer.getvalue(), binary=True)
        if reload:
            self.docker("exec", proxy, "nginx", "-t", "-q")
            self.docker("exec", proxy, "nginx", "-s", "reload")

    def smoke(self, service: str, url: str, version: int | None, wait: float) -> dict:
        """The smoke test inside the service's container, against `url` (the container's loopback is the
        host's); CheckFailed with the reason, or the container's exit and last log lines if it died."""
        command = ["exec", self.container(service), "python", "-m", smoke.__name__, url, "--wait", f"{wait:.0f}"]
        if version is not None:
            command += ["--expect-version", str(version)]
        result = self.docker(*command, check=False, timeout=wait + COMMAND_TIMEOUT)
        if result.returncode == 0:
            return json.loads(result.stdout.strip().splitlines()[-1])
        state = self.inspect().get(service, {})
        if not state.get("running") or state.get("restarts"):
            raise CheckFailed(f"the {service} container {describe_exit(state)}: {self.logs(service)}")
        reason = " ".join((result.stderr or result.stdout).split()).removeprefix("error: ")
        raise CheckFailed(reason or f"smoke test exited {result.returncode}")


def parse_upstream(text: str) -> tuple[int | None, int | None]:
    servers = SERVER.findall(text)
    primary = next((int(port) for port, backup in servers if not backup), None)
    backup = next((int(port) for port, flag in servers if flag), None)
    return primary, backup


def upstream_conf(primary: int, backup: int | None = None) -> str:
    lines = [f"server 127.0.0.1:{primary};"] + ([f"server 127.0.0.1:{backup} backup;"] if backup else [])
    return "# Written by `deploy`: the live slot, then the previous one as backup during the checks.\n" + \
        "\n".join(lines) + "\n"


def describe_exit(state: dict) -> str:
    if not state:
        return "is gone"
    if state.get("running"):
        return f"restarted {state['restarts']} time(s)"
    return f"is {state.get('status')} (exit code {state.get('exit_code')}, {state.get('restarts', 0)} restart(s))"


# --------------------------------------------------------------------------- blue/green


def _say(message: str) -> None:
    print(message, flush=True)


def _slot_of(port: int | None, settings: Settings) -> str | None:
    return next((slot for slot, p in settings.ports.items() if p == port), None)


def switch(host: Host, image: str, version: int | None, settings: Settings) -> dict:
    """One blue/green deploy (the module docstring's steps). Returns what runs where; CheckFailed or
    PipelineError say what went wrong and where the traffic is."""
    states = host.inspect()
    primary, _ = host.read_upstream()
    live = _slot_of(primary, settings)
    if primary is not None and live is None:
        raise PipelineError(f"the proxy routes to 127.0.0.1:{primary}, which is not a slot of DEPLOY_APP_PORTS "
                            f"({settings.ports}); fix the ports, or route the proxy by hand (docs/deploy.md)")
    if live and not states.get(live, {}).get("running"):
        _say(f"::warning::the proxy routes to {live}, which is not running: nothing to fall back to")
        live = None
    new = "green" if live == "blue" else "blue"
    before = f"{live} (model v{states[live]['version']}, {states[live]['image']})" if live else "nothing"
    _say(f"{settings.environment}: {host.where} (Docker {host.server}) serves {before}; starting {new} with {image}")
    host.compose("up", "--detach", "--no-deps", "--force-recreate", new, image=image, version=version,
                 timeout=PULL_TIMEOUT)
    checks = []
    try:
        result = host.smoke(new, f"http://127.0.0.1:{settings.ports[new]}", version, START_WAIT)
    except CheckFailed as exc:
        host.compose("stop", new)
        where = f"traffic stays on {before}" if live else "nothing was serving"
        raise CheckFailed(f"{new} failed before taking traffic: {exc}; {where}; {new} is stopped "
                          f"(docker logs {host.container(new)} on the host)") from None
    version = result.get("model_version") if version is None else version
    checks.append(f"{new} itself: /health, model v{version}, one prediction")

    backup = settings.ports[live] if live else None
    if states.get("proxy", {}).get("running"):
        host.write_upstream(settings.ports[new], backup)
    else:  # first deploy (compose creates the proxy routing to LIVE_PORT), or a stopped proxy
        if "proxy" in states:
            host.write_upstream(settings.ports[new], backup, reload=False)
        host.compose("up", "--detach", "--no-deps", "--no-recreate", "proxy", image=image,
                     live_port=settings.ports[new], timeout=PULL_TIMEOUT)
    _say(f"{settings.environment}: traffic switched to {new}" + (f"; {live} kept as backup" if live else ""))
    try:
        through_proxy(host, new, settings.proxy_url, version)
        checks.append(f"through the proxy ({settings.proxy_url}): model v{version}, one prediction")
        soak(host, new, settings.soak)
        checks.append(f"{new} kept running for {settings.soak:g} s")
        if settings.url:
            smoke.run(settings.url, START_WAIT, version)
            checks.append(f"{settings.url}: model v{version}, one prediction")
    except (CheckFailed, PipelineError) as exc:
        raise CheckFailed(f"{new} failed after the switch: {exc}; {switch_back(host, new, live, states, settings)}") \
            from None
    if live:
        host.write_upstream(settings.ports[new], None)
        host.compose("stop", live)
    _say(f"{settings.environment}: {new} is live" + (f"; {live} stopped" if live else ""))
    return {"environment": settings.environment, "host": host.where, "docker": host.server, "slot": new,
            "image": image, "version": version, "url": settings.url or settings.proxy_url,
            "previous": {"slot": live, "image": states[live]["image"], "version": states[live]["version"]}
            if live else None, "checks": checks}


def through_proxy(host: Host, service: str, url: str, version: int | None, attempts: int = 3) -> None:
    """The smoke test through the proxy, run in the service's container. nginx applies a reload within
    moments of `nginx -s reload` returning, so a first answer from the previous version is retried."""
    for attempt in range(attempts):
        try:
            host.smoke(service, url, version, START_WAIT)
            return
        except CheckFailed as exc:
            if "serves model version" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(1)


def soak(host: Host, service: str, seconds: float) -> None:
    """The new container must keep running, without restarts or a failing health check, for `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        state = host.inspect().get(service, {})
        if not state.get("running") or state.get("restarts") or state.get("health") == "unhealthy":
            detail = "is unhealthy" if state.get("running") and not state.get("restarts") else describe_exit(state)
            raise CheckFailed(f"the {service} container {detail}: {host.logs(service)}")
        if time.monotonic() >= deadline:
            return
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))


def switch_back(host: Host, new: str, live: str | None, states: dict, settings: Settings) -> str:
    """After a failed check: traffic back to the previous slot, the new one stopped; says where traffic is."""
    if live is None:
        host.compose("stop", new)
        return f"nothing to switch back to (first deploy); {new} is stopped and the environment serves nothing"
    host.write_upstream(settings.ports[live], None)
    host.compose("stop", new)
    previous = states[live]
    try:
        through_proxy(host, live, settings.proxy_url, previous["version"])
    except CheckFailed as exc:
        return f"traffic switched back to {live}, which fails too: {exc}"
    return f"traffic switched back to {live} (model v{previous['version']}, {previous['image']}); {new} is stopped"


# --------------------------------------------------------------------------- records


class Record:
    """The deploy as a GitHub deployment of the environment, with its statuses (REST API).

    Only in GitHub Actions with a token (the workflow passes GITHUB_TOKEN, `deployments: write`);
    elsewhere `active` is False and nothing is sent.
    """

    def __init__(self, environment: str, image: str, version: int | None, env: dict):
        self.env, self.id, self.client = env, None, None
        self.active = bool(env.get("GITHUB_ACTIONS") == "true" and env.get("GITHUB_TOKEN") and env.get("GITHUB_SHA"))
        self.environment, self.image, self.version = environment, image, version

    def start(self) -> None:
        if not self.active:
            return
        env = self.env
        self.client = GitHub.from_env(env, "a token with deployments: write")
        self.id = self.client.create_deployment(
            ref=env["GITHUB_SHA"], environment=self.environment, task="deploy", auto_merge=False,
            required_contexts=[], production_environment=self.environment == "production",
            description=_cut(f"{self.image} (model v{self.version})" if self.version is not None else self.image),
            payload={"image": self.image, "model_version": self.version})
        self.status("in_progress", "blue/green deploy started")

    def status(self, state: str, description: str, url: str = "") -> None:
        if not self.id:
            return
        body = {"state": state, "description": _cut(description), "auto_inactive": state == "success"}
        if links := run_links(self.env):
            body["log_url"] = links["run"]
        if url:
            body["environment_url"] = url
        self.client.deployment_status(self.id, **body)


def _cut(text: str) -> str:
    return text if len(text) <= DESCRIPTION_LIMIT else text[: DESCRIPTION_LIMIT - 1] + "…"


def summary(result: dict) -> str:
    """What runs where after a deploy, as Markdown for the job summary."""
    env = result["environment"]
    if result["action"] == "skipped":
        return f"### Deploy to {env}: skipped\n\n{result['reason']}"
    if result["action"] == "failed":
        return f"### Deploy to {env}: failed\n\n{result['reason']}"
    rows = [("host", f"`{result['host']}` (Docker {result['docker']})"),
            ("live", f"{result['slot']}: `{result['image']}`, model v{result['version']}"),
            ("address", result["url"])]
    previous = result.get("previous")
    rows.append(("previous", f"{previous['slot']}: `{previous['image']}`, model v{previous['version']}, stopped"
                 if previous else "none (first deploy)"))
    rows += [("checked", check) for check in result["checks"]]
    if result.get("deployment"):
        rows.append(("GitHub deployment", f"#{result['deployment']}"))
    table = "\n".join(f"| {name} | {value} |" for name, value in rows)
    return f"### Deploy to {env}: model v{result['version']} is live\n\n| | |\n|---|---|\n{table}"


def run(environment: str, image: str, version: int | None, compose_file: str | Path = COMPOSE_FILE,
        env: dict | None = None) -> dict:
    """The `deploy` command: skip without settings, else deploy, record and summarise; CheckFailed or
    PipelineError when the deploy failed (after recording the failure)."""
    env = os.environ if env is None else env
    if not image or any(c.isspace() for c in image):
        raise PipelineError(f"--image {image!r}: expected an image reference such as ghcr.io/owner/name:tag")
    if absent := missing(env):
        names = ", ".join(absent)
        reason = (f"deploy to {environment} skipped: {names} not set. Set the {environment} environment's "
                  f"variables DEPLOY_HOST, DEPLOY_USER, DEPLOY_KNOWN_HOSTS and its secret DEPLOY_SSH_KEY "
                  f"(docs/deploy.md).")
        result = {"action": "skipped", "environment": environment, "missing": absent, "reason": reason}
        actions.add_summary(summary(result), env)
        return result
    record = Record(environment, image, version, env)
    try:
        settings = read_settings(environment, env)
        record.start()
        with Host(settings, compose_file) as host:
            result = {"action": "deployed", **switch(host, image, version, settings)}
    except PipelineError as exc:
        record.status("failure", str(exc))
        actions.add_summary(summary({"action": "failed", "environment": environment, "reason": str(exc)}), env)
        raise
    record.status("success", f"model v{result['version']} live in {result['slot']}", settings.url)
    result["deployment"] = record.id
    actions.add_summary(summary(result), env)
    return result
