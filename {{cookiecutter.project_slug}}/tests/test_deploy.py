"""The `deploy` command without a host: settings, the clean skip, the proxy's upstream file, the job
summary and the GitHub deployment records (against a loopback stand-in of the REST API).

The deploy itself, over SSH to a real Docker engine with requests counted through the switch, is
tested by the template (tests/test_deploy.py there): it needs an sshd and Docker.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from github_stub import GitHubStub
from test_ci import PARAMS, REPO, TOKEN

from {{ cookiecutter.package_name }}.ci import deploy
from {{ cookiecutter.package_name }}.errors import PipelineError

ROOT = Path(__file__).resolve().parents[1]
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----"
SETTINGS = {"DEPLOY_HOST": "deploy.example.com", "DEPLOY_USER": "deploy", "DEPLOY_SSH_KEY": KEY,
            "DEPLOY_KNOWN_HOSTS": "deploy.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA"}


def test_missing_settings_are_named_and_the_deploy_skips(tmp_path):
    summary = tmp_path / "summary.md"
    env = {"DEPLOY_HOST": "deploy.example.com", "DEPLOY_USER": " ", "GITHUB_STEP_SUMMARY": str(summary)}
    result = deploy.run("staging", "ghcr.io/acme/demo:model-v2", 2, env=env)
    assert result["action"] == "skipped" and result["missing"] == ["DEPLOY_USER", "DEPLOY_KNOWN_HOSTS",
                                                                   "DEPLOY_SSH_KEY"]
    assert "DEPLOY_USER, DEPLOY_KNOWN_HOSTS, DEPLOY_SSH_KEY not set" in result["reason"]
    assert summary.read_text().startswith("### Deploy to staging: skipped")


def test_the_cli_warns_and_exits_zero_when_skipping():
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DEPLOY_", "GITHUB_"))}
    result = subprocess.run([sys.executable, "-m", "{{ cookiecutter.package_name }}", "--params", PARAMS, "deploy",
                             "--environment", "production", "--image", "ghcr.io/acme/demo:model-v1"],
                            cwd=ROOT, capture_output=True, text=True, env={**clean, "PYTHONPATH": str(ROOT / "src")})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("::warning::deploy to production skipped: DEPLOY_HOST, DEPLOY_USER, "
                                    "DEPLOY_KNOWN_HOSTS, DEPLOY_SSH_KEY not set.")


def test_settings_defaults_and_project_name():
    settings = deploy.read_settings("production", SETTINGS)
    assert settings.project == "{{ cookiecutter.project_slug }}-production"
    assert (settings.ssh_port, settings.listen, settings.ports) == (22, ("0.0.0.0", 80), {"blue": 8001, "green": 8002})
    assert settings.proxy_url == "http://127.0.0.1:80" and settings.soak == 30 and settings.key.endswith("-----\n")
    custom = deploy.read_settings("staging", {**SETTINGS, "DEPLOY_LISTEN": "10.0.0.5:8080",
                                              "DEPLOY_APP_PORTS": "9001, 9002", "DEPLOY_SSH_PORT": "2222"})
    assert custom.proxy_url == "http://10.0.0.5:8080" and custom.ports == {"blue": 9001, "green": 9002}


@pytest.mark.parametrize(("name", "value", "message"), [
    ("DEPLOY_SSH_PORT", "70000", "DEPLOY_SSH_PORT='70000': expected a whole number from 1 to 65535"),
    ("DEPLOY_LISTEN", "80", "DEPLOY_LISTEN='80': expected ADDRESS:PORT"),
    ("DEPLOY_APP_PORTS", "8001,8001", "DEPLOY_APP_PORTS='8001,8001': expected two ports"),
    ("DEPLOY_APP_PORTS", "80,8002", "different from each other and from DEPLOY_LISTEN's"),
    ("DEPLOY_SOAK_SECONDS", "soon", "DEPLOY_SOAK_SECONDS='soon'"),
    ("DEPLOY_URL", "example.com", "DEPLOY_URL='example.com': expected an http(s) URL"),
    ("DEPLOY_HOST", "bad host", "DEPLOY_HOST='bad host'"),
    ("DEPLOY_SSH_KEY", "ssh-ed25519 AAAA", "DEPLOY_SSH_KEY: expected a private key"),
])
def test_bad_settings_are_named(name, value, message):
    with pytest.raises(PipelineError, match=message.replace("(", r"\(").replace(")", r"\)")):
        deploy.read_settings("staging", {**SETTINGS, name: value})


def test_a_bad_image_is_refused():
    with pytest.raises(PipelineError, match="--image 'two words'"):
        deploy.run("staging", "two words", None, env=SETTINGS)


def test_upstream_file_round_trip():
    text = deploy.upstream_conf(8002, 8001)
    assert "server 127.0.0.1:8002;\nserver 127.0.0.1:8001 backup;" in text
    assert deploy.parse_upstream(text) == (8002, 8001)
    assert deploy.parse_upstream(deploy.upstream_conf(8001)) == (8001, None)
    assert deploy.parse_upstream("") == (None, None)


@pytest.mark.skipif(not shutil.which("ssh-keygen") or not shutil.which("docker"), reason="needs ssh-keygen, docker")
def test_a_host_missing_from_known_hosts_is_refused_before_connecting(monkeypatch):
    monkeypatch.chdir(ROOT)
    settings = deploy.read_settings("staging", {**SETTINGS, "DEPLOY_KNOWN_HOSTS": "other.example.com ssh-ed25519 AA"})
    with pytest.raises(PipelineError, match=r"DEPLOY_KNOWN_HOSTS has no key for deploy.example.com"):
        with deploy.Host(settings):
            pass


def test_compose_file_runs_the_proxy_and_two_slots_on_loopback():
    compose = yaml.safe_load((ROOT / "deploy/compose.yml").read_text())
    assert set(compose["services"]) == {"proxy", "blue", "green"}
    for slot in ("blue", "green"):
        service = compose["services"][slot]
        assert service["environment"]["UVICORN_HOST"] == "127.0.0.1" and service["read_only"] is True
        assert service["labels"] == {deploy.VERSION_LABEL: "${APP_VERSION:-}"}
    assert "@sha256:" in compose["services"]["proxy"]["image"]  # pinned by digest
    assert "include /etc/nginx/live.conf;" in compose["configs"]["nginx"]["content"]
    assert deploy.parse_upstream(compose["configs"]["live"]["content"].replace("${LIVE_PORT:-8001}", "8001")) == (
        8001, None)


def test_summary_says_what_runs_where():
    text = deploy.summary({"action": "deployed", "environment": "production", "host": "deploy@h:22", "docker": "27.1",
                           "slot": "green", "image": "img:model-v2", "version": 2, "url": "https://example.com",
                           "previous": {"slot": "blue", "image": "img:model-v1", "version": 1},
                           "checks": ["green itself"], "deployment": 7})
    assert text.startswith("### Deploy to production: model v2 is live")
    assert "| live | green: `img:model-v2`, model v2 |" in text
    assert "| previous | blue: `img:model-v1`, model v1, stopped |" in text and "| GitHub deployment | #7 |" in text


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
