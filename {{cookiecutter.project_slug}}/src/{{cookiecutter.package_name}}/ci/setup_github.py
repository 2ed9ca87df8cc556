"""`setup-github`: configure the GitHub repository for this project's level, through the REST API.

A dry run by default: it reads the repository's settings, prints the plan (what it would create or
change, and what is already right), then what is still missing. `--apply` makes the changes. A second
run changes nothing. Secret values come from environment variables of the same name (prefixed with the
environment, e.g. PRODUCTION_DEPLOY_SSH_KEY) or, with --apply at a terminal, a hidden prompt; they are
never printed, and an existing secret is kept unless --replace-secrets.
"""

from __future__ import annotations

import getpass
import os
import re
import subprocess
import sys
from dataclasses import dataclass

from ..errors import PipelineError
from .github import GitHub, GitHubError

LEVEL = int("{{ cookiecutter.mlops_level }}")
DEPLOYS = LEVEL >= 2 and "{{ cookiecutter.deploy_target }}" != "none"
ADMIN_NEEDED = ("the token cannot change {repo}'s settings: it needs admin rights on the repository (a classic "
                "token with the `repo` scope, or a fine-grained token with Administration, Environments, "
                "Secrets and Variables: read and write). Run it as a repository admin")


@dataclass(frozen=True)
class Setting:
    kind: str  # "variable" or "secret"
    name: str
    environment: str | None  # None: the repository's
    required: bool
    why: str

    @property
    def where(self) -> str:
        return f"environment {self.environment}" if self.environment else "repository"

    @property
    def source(self) -> str:
        """The local environment variable its value is read from."""
        return f"{self.environment.upper()}_{self.name}" if self.environment else self.name


def environments() -> list[str]:
    names = ["training", "promotion"]  # promotion: the jobs that open pull requests (template updates at level 0)
    if LEVEL >= 2:
        names.append("registry")
    if DEPLOYS:
        names += ["staging", "production"]
    return names


def settings() -> list[Setting]:
    """Every variable and secret the workflows read at this level: README, "GitHub setup", in data."""
    found = [
        Setting("variable", "MLFLOW_TRACKING_URI", None, False, "a shared tracking server (docs/tracking.md)"),
        Setting("variable", "TRAINING_RUNNER", None, False, "a bigger runner's label for the training jobs"),
        Setting("variable", "BASE_IMAGE", None, False, "the serving image's base, pinned by digest"),
    ]
    found.append(Setting("secret", "PROMOTION_TOKEN", "promotion", False,
                         "CI runs on the pull requests workflows open only when they are opened with this token"))
    if LEVEL >= 2:
        found += [Setting("variable", "ATTEST_PROVENANCE", None, False, "`true` on private Enterprise Cloud repos"),
                  Setting("variable", "REGISTRY_USERNAME", "registry", False, "only for a registry other than ghcr.io"),
                  Setting("secret", "REGISTRY_PASSWORD", "registry", False, "only for a registry other than ghcr.io")]
    if DEPLOYS:
        for environment in ("staging", "production"):
{%- if cookiecutter.deploy_target == 'kubernetes' %}
            found.append(Setting("secret", "DEPLOY_KUBECONFIG", environment, True,
                                 "kubectl apply -k of the environment's overlay (docs/deploy.md)"))
{%- else %}
            found += [Setting("variable", name, environment, True, "where deploy-env.yml deploys (docs/deploy.md)")
                      for name in ("DEPLOY_HOST", "DEPLOY_USER", "DEPLOY_KNOWN_HOSTS")]
            found.append(Setting("secret", "DEPLOY_SSH_KEY", environment, True, "SSH to the Swarm manager"))
{%- endif %}
    return found


def origin_repo(cwd: str | None = None) -> str:
    """owner/name from the `origin` remote's GitHub URL."""
    try:
        url = subprocess.run(["git", "remote", "get-url", "origin"], capture_output=True, text=True, cwd=cwd,
                             check=False).stdout.strip()
    except FileNotFoundError:
        url = ""
    match = re.search(r"github\.com[:/]([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?)(?:\.git)?/?$", url)
    if not match:
        raise PipelineError("no GitHub repository: pass --repo OWNER/NAME, or add the GitHub remote "
                            "(`git remote add origin git@github.com:OWNER/NAME.git`)")
    return match.group(1)


class Plan:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.changes = 0

    def ok(self, what: str) -> None:
        self.lines.append(f"  ok       {what}")

    def change(self, verb: str, what: str) -> None:
        self.changes += 1
        self.lines.append(f"  {verb:<8} {what}")


def run(*, repo: str | None = None, apply: bool = False, reviewers: list[str] | None = None,
        replace_secrets: bool = False, env: dict | None = None, prompt=None, out=None) -> dict:
    """Plan, and with apply make, the changes; returns {"changes", "missing", "lines"}."""
    env = os.environ if env is None else env
    out = out or sys.stdout
    repo = repo or env.get("GITHUB_REPOSITORY") or origin_repo()
    client = GitHub(env.get("GITHUB_TOKEN", "") or env.get("GH_TOKEN", ""), repo, env.get("GITHUB_API_URL"),
                    purpose="a token of a repository admin (GITHUB_TOKEN or GH_TOKEN)")
    if prompt is None and apply and sys.stdin.isatty():
        prompt = getpass.getpass
    try:
        info = client.repository()
        if not (info.get("permissions") or {}).get("admin"):
            raise PipelineError(ADMIN_NEEDED.format(repo=repo))
        plan = Plan()
        _environments(client, plan, apply, reviewers, info)
        _workflow_permissions(client, plan, apply)
        missing = _settings(client, plan, apply, replace_secrets, env, prompt)
    except GitHubError as exc:
        if exc.status == 403:
            raise PipelineError(f"{ADMIN_NEEDED.format(repo=repo)} ({exc})") from None
        raise
    mode = "applied" if apply else "dry run: nothing changed"
    print(f"setup-github for {repo} (MLOps level {LEVEL}), {mode}:", file=out)
    for line in plan.lines:
        print(line, file=out)
    if missing:
        print(f"Still missing (required at level {LEVEL}):", file=out)
        for setting in missing:
            print(f"  - {setting.kind} {setting.name} in {setting.where}: {setting.why}; set it, or export "
                  f"{setting.source} and run `setup-github --apply` again", file=out)
    else:
        print("Nothing required is missing.", file=out)
    if not apply and plan.changes:
        print(f"{plan.changes} change(s) planned: run `setup-github --apply` to make them.", file=out)
    return {"changes": plan.changes, "missing": [f"{s.kind} {s.name} ({s.where})" for s in missing],
            "lines": plan.lines}


def _reviewer_ids(client: GitHub, logins: list[str]) -> list[dict]:
    found = []
    for login in logins:
        user = client.user(login)
        if not user or not isinstance(user.get("id"), int):
            raise PipelineError(f"--reviewer {login}: no such GitHub user")
        found.append({"type": "User", "id": user["id"]})
    return found


def _environments(client: GitHub, plan: Plan, apply: bool, reviewers: list[str] | None, info: dict) -> None:
    owner = info.get("owner") or {}
    logins = reviewers if reviewers else ([owner["login"]] if owner.get("type") == "User" and owner.get("login")
                                          else [])
    for name in environments():
        current = client.environment(name)
        wanted: dict = {}
        if name == "production" and logins:
            wanted = {"reviewers": _reviewer_ids(client, logins), "prevent_self_review": False}
        have = {rule.get("type") for rule in (current or {}).get("protection_rules", [])}
        if current is not None and (not wanted or "required_reviewers" in have):
            plan.ok(f"environment {name}" + (" (required reviewers)" if "required_reviewers" in have else ""))
            continue
        label = f"environment {name}" + (f" (required reviewers: {', '.join(logins)})" if wanted else "")
        plan.change("create" if current is None else "protect", label)
        if apply:
            client.put_environment(name, wanted)
    if DEPLOYS and not logins:
        plan.lines.append("  note     production has no required reviewers: pass --reviewer LOGIN (an organisation "
                          "repo has no single owner to default to)")


def _workflow_permissions(client: GitHub, plan: Plan, apply: bool) -> None:
    current = client.workflow_permissions()
    what = ("Actions may create pull requests (template updates" + (", the promotion pull request" if LEVEL >= 1
                                                                     else "") + ")")
    if current.get("can_approve_pull_request_reviews"):
        plan.ok(what)
        return
    plan.change("allow", what)
    if apply:
        client.set_workflow_permissions(current.get("default_workflow_permissions") or "read", True)


def _settings(client: GitHub, plan: Plan, apply: bool, replace_secrets: bool, env, prompt) -> list[Setting]:
    missing = []
    variables: dict[str | None, dict[str, str]] = {}
    secrets: dict[str | None, set[str]] = {}
    for setting in settings():
        scope = setting.environment
        known = scope in variables if setting.kind == "variable" else scope in secrets
        # An environment this dry run would create has nothing in it yet.
        present = known or scope is None or client.environment(scope) is not None
        if setting.kind == "variable":
            if scope not in variables:
                variables[scope] = client.variables(scope) if present else {}
            current = variables[scope].get(setting.name)
            value = env.get(setting.source)
            if value is not None and value != current:
                plan.change("update" if current is not None else "create",
                            f"variable {setting.name} = {value!r} ({setting.where})")
                if apply:
                    client.set_variable(setting.name, value, scope, exists=current is not None)
                current = value
            elif current is not None:
                plan.ok(f"variable {setting.name} ({setting.where})")
        else:
            if scope not in secrets:
                secrets[scope] = client.secret_names(scope) if present else set()
            current = setting.name if setting.name in secrets[scope] else None
            if current is not None and not replace_secrets:
                plan.ok(f"secret {setting.name} ({setting.where})")
                continue
            value = env.get(setting.source)
            if value is None and apply and prompt is not None:
                value = prompt(f"{setting.name} for {setting.where} ({setting.why}; empty to skip): ") or None
            if value:
                plan.change("replace" if current else "set", f"secret {setting.name} ({setting.where}), value hidden")
                if apply:
                    client.set_secret(setting.name, value, scope)
                current = setting.name
        if current is None and setting.required:
            missing.append(setting)
    return missing
