"""The `deploy-settings` and `deploy` commands (docs/deploy.md): which environments are configured,
and around the orchestrator's rollout (swarm.py, kube.py), the GitHub deployment and the job summary.

The rollout and the rollback are the orchestrator's; the rollout modules only render, apply, wait,
smoke-test and ask for a rollback. Only the standard library.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

from .. import reporting
from ..errors import PipelineError
from . import actions
from .github import GitHub
from .markdown import run_links

SLUG = "{{ cookiecutter.project_slug }}"
TARGET = "{{ cookiecutter.deploy_target }}"
# Each target's required settings: the GitHub Environment's variables and secrets (docs/deploy.md).
REQUIRED = {"swarm": ("DEPLOY_HOST", "DEPLOY_USER", "DEPLOY_KNOWN_HOSTS", "DEPLOY_SSH_KEY"),
            "kubernetes": ("DEPLOY_KUBECONFIG",)}
WAIT = 600  # seconds for the orchestrator to converge (DEPLOY_TIMEOUT)
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
    partly = len(missing) < len(REQUIRED[target])
    if missing and (partly or env.get("DEPLOY_REQUIRED", "").lower() == "true"):
        why = "is partly configured" if partly else "has DEPLOY_REQUIRED=true"
        raise PipelineError(f"deploy to {environment}: {', '.join(missing)} not set, and the environment {why}; "
                            "set them (docs/deploy.md, 'Settings')")
    return missing


def settings_summary(environment: str, missing: list[str], target: str = TARGET) -> str:
    """The settings job's summary: deploying, or skipped and what to set (templates/deploy_settings.md.j2)."""
    return reporting.render("deploy_settings.md", environment=environment, missing=missing, required=REQUIRED[target])


class Record:
    """The deploy as a GitHub deployment with its statuses, in GitHub Actions with a token (else nothing)."""

    def __init__(self, environment: str, image: str, version: int | None, env: dict):
        self.env, self.id, self.environment, self.image, self.version = env, None, environment, image, version
        self.active = bool(env.get("GITHUB_ACTIONS") == "true" and env.get("GITHUB_TOKEN") and env.get("GITHUB_SHA"))

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
        self.status("in_progress", f"{TARGET} rollout started")

    def status(self, state: str, description: str, url: str = "") -> None:
        if self.id:
            body = {"state": state, "description": _cut(description), "auto_inactive": state == "success",
                    **({"log_url": links["run"]} if (links := run_links(self.env)) else {}),
                    **({"environment_url": url} if url else {})}
            self.client.deployment_status(self.id, **body)


def _cut(text: str) -> str:
    return text if len(text) <= DESCRIPTION_LIMIT else text[: DESCRIPTION_LIMIT - 1] + "…"


def summary(result: dict) -> str:
    """What runs where after a deploy, or why it failed, for the job summary (templates/deploy.md.j2)."""
    return reporting.render("deploy.md", result=result)


def run(environment: str, image: str, version: int | None, rollout: Callable[..., dict],
        env: dict | None = None) -> dict:
    """The `deploy` command: `rollout(environment, image, version, env)` (swarm.py or kube.py), recorded and
    summarised; CheckFailed or PipelineError when it failed (after recording the failure)."""
    env = os.environ if env is None else env
    if not image or any(c.isspace() for c in image):
        raise PipelineError(f"--image {image!r}: expected an image reference such as ghcr.io/owner/name:tag")
    if missing := check_settings(environment, env):
        raise PipelineError(f"deploy to {environment}: {', '.join(missing)} not set (the workflow's settings job "
                            "skips the deploy then: run `deploy-settings` first)")
    record = Record(environment, image, version, env)
    try:
        record.start()
        result = rollout(environment, image, version, env)
    except PipelineError as exc:
        record.status("failure", str(exc))
        actions.add_summary(summary({"action": "failed", "environment": environment, "reason": str(exc)}), env)
        raise
    record.status("success", f"model v{result['version']} live ({result['replicas']} replicas)", result["url"])
    result = {"action": "deployed", **result, "deployment": record.id}
    actions.add_summary(summary(result), env)
    return result
