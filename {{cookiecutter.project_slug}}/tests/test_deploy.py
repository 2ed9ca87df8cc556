"""The `deploy-settings` and `deploy` commands without an orchestrator: the settings rule, the rendered
deploy files, the job summary and the GitHub deployment records (against a loopback stand-in of the
REST API).

The rollouts themselves run in the template's tests: against a real one-node Docker Swarm over SSH
(tests/test_deploy.py there), and, for Kubernetes, the overlays built and validated offline.
"""

from __future__ import annotations

import os
{%- if cookiecutter.deploy_target == 'swarm' %}
import shutil
{%- endif %}
import subprocess
import sys
from pathlib import Path

import pytest
{%- if cookiecutter.deploy_target == 'swarm' %}
import yaml
{%- endif %}
from github_stub import GitHubStub
from test_ci import PARAMS, REPO, TOKEN

from {{ cookiecutter.package_name }}.ci import deploy{% if cookiecutter.deploy_target == 'swarm' %}, swarm{% endif %}
from {{ cookiecutter.package_name }}.errors import PipelineError

ROOT = Path(__file__).resolve().parents[1]
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----"
{%- if cookiecutter.deploy_target == 'kubernetes' %}
SETTINGS = {"DEPLOY_KUBECONFIG": "apiVersion: v1\nkind: Config\n"}
{%- else %}
SETTINGS = {"DEPLOY_HOST": "deploy.example.com", "DEPLOY_USER": "deploy", "DEPLOY_SSH_KEY": KEY,
            "DEPLOY_KNOWN_HOSTS": "deploy.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA"}
{%- endif %}


def test_no_settings_skip_some_settings_fail():
    """None set: a skip (the workflow's deploy job is then grey). Some set, or DEPLOY_REQUIRED=true: an error."""
    assert deploy.check_settings("staging", {}) == list(deploy.REQUIRED[deploy.TARGET])
    assert deploy.check_settings("staging", SETTINGS) == []
    if len(SETTINGS) > 1:
        with pytest.raises(PipelineError, match="DEPLOY_SSH_KEY not set, and the environment is partly configured"):
            deploy.check_settings("staging", {k: v for k, v in SETTINGS.items() if k != "DEPLOY_SSH_KEY"})
    with pytest.raises(PipelineError, match="has DEPLOY_REQUIRED=true"):
        deploy.check_settings("production", {"DEPLOY_REQUIRED": "true"})
    assert deploy.settings_summary("staging", list(SETTINGS)).startswith("### Deploy to staging: skipped")


def test_the_settings_command_sets_the_step_output(tmp_path):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DEPLOY_", "GITHUB_"))}
    for settings, ready in (({}, "false"), (SETTINGS, "true")):
        output = tmp_path / f"output-{ready}"
        result = subprocess.run([sys.executable, "-m", "{{ cookiecutter.package_name }}", "--params", PARAMS,
                                 "deploy-settings", "--environment", "production"], cwd=ROOT, capture_output=True,
                                text=True, env={**clean, **settings, "PYTHONPATH": str(ROOT / "src"),
                                                "GITHUB_OUTPUT": str(output)})
        assert result.returncode == 0, result.stderr
        assert output.read_text() == f"ready={ready}\n"


def test_a_bad_image_is_refused():
    with pytest.raises(PipelineError, match="--image 'two words'"):
        deploy.run("staging", "two words", None, print, env=SETTINGS)
{%- if cookiecutter.deploy_target == 'swarm' %}


def test_settings_render_the_stack_variables(monkeypatch):
    monkeypatch.chdir(ROOT)
    settings = swarm.read_settings("production", {**SETTINGS, "DEPLOY_REPLICAS": "3"})
    assert settings.stack == "{{ cookiecutter.project_slug }}-production" and settings.ssh_port == 22
    assert settings.variables["APP_REPLICAS"] == "3" and settings.variables["LISTEN_PORT"] == "80"
    # Swarm configs are immutable: their names follow their content.
    assert settings.variables["NGINX_CONFIG"].startswith("{{ cookiecutter.project_slug }}-production-nginx-")
    assert settings.key.endswith("-----\n")


@pytest.mark.parametrize(("name", "value", "message"), [
    ("DEPLOY_SSH_PORT", "70000", "DEPLOY_SSH_PORT='70000': expected a whole number from 1 to 65535"),
    ("DEPLOY_REPLICAS", "0", "DEPLOY_REPLICAS='0': expected a whole number from 1 to 100"),
    ("DEPLOY_URL", "example.com", "DEPLOY_URL='example.com': expected an http(s) URL"),
    ("DEPLOY_HOST", "bad host", "DEPLOY_HOST='bad host'"),
    ("DEPLOY_PROXY_IMAGE", "nginx latest", "DEPLOY_PROXY_IMAGE='nginx latest'"),
    ("DEPLOY_SSH_KEY", "ssh-ed25519 AAAA", "DEPLOY_SSH_KEY: expected a private key"),
])
def test_bad_settings_are_named(monkeypatch, name, value, message):
    monkeypatch.chdir(ROOT)
    with pytest.raises(PipelineError, match=message.replace("(", r"\(").replace(")", r"\)")):
        swarm.read_settings("staging", {**SETTINGS, name: value})


@pytest.mark.skipif(not shutil.which("ssh-keygen") or not shutil.which("docker"), reason="needs ssh-keygen, docker")
def test_a_host_missing_from_known_hosts_is_refused_before_connecting(monkeypatch):
    monkeypatch.chdir(ROOT)
    settings = swarm.read_settings("staging", {**SETTINGS, "DEPLOY_KNOWN_HOSTS": "other.example.com ssh-ed25519 AA"})
    with pytest.raises(PipelineError, match=r"DEPLOY_KNOWN_HOSTS has no key for deploy.example.com"):
        with swarm.Swarm(settings):
            pass


def test_the_stack_rolls_out_start_first_and_rolls_back_by_itself():
    stack = yaml.safe_load((ROOT / "deploy/stack.yml").read_text())
    app = stack["services"]["app"]
    assert app["deploy"]["update_config"]["order"] == "start-first"
    assert app["deploy"]["update_config"]["failure_action"] == "rollback"
    assert app["deploy"]["update_config"]["parallelism"] == 1 and app["deploy"]["endpoint_mode"] == "dnsrr"
    assert app["deploy"]["replicas"] == "${APP_REPLICAS:-2}" and "capture:/var/lib/capture" in app["volumes"]
    assert all("@sha256:" in stack["services"][name]["image"] for name in ("proxy", "prometheus"))  # pinned
    assert "resolver 127.0.0.11" in (ROOT / "deploy/nginx.conf").read_text()
{%- endif %}


def test_summary_says_what_runs_where():
    text = deploy.summary({"action": "deployed", "environment": "production", "stack": "demo-production",
                           "host": "deploy@h:22", "image": "img:model-v2", "version": 2, "replicas": 2,
                           "url": "https://example.com", "previous": {"image": "img:model-v1", "version": 1},
                           "checks": ["2 replicas healthy in 30 s"], "deployment": 7})
    assert text.startswith("### Deploy to production: model v2 is live")
    assert "| serving | `img:model-v2`, model v2, 2 replica(s) |" in text
    assert "| previous | `img:model-v1`, model v1 |" in text and "| GitHub deployment | #7 |" in text


def test_the_deployment_and_its_statuses_are_recorded():
    with GitHubStub(repo=REPO, token=TOKEN, prs=()) as stub:  # the tests' one fake GitHub API
        env = {**stub.env(), "GITHUB_ACTIONS": "true", "GITHUB_SHA": "abc123", "GITHUB_SERVER_URL": "https://github.com",
               "GITHUB_RUN_ID": "9"}
        record = deploy.Record("production", "img:model-v2", 2, env)
        record.start()
        record.status("failure", "x" * 200)
    (created,) = stub.state["deployments"]
    assert [r["path"] for r in stub.requests] == [f"/repos/{REPO}/deployments"] + [
        f"/repos/{REPO}/deployments/{created['id']}/statuses"] * 2
    started, failed = created["statuses"]
    assert created["ref"] == "abc123" and created["environment"] == "production"
    assert created["payload"] == {"image": "img:model-v2", "model_version": 2} and created["required_contexts"] == []
    assert started["state"] == "in_progress" and started["log_url"] == f"https://github.com/{REPO}/actions/runs/9"
    assert failed["state"] == "failure" and len(failed["description"]) == 140


def test_nothing_is_recorded_outside_github_actions():
    record = deploy.Record("production", "img", 1, {"GITHUB_TOKEN": TOKEN, "GITHUB_SHA": "abc"})
    record.start()
    record.status("success", "ok")
    assert record.active is False and record.id is None
