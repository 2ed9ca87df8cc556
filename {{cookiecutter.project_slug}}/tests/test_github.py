"""The GitHub client's retries and `setup-github`, against the tests' one fake GitHub API (loopback only)."""

from __future__ import annotations

import io

import pytest
from github_stub import ADMIN_ONLY, GitHubStub

from {{ cookiecutter.package_name }}.ci import setup_github
from {{ cookiecutter.package_name }}.ci.github import GitHub, GitHubError, retry_after
from {{ cookiecutter.package_name }}.errors import PipelineError

REPO, TOKEN, WRITER = "acme/demo", "admin-token", "write-token"


@pytest.fixture
def stub():
    with GitHubStub(repo=REPO, token=TOKEN, prs=(7,), write_tokens=(WRITER,)) as gh:
        yield gh


def client(stub, token=TOKEN, waits=None) -> GitHub:
    return GitHub(token, REPO, stub.url, sleep=(waits.append if waits is not None else lambda s: None))


def test_retries_5xx_and_secondary_rate_limits(stub):
    waits: list[float] = []
    stub.fail(502, times=2)
    assert client(stub, waits=waits).create_comment(7, "hello")["body"] == "hello"
    assert waits == [1.0, 2.0] and len(stub.comments_on(7)) == 1  # one comment, after two refused tries
    stub.fail(403, headers={"retry-after": "3"}, message="You have exceeded a secondary rate limit.")
    stub.fail(429, headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": "0"})
    client(stub, waits=waits).dispatch("retrain.yml", "main", {"reason": "test"})
    assert waits[2:] == [3.0, 0.0] and stub.state["dispatches"][0]["workflow"] == "retrain.yml"


def test_a_post_is_not_repeated_after_a_500_and_errors_say_what_failed(stub):
    stub.fail(500)
    with pytest.raises(GitHubError, match=rf"POST /repos/{REPO}/issues failed: HTTP 500"):
        client(stub).create_issue("t", "b", ["drift"])
    assert len([r for r in stub.requests if r["method"] == "POST"]) == 1
    stub.fail(403, times=9, headers={"retry-after": "1"}, message="secondary rate limit")
    with pytest.raises(GitHubError, match=r"HTTP 403 \(rate limited; retries exhausted\)"):
        client(stub).comments(7)
    stub.fail(403, headers={"retry-after": "3600"})  # longer than a job should stall: fail at once
    with pytest.raises(GitHubError, match="HTTP 403"):
        client(stub).comments(7)
    assert retry_after(403, {}, "Resource not accessible by integration") is None  # a real 403 is not retried


def test_deployment_and_its_status(stub):
    gh = client(stub)
    deployment = gh.create_deployment(ref="a" * 40, environment="staging", required_contexts=[])
    gh.deployment_status(deployment, state="success", description="live")
    (recorded,) = stub.state["deployments"]
    assert recorded["environment"] == "staging" and recorded["statuses"][0]["state"] == "success"


def run_setup(stub, token=TOKEN, **kwargs) -> tuple[dict, str]:
    out = io.StringIO()
    result = setup_github.run(repo=REPO, env={"GITHUB_TOKEN": token, "GITHUB_API_URL": stub.url, **kwargs.pop(
        "env", {})}, out=out, **kwargs)
    return result, out.getvalue()


def test_setup_github_dry_run_then_apply_then_nothing_to_do(stub):
    names = setup_github.environments()
    required = [s for s in setup_github.settings() if s.required]
    secret = next((s for s in setup_github.settings() if s.kind == "secret"), None)
    values = {s.source: f"value-of-{s.source}" for s in required}
    if secret is not None:
        values[secret.source] = "s3cr3t-value"

    planned, text = run_setup(stub, env=values)
    assert stub.writes() == [] and "dry run: nothing changed" in text
    assert all(f"create   environment {name}" in text for name in names)
    assert f"{planned['changes']} change(s) planned: run `setup-github --apply`" in text
    assert "s3cr3t-value" not in text and "value hidden" in text.replace("\n", " ") or secret is None

    applied, text = run_setup(stub, apply=True, env=values)
    assert applied["changes"] == planned["changes"] and applied["missing"] == []
    assert set(stub.state["environments"]) == set(names)
    if "production" in names:  # the owner of a personal repo reviews production
        (rule,) = stub.state["environments"]["production"]["protection_rules"]
        assert rule["type"] == "required_reviewers"
        assert rule["reviewers"] == [{"type": "User", "reviewer": {"id": 583231}}]
    if "promotion" in names:
        assert stub.state["workflow_permissions"]["can_approve_pull_request_reviews"] is True
    for setting in required:
        if setting.kind == "variable":
            assert stub.state["variables"][setting.environment or ""][setting.name] == values[setting.source]
    if secret is not None:
        assert stub.secret(secret.name, secret.environment or "") == "s3cr3t-value"  # sealed for the repo's key
    assert "s3cr3t-value" not in text and "s3cr3t-value" not in str(stub.requests)

    before = len(stub.writes())
    again, text = run_setup(stub, apply=True, env=values)
    assert again["changes"] == 0 and len(stub.writes()) == before and "Nothing required is missing." in text


def test_setup_github_names_what_is_still_missing(stub):
    result, text = run_setup(stub)
    required = [s for s in setup_github.settings() if s.required]
    assert len(result["missing"]) == len(required)
    for setting in required:
        assert f"{setting.kind} {setting.name} in {setting.where}" in text and f"export {setting.source}" in text


def test_setup_github_without_admin_rights_is_a_clear_error(stub):
    with pytest.raises(PipelineError, match="needs admin rights on the repository"):
        run_setup(stub, token=WRITER, apply=True)
    assert stub.writes() == []
    with pytest.raises(PipelineError, match="GITHUB_TOKEN is not set"):
        run_setup(stub, token="")
    assert ADMIN_ONLY  # what the fake answers a non-admin's settings call with
