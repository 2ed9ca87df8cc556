"""Level 2's pull-request report, end to end under act: built by `pr-report.yml` (pull_request), posted by
`pr-comment.yml` (workflow_run) to a local stand-in of GitHub's issue-comment API (tests/github_stub.py).

What is asserted:
- a same-repo PR: the first push creates exactly one comment; a second push updates that comment in place;
- the comment holds the metrics against the champion, the gate's verdict and the drift summary;
- a fork PR: its pull_request run holds a read-only token, declares no write permission, has no posting
  step, and the stub receives nothing from it; the workflow_run poster then comments for it;
- the poster runs the base branch's code, never the PR's (the act checkout is `main` for that run).

act runs with `network=True` here: the workflows install the pipeline from the package index, and the
stub listens on the host's 127.0.0.1, which act's private network namespace could not reach.
GITHUB_API_URL points every run, the pull_request ones included, at the stub, so nothing is sent to
GitHub even if a workflow tried to post.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from act.harness import DUMMY_TOKEN, events, init_git_repo, run_act
from conftest import render
from github_stub import GitHubStub

PR_REPORT = ".github/workflows/pr-report.yml"
PR_COMMENT = ".github/workflows/pr-comment.yml"
PACKAGE = "demo_model"
MARKER = f"<!-- {PACKAGE}-report -->"
FORK_TOKEN = "fork-pr-read-only-token"  # what a fork's pull_request run gets: read access only
# The champion committed on main: a little worse than the demo model, so the gate passes with deltas.
CHAMPION = {"accuracy": 0.93, "f1_macro": 0.92, "precision_macro": 0.92, "recall_macro": 0.92, "roc_auc": 0.97}
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]


def workflow(project: Path, path: str) -> dict:
    doc = yaml.safe_load((project / path).read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as True
    return doc


def git(project: Path, *args: str) -> None:
    subprocess.run([*GIT, "-C", str(project), *args], check=True, capture_output=True)


@pytest.fixture
def project(tmp_path) -> Path:
    """A level-2 render on a PR branch `feature`, with the champion's metrics committed on main."""
    project = render(tmp_path / "render", mlops_level="2", task="classification", project_name="Demo Model")
    for path in (PR_REPORT, PR_COMMENT):
        assert (project / path).is_file(), f"{path} is missing from the level-2 render"
    (project / "metrics").mkdir(exist_ok=True)
    (project / "metrics/metrics.json").write_text(json.dumps(CHAMPION, indent=2) + "\n")
    init_git_repo(project)  # origin acme/demo: github.repository
    git(project, "checkout", "-q", "-b", "feature")
    return project


def artifact_name(project: Path) -> str:
    for job in workflow(project, PR_REPORT)["jobs"].values():
        for step in job.get("steps", []):
            if "upload-artifact" in step.get("uses", ""):
                return step.get("with", {}).get("name", "artifact")
    raise AssertionError(f"{PR_REPORT} uploads no artifact")


def push(project: Path, message: str) -> None:
    """A new commit on the PR branch."""
    with (project / "README.md").open("a") as handle:
        handle.write(f"\n{message}\n")
    git(project, "commit", "-qam", message)


def build_report(project: Path, store: Path, gh: GitHubStub, number: int, *, fork: bool = False):
    """Run pr-report.yml for a pull_request event; return the act result and the requests the stub got."""
    event = events.pull_request(number, head="feature")
    if fork:
        event["pull_request"]["head"]["repo"] = {"full_name": "forker/demo", "fork": True}
    event["pull_request"]["base"]["repo"] = {"full_name": "acme/demo", "fork": False}
    seen = len(gh.requests)
    result = run_act(project, "pull_request", event, workflow=PR_REPORT, store_dir=store, network=True,
                     env={"GITHUB_API_URL": gh.url},
                     secrets={"GITHUB_TOKEN": FORK_TOKEN} if fork else None)
    assert result.ok, result.log[-6000:]
    folder = store / "artifacts" / str(result.run_id) / artifact_name(project)
    assert (folder / "pr-number").read_text().strip() == str(number)
    assert (folder / "report.md").read_text().startswith(MARKER)
    return result, gh.requests[seen:]


def post_comment(project: Path, store: Path, gh: GitHubStub, report_run, number: int, *, fork: bool = False):
    """Run pr-comment.yml for the workflow_run event of `report_run`, from main's code as GitHub would."""
    event = events.workflow_run(workflow(project, PR_REPORT)["name"], report_run.run_id, event="pull_request",
                                head_branch="feature")
    event["workflow_run"].update({
        "head_sha": gh.pulls[number]["head"]["sha"],
        "pull_requests": [] if fork else [{"number": number, "head": {"ref": "feature"}, "base": {"ref": "main"}}],
        "head_repository": {"full_name": "forker/demo" if fork else "acme/demo"},
        "repository": {"full_name": "acme/demo"},
    })
    git(project, "checkout", "-q", "main")  # workflow_run runs the default branch's workflow and code
    try:
        seen = len(gh.requests)
        result = run_act(project, "workflow_run", event, workflow=PR_COMMENT, store_dir=store, network=True,
                         env={"GITHUB_API_URL": gh.url})
    finally:
        git(project, "checkout", "-q", "feature")
    assert result.ok, result.log[-6000:]
    return result, gh.requests[seen:]


def writes(requests: list[dict]) -> list[tuple[str, str]]:
    return [(r["method"], r["path"]) for r in requests if r["method"] != "GET"]


def test_pr_report_cannot_post_and_poster_cannot_run_pr_code(rendered):
    _, project = rendered("2", "classification")
    report, poster = workflow(project, PR_REPORT), workflow(project, PR_COMMENT)
    assert "pull_request" in report["on"] and "pull_request_target" not in report["on"]
    scopes = [report.get("permissions")] + [job.get("permissions") for job in report["jobs"].values()]
    for scope in scopes:  # read-only everywhere: {} or `x: read` / `none`; never write-all
        assert scope is None or scope in ({}, "read-all") or (
            isinstance(scope, dict) and set(scope.values()) <= {"read", "none"}), scope
    text = (project / PR_REPORT).read_text()
    for poster_only in ("post-comment", "sticky-pull-request-comment", "github-script", "/comments"):
        assert poster_only not in text, poster_only
    assert "workflow_run" in poster["on"] and report["name"] in poster["on"]["workflow_run"]["workflows"]
    granted = {k: v for job in poster["jobs"].values() for k, v in (job.get("permissions") or {}).items()}
    assert granted.get("pull-requests") == "write" or granted.get("issues") == "write", granted
    for job in poster["jobs"].values():
        for step in job.get("steps", []):
            if "actions/checkout" in step.get("uses", ""):
                ref = str((step.get("with") or {}).get("ref", ""))
                assert not any(s in ref for s in ("head", "pull", "workflow_run")), ref
    assert "post-comment" in (project / PR_COMMENT).read_text()


def test_same_repo_pr_comment_is_created_once_then_updated(project, tmp_path):
    store = tmp_path / "store"
    with GitHubStub(token=DUMMY_TOKEN, prs=(7,)) as gh:
        first, during = build_report(project, store, gh, 7)
        assert during == []  # the pull_request run never talks to the API
        summary = "".join(first.summaries.values())
        report_md = (store / "artifacts" / str(first.run_id) / artifact_name(project) / "report.md").read_text()
        assert report_md.strip() in summary  # the same text is the job summary

        _, requests = post_comment(project, store, gh, first, 7)
        assert writes(requests) == [("POST", "/repos/acme/demo/issues/7/comments")]
        (created,) = gh.comments_on(7)
        body = created["body"]
        assert body.startswith(MARKER) and body == report_md.strip("\n") + "\n"
        assert "### Metrics: candidate vs champion" in body and "champion (`git main`)" in body
        assert "| 0.9200 | +0." in body  # f1_macro against the champion's 0.92, with its delta
        assert "### Gate verdict" in body and "**Gate ✅ passed" in body
        assert "### Drift" in body and "columns drifted (share" in body
        assert f"https://github.com/acme/demo/actions/runs/{first.run_id}" in body

        push(project, "second push")
        second, during = build_report(project, store, gh, 7)
        assert during == []
        _, requests = post_comment(project, store, gh, second, 7)
        assert writes(requests) == [("PATCH", f"/repos/acme/demo/issues/comments/{created['id']}")]
        (updated,) = gh.comments_on(7)
        assert updated["id"] == created["id"]
        assert f"actions/runs/{second.run_id}" in updated["body"] and f"runs/{first.run_id})" not in updated["body"]


def test_fork_pr_is_posted_only_by_the_workflow_run(project, tmp_path):
    store = tmp_path / "store"
    with GitHubStub(token=DUMMY_TOKEN, prs=(8,), read_only_tokens=(FORK_TOKEN,)) as gh:
        run, during = build_report(project, store, gh, 8, fork=True)
        assert during == [] and gh.writes() == []  # nothing reached the API from the fork's own run
        assert FORK_TOKEN not in json.dumps(gh.requests)
        _, requests = post_comment(project, store, gh, run, 8, fork=True)
        assert writes(requests) == [("POST", "/repos/acme/demo/issues/8/comments")]
        assert all(r["authorization"] == f"Bearer {DUMMY_TOKEN}" for r in requests)
        (posted,) = gh.comments_on(8)
        assert posted["body"].startswith(MARKER) and "for PR #8" in posted["body"]
