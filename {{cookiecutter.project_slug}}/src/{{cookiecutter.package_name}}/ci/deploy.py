"""Deploys to an environment's Docker Swarm: the `deploy-settings` and `deploy` commands (docs/deploy.md).

The rollout and the rollback are Swarm's (deploy/stack.yml: start-first, one replica at a time, a
monitor window, failure_action rollback). This module only renders the stack for the environment
(variables, content-named configs), runs `docker stack deploy` over an SSH Docker context with the
environment's key and pinned known_hosts, waits for the app service's UpdateStatus, smoke-tests through
the proxy (asking Swarm to roll back when that fails), and records the GitHub deployment. Only the
standard library and the `docker` CLI.
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

from ..errors import CheckFailed, PipelineError
from ..serving import smoke
from . import actions
from .comment import DEFAULT_API, GitHub
from .report import run_links

SLUG = "{{ cookiecutter.project_slug }}"
TARGET = "{{ cookiecutter.deploy_target }}"
STACK_FILE = "deploy/stack.yml"
# Each target's required settings: the GitHub Environment's variables and secrets (docs/deploy.md).
REQUIRED = {"swarm": ("DEPLOY_HOST", "DEPLOY_USER", "DEPLOY_KNOWN_HOSTS", "DEPLOY_SSH_KEY"),
            "kubernetes": ("DEPLOY_KUBECONFIG",)}
CONFIGS = {"NGINX_CONFIG": "deploy/nginx.conf", "PROMETHEUS_CONFIG": "monitoring/prometheus.yml",
           "ALERTS_CONFIG": "monitoring/alerts.yml"}
VERSION_LABEL = "deploy.model-version"
WAIT = 600  # seconds for Swarm to converge (DEPLOY_TIMEOUT)
COMMAND_TIMEOUT = 300
DESCRIPTION_LIMIT = 140  # GitHub's limit for a deployment status description


def name(environment: str) -> str:
    """The stack (or namespace) of an environment."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", environment):
        raise PipelineError(f"--environment {environment!r}: expected letters, digits, - and _")
    return re.sub(r"[^a-z0-9-]+", "-", f"{SLUG}-{environment.lower()}")


def check_settings(environment: str, env: dict, target: str = TARGET) -> list[str]:
    """The required settings that are missing. Nothing set at all is a skip, unless DEPLOY_REQUIRED is
    true; a partly configured environment is an error (PipelineError naming what is missing)."""
    missing = [key for key in REQUIRED[target] if not (env.get(key) or "").strip()]
    if missing and (len(missing) < len(REQUIRED[target]) or env.get("DEPLOY_REQUIRED", "").lower() == "true"):
        raise PipelineError(f"deploy to {environment}: {', '.join(missing)} not set, and the environment "
                            f"{'is partly configured' if len(missing) < len(REQUIRED[target]) else 'has DEPLOY_REQUIRED=true'}"
                            "; set them (docs/deploy.md, 'Settings')")
    return missing


def settings_summary(environment: str, missing: list[str], target: str = TARGET) -> str:
    if not missing:
        return f"### Deploy to {environment}: settings found, deploying"
    return (f"### Deploy to {environment}: skipped\n\nNot configured: {', '.join(missing)} not set. Set the "
            f"{environment} environment's {', '.join(REQUIRED[target])} (docs/deploy.md, 'Settings'); set "
            "DEPLOY_REQUIRED=true there to make a missing setting fail instead.")


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
    for key_name, variable in (("DEPLOY_PROXY_IMAGE", "PROXY_IMAGE"), ("DEPLOY_PROMETHEUS_IMAGE", "PROMETHEUS_IMAGE")):
        if value := (env.get(key_name) or "").strip():
            if any(c.isspace() for c in value):
                raise PipelineError(f"{key_name}={value!r}: expected an image reference")
            variables[variable] = value
    for variable, path in CONFIGS.items():  # a config's name changes with its content (Swarm configs are immutable)
        if not (root / path).is_file():
            raise PipelineError(f"{path}: not found; run `deploy` from the project root")
        variables[variable] = f"{stack}-{Path(path).stem}-{hashlib.sha256((root / path).read_bytes()).hexdigest()[:12]}"
    return Settings(environment, stack, host, user, _number(env, "DEPLOY_SSH_PORT", 22, 1, 65535),
                    env["DEPLOY_KNOWN_HOSTS"].replace("\r\n", "\n").strip() + "\n", key, variables, url,
                    _number(env, "DEPLOY_TIMEOUT", WAIT, 30, 7200))


class Swarm:
    """The environment's Swarm manager through an SSH Docker context (`with Swarm(settings) as swarm:`).

    The context lives in a private DOCKER_CONFIG (with a copy of the registry login) and `ssh` on PATH
    is a wrapper giving our key and the pinned known_hosts only, with one shared connection. All of it,
    key included, is removed on exit.
    """

    def __init__(self, settings: Settings):
        self.settings, self.dir, self.env = settings, None, {}
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
            if subprocess.run([keygen, "-F", entry, "-f", str(folder / "known_hosts")], capture_output=True).returncode:
                raise PipelineError(f"DEPLOY_KNOWN_HOSTS has no key for {entry}: add the line "
                                    f"`ssh-keyscan -p {s.ssh_port} {s.host}` prints, after checking its fingerprint")
            (folder / "ssh_config").write_text(
                f"Host *\n  IdentityFile {folder}/key\n  IdentitiesOnly yes\n  UserKnownHostsFile {folder}/known_hosts\n"
                "  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n  UpdateHostKeys no\n  BatchMode yes\n"
                "  ConnectTimeout 20\n  ServerAliveInterval 15\n  LogLevel ERROR\n"
                f"  ControlMaster auto\n  ControlPath {folder}/mux-%C\n  ControlPersist 300\n")
            (folder / "bin").mkdir()
            (folder / "bin/ssh").write_text(f'#!/bin/sh\nexec "{ssh}" -F "{folder}/ssh_config" "$@"\n')
            (folder / "bin/ssh").chmod(0o700)
            login = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "config.json"
            if login.is_file():  # the registry login (docker/login-action) goes with --with-registry-auth
                shutil.copy(login, folder / "config.json")
            env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY")}
            self.env = {**env, "PATH": f"{folder}/bin{os.pathsep}{env.get('PATH', '')}", "DOCKER_CONFIG": str(folder)}
            self.docker("context", "create", s.stack, "--docker", f"host=ssh://{s.user}@{s.host}:{s.ssh_port}")
            self.env["DOCKER_CONTEXT"] = s.stack
            if self.docker("info", "--format", "json").get("Swarm", {}).get("ControlAvailable") is not True:
                raise PipelineError(f"Docker on {self.where} is not a Swarm manager: run `docker swarm init` there "
                                    "once (docs/deploy.md, 'The hosts')")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.dir is not None:
            s = self.settings
            subprocess.run([str(self.dir / "bin/ssh"), "-O", "exit", "-p", str(s.ssh_port), f"{s.user}@{s.host}"],
                           capture_output=True, timeout=30)
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def docker(self, *args: str, check: bool = True, variables: dict | None = None, timeout: float = COMMAND_TIMEOUT):
        """`docker ARGS` against the manager: parsed JSON when it printed JSON, else the CompletedProcess."""
        try:
            result = subprocess.run(["docker", *args], env={**self.env, **(variables or {})}, capture_output=True,
                                    text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise PipelineError(f"docker {' '.join(args[:2])} on {self.where}: no answer in {timeout:.0f} s") from None
        if check and result.returncode != 0:
            raise PipelineError(f"docker {' '.join(args[:2])} on {self.where} failed: "
                                f"{' '.join(result.stderr.split())[-600:] or 'no output'}")
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


def failures(tasks: list[dict], limit: int = 3) -> str:
    """The last task errors, such as a failed health check or an exit code."""
    failed = sorted((t for t in tasks if (t.get("Status") or {}).get("Err")), key=lambda t: t["Status"]["Timestamp"])
    return "; ".join(f"{t['Spec']['ContainerSpec']['Image'].split('@')[0]}: {t['Status']['Err']}"
                     for t in failed[-limit:]) or "no task error recorded"


def converge(swarm: Swarm, app: str, before: dict, image: str, timeout: float) -> None:
    """Wait until every replica runs the service's spec, healthy; CheckFailed when Swarm rolled back or paused."""
    deadline, started = time.monotonic() + timeout, (before.get("UpdateStatus") or {}).get("StartedAt")
    while True:
        service = swarm.service(app)
        status = service.get("UpdateStatus") or {}
        state = status.get("State") if status.get("StartedAt") != started else None
        if state in ("rollback_completed", "rollback_paused", "paused") or (image and not image_of(service).startswith(image)):
            raise CheckFailed(f"Swarm rolled the update back ({state or 'spec reverted'}: {status.get('Message', '')}); "
                              f"{failures(swarm.tasks(app))}")
        spec = service["Spec"]["TaskTemplate"]["ContainerSpec"]
        running = [t for t in swarm.tasks(app) if t["DesiredState"] == "running" and t["Status"]["State"] == "running"
                   and t["Spec"]["ContainerSpec"] == spec]
        wanted = service["Spec"]["Mode"].get("Replicated", {}).get("Replicas", 0)
        if state in (None, "completed", "rollback_completed") and len(running) == wanted:
            return
        if time.monotonic() > deadline:
            raise CheckFailed(f"{app}: {len(running)} of {wanted} replicas healthy after {timeout:.0f} s "
                              f"(update {state or 'not started'}); {failures(swarm.tasks(app))}")
        time.sleep(2)


def roll_out(swarm: Swarm, image: str, version: int | None, settings: Settings) -> dict:
    """`docker stack deploy`, convergence and the smoke test through the proxy (the module docstring)."""
    s, app = settings, f"{settings.stack}_app"
    before = swarm.service(app)
    previous = {"image": image_of(before), "version": before["Spec"].get("Labels", {}).get(VERSION_LABEL)} \
        if before else None
    print(f"{s.environment}: stack {s.stack} on {swarm.where} runs {previous['image'] if previous else 'nothing yet'};"
          f" deploying {image} x{s.variables['APP_REPLICAS']}", flush=True)
    variables = {**s.variables, "APP_IMAGE": image, "APP_VERSION": "" if version is None else str(version)}
    started = time.monotonic()
    swarm.docker("stack", "deploy", "--with-registry-auth", "--detach=true", "--prune", "--resolve-image",
                 os.environ.get("DEPLOY_RESOLVE_IMAGE", "always"), "--compose-file", STACK_FILE, s.stack,
                 variables=variables)
    converge(swarm, app, before, image, s.timeout)
    converged = time.monotonic() - started
    checks = [f"{s.variables['APP_REPLICAS']} replicas healthy in {converged:.0f} s"]
    try:
        command = ["run", "--rm", "--network", f"{s.stack}_serving", image, "python", "-m", smoke.__name__,
                   "http://proxy:80", "--wait", "60"] + (["--expect-version", str(version)] if version is not None else [])
        result = swarm.docker(*command, check=False)
        if result.returncode != 0:
            raise CheckFailed(" ".join((result.stderr or result.stdout).split()).removeprefix("error: ")[-400:])
        version = json.loads(result.stdout.strip().splitlines()[-1]).get("model_version") if version is None else version
        checks.append(f"through the proxy: /health, model v{version}, one prediction")
        if s.url:
            smoke.run(s.url, 60, version)
            checks.append(f"{s.url}: model v{version}, one prediction")
    except CheckFailed as exc:
        if not previous:
            raise CheckFailed(f"smoke test failed after the first deploy: {exc}; nothing to roll back to") from None
        swarm.docker("service", "rollback", "--detach", app)
        converge(swarm, app, swarm.service(app), "", s.timeout)
        raise CheckFailed(f"smoke test failed after convergence: {exc}; Swarm rolled {app} back to "
                          f"{previous['image']} (model v{previous['version']})") from None
    return {"environment": s.environment, "stack": s.stack, "host": swarm.where, "image": image, "version": version,
            "replicas": int(s.variables["APP_REPLICAS"]), "seconds": round(converged, 1), "previous": previous,
            "url": s.url or f"http://{s.host}:{s.variables['LISTEN_PORT']}", "checks": checks}


class Record:
    """The deploy as a GitHub deployment with its statuses, in GitHub Actions with a token (else nothing)."""

    def __init__(self, environment: str, image: str, version: int | None, env: dict):
        self.env, self.id, self.environment, self.image, self.version = env, None, environment, image, version
        self.active = bool(env.get("GITHUB_ACTIONS") == "true" and env.get("GITHUB_TOKEN") and env.get("GITHUB_SHA"))

    def start(self) -> None:
        if not self.active:
            return
        env = self.env
        self.client = GitHub(env["GITHUB_TOKEN"], env.get("GITHUB_REPOSITORY", ""), env.get("GITHUB_API_URL") or DEFAULT_API)
        created, _ = self.client.request("POST", f"/repos/{self.client.repo}/deployments", {
            "ref": env["GITHUB_SHA"], "environment": self.environment, "task": "deploy", "auto_merge": False,
            "required_contexts": [], "production_environment": self.environment == "production",
            "description": _cut(f"{self.image} (model v{self.version})" if self.version is not None else self.image),
            "payload": {"image": self.image, "model_version": self.version}})
        self.id = created.get("id") if isinstance(created, dict) else None
        if not self.id:
            raise PipelineError(f"GitHub API POST /repos/{self.client.repo}/deployments: no deployment id returned")
        self.status("in_progress", f"{TARGET} rollout started")

    def status(self, state: str, description: str, url: str = "") -> None:
        if self.id:
            body = {"state": state, "description": _cut(description), "auto_inactive": state == "success",
                    **({"log_url": links["run"]} if (links := run_links(self.env)) else {}),
                    **({"environment_url": url} if url else {})}
            self.client.request("POST", f"/repos/{self.client.repo}/deployments/{self.id}/statuses", body)


def _cut(text: str) -> str:
    return text if len(text) <= DESCRIPTION_LIMIT else text[: DESCRIPTION_LIMIT - 1] + "…"


def summary(result: dict) -> str:
    """What runs where after a deploy, as Markdown for the job summary."""
    if result["action"] == "failed":
        return f"### Deploy to {result['environment']}: failed\n\n{result['reason']}"
    previous = result["previous"]
    rows = [("where", f"`{result['stack']}` on `{result['host']}`"), ("serving", f"`{result['image']}`, model "
            f"v{result['version']}, {result['replicas']} replica(s)"), ("address", result["url"]),
            ("previous", f"`{previous['image']}`, model v{previous['version']}" if previous else "none (first deploy)")]
    rows += [("checked", check) for check in result["checks"]]
    rows += [("GitHub deployment", f"#{result['deployment']}")] if result.get("deployment") else []
    table = "\n".join(f"| {key} | {value} |" for key, value in rows)
    return f"### Deploy to {result['environment']}: model v{result['version']} is live\n\n| | |\n|---|---|\n{table}"


def run(environment: str, image: str, version: int | None, env: dict | None = None, rollout=None) -> dict:
    """The `deploy` command: deploy, record and summarise; CheckFailed or PipelineError when it failed
    (after recording the failure). `rollout(settings_env)` replaces the Swarm rollout (kube.py)."""
    env = os.environ if env is None else env
    if not image or any(c.isspace() for c in image):
        raise PipelineError(f"--image {image!r}: expected an image reference such as ghcr.io/owner/name:tag")
    if missing := check_settings(environment, env):
        raise PipelineError(f"deploy to {environment}: {', '.join(missing)} not set (the workflow's settings job "
                            "skips the deploy then: run `deploy-settings` first)")
    record = Record(environment, image, version, env)
    try:
        record.start()
        if rollout:
            result = rollout(environment, image, version, env)
        else:
            settings = read_settings(environment, env)
            with Swarm(settings) as swarm:
                result = roll_out(swarm, image, version, settings)
    except PipelineError as exc:
        record.status("failure", str(exc))
        actions.add_summary(summary({"action": "failed", "environment": environment, "reason": str(exc)}), env)
        raise
    record.status("success", f"model v{result['version']} live ({result['replicas']} replicas)", result["url"])
    result = {"action": "deployed", **result, "deployment": record.id}
    actions.add_summary(summary(result), env)
    return result
