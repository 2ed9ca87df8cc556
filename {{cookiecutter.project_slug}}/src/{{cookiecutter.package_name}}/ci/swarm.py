"""Deploys to an environment's Docker Swarm: the rollout behind `deploy` (docs/deploy.md).

The rollout and the rollback are Swarm's (deploy/stack.yml: start-first, one replica at a time, a
monitor window, failure_action rollback). This module renders the stack for the environment
(variables, content-named configs), runs `docker stack deploy` over an SSH Docker context with the
environment's key and pinned known_hosts, waits for the app service's UpdateStatus, and smoke-tests
through the proxy, asking Swarm to roll back when that fails. Only the standard library and `docker`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .. import paths
from ..errors import CheckFailed, PipelineError
from ..serving import smoke
from .deploy import WAIT, name

STACK_FILE = paths.STACK.as_posix()
CONFIGS = {"NGINX_CONFIG": paths.NGINX_CONFIG, "PROMETHEUS_CONFIG": paths.PROMETHEUS_CONFIG,
           "ALERTS_CONFIG": paths.ALERT_RULES}
VERSION_LABEL = "deploy.model-version"
COMMAND_TIMEOUT = 300
SSH_HINTS = {
    "Host key verification failed": "the host's key is not the one in DEPLOY_KNOWN_HOSTS",
    "Permission denied": "DEPLOY_SSH_KEY is not authorised for DEPLOY_USER on the host",
    "Connection refused": "nothing accepts SSH connections at DEPLOY_HOST:DEPLOY_SSH_PORT",
    "permission denied while trying to connect to the Docker daemon": "DEPLOY_USER may not use Docker",
}


@dataclass(frozen=True)
class Settings:
    environment: str
    stack: str
    host: str
    user: str
    ssh_port: int
    known_hosts: str
    key: str
    variables: dict  # what deploy/stack.yml reads
    url: str  # checked from here after convergence, and recorded as the environment's URL
    timeout: float


def _number(env: dict, key: str, default: int, low: int, high: int) -> int:
    raw = (env.get(key) or str(default)).strip()
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise PipelineError(f"{key}={raw!r}: expected a whole number from {low} to {high}")
    return int(raw)


def read_settings(environment: str, env: dict, root: Path = Path()) -> Settings:
    """The settings for `environment`; PipelineError naming the first bad one."""
    host, user = env["DEPLOY_HOST"].strip(), env["DEPLOY_USER"].strip()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.-]*", host):
        raise PipelineError(f"DEPLOY_HOST={host!r}: expected a host name or IPv4 address")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", user):
        raise PipelineError(f"DEPLOY_USER={user!r}: expected a user name")
    url = (env.get("DEPLOY_URL") or "").strip()
    if url and not re.fullmatch(r"https?://\S+", url):
        raise PipelineError(f"DEPLOY_URL={url!r}: expected an http(s) URL")
    key = env["DEPLOY_SSH_KEY"].replace("\r\n", "\n").strip() + "\n"  # secrets often lose the final newline
    if "PRIVATE KEY-----" not in key:
        raise PipelineError("DEPLOY_SSH_KEY: expected a private key (-----BEGIN OPENSSH PRIVATE KEY----- ...)")
    stack = name(environment)
    variables = {"APP_REPLICAS": str(_number(env, "DEPLOY_REPLICAS", 2, 1, 100)),
                 "LISTEN_PORT": str(_number(env, "DEPLOY_LISTEN_PORT", 80, 1, 65535)),
                 "PROMETHEUS_PORT": str(_number(env, "DEPLOY_PROMETHEUS_PORT", 9090, 1, 65535))}
    for key_name, variable in (("DEPLOY_PROXY_IMAGE", "PROXY_IMAGE"),
                               ("DEPLOY_PROMETHEUS_IMAGE", "PROMETHEUS_IMAGE")):
        if value := (env.get(key_name) or "").strip():
            if any(c.isspace() for c in value):
                raise PipelineError(f"{key_name}={value!r}: expected an image reference")
            variables[variable] = value
    for variable, path in CONFIGS.items():  # a config's name changes with its content (Swarm configs are immutable)
        if not (root / path).is_file():
            raise PipelineError(f"{path}: not found; run `deploy` from the project root")
        digest = hashlib.sha256((root / path).read_bytes()).hexdigest()[:12]
        variables[variable] = f"{stack}-{Path(path).stem}-{digest}"
    return Settings(environment, stack, host, user, _number(env, "DEPLOY_SSH_PORT", 22, 1, 65535),
                    env["DEPLOY_KNOWN_HOSTS"].replace("\r\n", "\n").strip() + "\n", key, variables, url,
                    _number(env, "DEPLOY_TIMEOUT", WAIT, 30, 7200))


class Swarm:
    """The environment's Swarm manager through an SSH Docker context (`with Swarm(settings) as swarm:`).

    The context lives in a private DOCKER_CONFIG (with a copy of the registry login) and `ssh` on PATH
    is a wrapper giving our key and the pinned known_hosts only, with one shared connection. All of it,
    key included, is removed on exit.
    """

    def __init__(self, settings: Settings, manager: bool = True):
        # manager=False: any node of the swarm (collect reads each node's capture volume).
        self.settings, self.dir, self.env, self.manager = settings, None, {}, manager
        self.where = f"{settings.user}@{settings.host}:{settings.ssh_port}"

    def __enter__(self) -> Swarm:
        ssh, keygen = shutil.which("ssh"), shutil.which("ssh-keygen")
        if not ssh or not keygen or not shutil.which("docker"):
            raise PipelineError("deploy needs the OpenSSH client (ssh, ssh-keygen) and the docker CLI on PATH")
        self.dir = folder = Path(tempfile.mkdtemp(prefix="deploy-"))  # mode 0700
        try:
            s = self.settings
            (folder / "key").touch(mode=0o600)
            (folder / "key").write_text(s.key)
            (folder / "known_hosts").write_text(s.known_hosts)
            entry = s.host if s.ssh_port == 22 else f"[{s.host}]:{s.ssh_port}"
            known = subprocess.run([keygen, "-F", entry, "-f", str(folder / "known_hosts")], capture_output=True)
            if known.returncode:
                raise PipelineError(f"DEPLOY_KNOWN_HOSTS has no key for {entry}: add the line "
                                    f"`ssh-keyscan -p {s.ssh_port} {s.host}` prints, after checking its fingerprint")
            (folder / "ssh_config").write_text(
                f"Host *\n  IdentityFile {folder}/key\n  IdentitiesOnly yes\n"
                f"  UserKnownHostsFile {folder}/known_hosts\n"
                "  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n  UpdateHostKeys no\n  BatchMode yes\n"
                "  ConnectTimeout 20\n  ServerAliveInterval 15\n  LogLevel ERROR\n"
                f"  ControlMaster auto\n  ControlPath {folder}/mux-%C\n  ControlPersist 300\n")
            (folder / "bin").mkdir()
            (folder / "bin/ssh").write_text(f'#!/bin/sh\nexec "{ssh}" -F "{folder}/ssh_config" "$@"\n')
            (folder / "bin/ssh").chmod(0o700)
            login = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "config.json"
            if login.is_file():  # the registry login (docker/login-action) goes with --with-registry-auth
                shutil.copy(login, folder / "config.json")
            env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "DOCKER_CONTEXT")}
            self.env = {**env, "PATH": f"{folder}/bin{os.pathsep}{env.get('PATH', '')}", "DOCKER_CONFIG": str(folder)}
            self.docker("context", "create", s.stack, "--docker", f"host=ssh://{s.user}@{s.host}:{s.ssh_port}")
            self.env["DOCKER_CONTEXT"] = s.stack
            manages = self.docker("info", "--format", "json").get("Swarm", {}).get("ControlAvailable")
            if self.manager and manages is not True:
                raise PipelineError(f"Docker on {self.where} is not a Swarm manager: run `docker swarm init` there "
                                    "once (docs/deploy.md, 'The hosts')")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.dir is not None:
            s = self.settings
            if (self.dir / "bin/ssh").exists():  # stop the shared connection, if one was opened
                subprocess.run([str(self.dir / "bin/ssh"), "-O", "exit", "-p", str(s.ssh_port), f"{s.user}@{s.host}"],
                               capture_output=True, timeout=30)
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def docker(self, *args: str, check: bool = True, variables: dict | None = None,
               timeout: float = COMMAND_TIMEOUT):
        """`docker ARGS` against the manager: parsed JSON when it printed JSON, else the CompletedProcess."""
        try:
            result = subprocess.run(["docker", *args], env={**self.env, **(variables or {})}, capture_output=True,
                                    text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise PipelineError(f"docker {' '.join(args[:2])} on {self.where}: no answer in {timeout:.0f} s") from None
        if check and result.returncode != 0:
            text = " ".join(result.stderr.split())[-600:] or "no output"
            hints = [hint for needle, hint in SSH_HINTS.items() if needle.lower() in text.lower()]
            raise PipelineError(f"docker {' '.join(args[:2])} on {self.where} failed: {text}"
                                + (f" ({'; '.join(hints)})" if hints else ""))
        if check and result.stdout.lstrip()[:1] in ("{", "["):
            return json.loads(result.stdout)
        return result

    def service(self, name: str) -> dict:
        found = self.docker("service", "inspect", name, check=False)
        return json.loads(found.stdout)[0] if found.returncode == 0 else {}

    def tasks(self, name: str) -> list[dict]:
        ids = self.docker("service", "ps", "--quiet", "--no-trunc", name).stdout.split()
        return self.docker("inspect", "--type", "task", *ids) if ids else []


def image_of(service: dict) -> str:
    return ((service.get("Spec") or {}).get("TaskTemplate") or {}).get("ContainerSpec", {}).get("Image", "")


def failures(tasks: list[dict], image: str, limit: int = 3) -> str:
    """How the last tasks of `image` ended: an error (a failed health check, an exit code) or their state."""
    ended = sorted((t for t in tasks if t["Spec"]["ContainerSpec"]["Image"].startswith(image)
                    and t["Status"]["State"] in ("failed", "rejected", "complete", "shutdown", "orphaned")),
                   key=lambda t: t["Status"]["Timestamp"])
    return "; ".join(f"task {t['ID'][:12]} {t['Status']['State']}: " + (t["Status"].get("Err") or (
        f"{t['Status'].get('Message')}, exit code {t['Status'].get('ContainerStatus', {}).get('ExitCode')}"))
        for t in ended[-limit:]) or "no task of it ended"


def _set(value):
    """A spec without its empty or false fields, at any depth: a task's copy of the service's spec leaves
    some out that the service's has, depending on the engine's and the client's versions."""
    if isinstance(value, dict):
        value = {key: _set(item) for key, item in value.items()}
        return {key: item for key, item in value.items() if item}
    return [_set(item) for item in value] if isinstance(value, list) else value


def converge(swarm: Swarm, app: str, before: dict, image: str, timeout: float, rollback: bool = False) -> None:
    """Wait until Swarm's update (or with `rollback`, our rollback) is over and every replica runs the service's
    spec, healthy; CheckFailed when Swarm rolled the update back (once the old version serves again) or paused."""
    deadline, started = time.monotonic() + timeout, (before.get("UpdateStatus") or {}).get("StartedAt")
    while True:
        service, tasks = swarm.service(app), swarm.tasks(app)
        status = service.get("UpdateStatus") or {}
        state = status.get("State") if status.get("StartedAt") != started else None
        spec = _set(service["Spec"]["TaskTemplate"]["ContainerSpec"])
        running = [t for t in tasks if _set(t["Spec"]["ContainerSpec"]) == spec
                   and t["DesiredState"] == t["Status"]["State"] == "running"]
        wanted = service["Spec"]["Mode"].get("Replicated", {}).get("Replicas", 0)
        if state in ("paused", "rollback_paused"):
            raise CheckFailed(f"Swarm paused the update of {app} ({status.get('Message', '')}): fix it on the "
                              f"manager (`docker service ps {app}`); {failures(tasks, image_of(service))}")
        if len(running) == wanted and state in (None, "completed", "rollback_completed"):
            if rollback or state != "rollback_completed":
                return
            raise CheckFailed(f"Swarm rolled the update back ({status.get('Message', '')}); {image_of(service)} "
                              f"serves on {wanted} replica(s); the new version's tasks: {failures(tasks, image)}")
        if time.monotonic() > deadline:
            raise CheckFailed(f"{app}: {len(running)} of {wanted} replicas healthy after {timeout:.0f} s "
                              f"(update {state or 'not started'}); {failures(tasks, image_of(service))}")
        time.sleep(2)


def deploy_stack(swarm: Swarm, image: str, version: int | None, settings: Settings) -> dict:
    """`docker stack deploy`, convergence and the smoke test through the proxy (the module docstring)."""
    s, app = settings, f"{settings.stack}_app"
    before = swarm.service(app)
    previous = {"image": image_of(before), "version": before["Spec"].get("Labels", {}).get(VERSION_LABEL)} \
        if before else None
    print(f"{s.environment}: stack {s.stack} on {swarm.where} runs {previous['image'] if previous else 'nothing'}; "
          f"deploying {image} x{s.variables['APP_REPLICAS']}", flush=True)
    variables = {**s.variables, "APP_IMAGE": image, "APP_VERSION": "" if version is None else str(version)}
    started = time.monotonic()
    swarm.docker("stack", "deploy", "--with-registry-auth", "--detach=true", "--prune", "--resolve-image",
                 os.environ.get("DEPLOY_RESOLVE_IMAGE", "always"), "--compose-file", STACK_FILE, s.stack,
                 variables=variables)
    converge(swarm, app, before, image, s.timeout)
    converged = time.monotonic() - started
    checks = [f"{s.variables['APP_REPLICAS']} replicas healthy in {converged:.0f} s"]
    try:
        expect = ["--expect-version", str(version)] if version is not None else []
        result = swarm.docker("run", "--rm", "--network", f"{s.stack}_serving", image, "python", "-m", smoke.__name__,
                              "http://proxy:80", "--wait", "60", *expect, check=False)
        if result.returncode != 0:
            raise CheckFailed(" ".join((result.stderr or result.stdout).split()).removeprefix("error: ")[-400:])
        if version is None:
            version = json.loads(result.stdout.strip().splitlines()[-1]).get("model_version")
        checks.append(f"through the proxy: /health, model v{version}, one prediction")
        if s.url:
            smoke.run(s.url, 60, version)
            checks.append(f"{s.url}: model v{version}, one prediction")
    except CheckFailed as exc:
        if not previous:
            raise CheckFailed(f"smoke test failed after the first deploy: {exc}; nothing to roll back to") from None
        updated = swarm.service(app)
        swarm.docker("service", "rollback", "--detach", app)
        converge(swarm, app, updated, image, s.timeout, rollback=True)
        raise CheckFailed(f"smoke test failed after convergence: {exc}; Swarm rolled {app} back to "
                          f"{previous['image']} (model v{previous['version']})") from None
    return {"environment": s.environment, "stack": s.stack, "host": swarm.where, "image": image, "version": version,
            "replicas": int(s.variables["APP_REPLICAS"]), "seconds": round(converged, 1), "previous": previous,
            "url": s.url or f"http://{s.host}:{s.variables['LISTEN_PORT']}", "checks": checks}


def roll_out(environment: str, image: str, version: int | None, env: dict) -> dict:
    """The Swarm rollout of `deploy` (deploy.run records and summarises it)."""
    settings = read_settings(environment, env)
    with Swarm(settings) as swarm:
        return deploy_stack(swarm, image, version, settings)
