"""Level 2's pull-request report, end to end under act: built by `pr-report.yml` (pull_request), posted by
`pr-comment.yml` (workflow_run) to a local stand-in of GitHub's issue-comment API (tests/github_stub.py).

What is asserted:
- a same-repo PR: the first push creates exactly one comment; a second push updates that comment in place,
  and the first push's report arriving late is not posted (its head is no longer the PR's);
- the comment holds the metrics against the champion, the gate's verdict and the drift summary;
- a fork PR: its pull_request run holds a read-only token, declares no write permission, has no posting
  step, and the stub receives nothing from it; the workflow_run poster then comments for it;
- the poster runs the base branch's code, never the PR's (the act checkout is `main` for that run).

Nothing leaves the machine: each test makes a private network namespace with only loopback
(PrivateLoopback), starts the stub inside it and runs act inside it too (so the harness's own
`network=False` namespace, which the stub could not reach, is not used). The workflows' setup
action skips installing under act when CI_PREINSTALLED is set: the steps use this interpreter's
environment, and `src/` on PYTHONPATH. GITHUB_API_URL points every run, the pull_request ones
included, at the stub, so a workflow that tried to post would be seen doing it.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from act.harness import DUMMY_TOKEN, events, init_git_repo, run_act
from conftest import render, unavailable
from github_stub import GitHubStub

PR_REPORT = ".github/workflows/pr-report.yml"
PR_COMMENT = ".github/workflows/pr-comment.yml"
PACKAGE = "demo_model"
MARKER = f"<!-- {PACKAGE}-report -->"
FORK_TOKEN = "fork-pr-read-only-token"  # what a fork's pull_request run gets: read access only
# The champion committed on main: a little worse than the demo model, so the gate passes with deltas.
CHAMPION = {"accuracy": 0.93, "f1_macro": 0.92, "precision_macro": 0.92, "recall_macro": 0.92, "roc_auc": 0.97}
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]


class PrivateLoopback:
    """A network namespace that has only loopback. `call(fn)` runs fn in a thread inside it: a socket it
    opens listens there, and a process it starts (act, and every workflow step) lives there."""

    CLONE_NEWNET = 0x40000000

    def __init__(self):
        if os.geteuid() != 0:
            unavailable("a private network namespace needs root (setns); CI runs as root")
        self._holder = subprocess.Popen(["unshare", "--net", "sleep", "infinity"])
        self._path = f"/proc/{self._holder.pid}/ns/net"
        ours = os.readlink("/proc/self/ns/net")
        deadline = time.monotonic() + 10
        while os.readlink(self._path) == ours:  # until unshare has switched namespaces
            assert time.monotonic() < deadline and self._holder.poll() is None, "unshare --net failed"
            time.sleep(0.02)
        self.call(self._loopback_up)

    def call(self, fn, *args, **kwargs):
        outcome: dict = {}

        def inside():
            try:
                fd = os.open(self._path, os.O_RDONLY)
                try:
                    if hasattr(os, "setns"):
                        os.setns(fd, self.CLONE_NEWNET)
                    elif ctypes.CDLL(None, use_errno=True).setns(fd, self.CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), f"setns {self._path}: {os.strerror(ctypes.get_errno())}")
                finally:
                    os.close(fd)
                outcome["value"] = fn(*args, **kwargs)
            except BaseException as exc:  # handed to the calling thread
                outcome["error"] = exc

        thread = threading.Thread(target=inside)
        thread.start()
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]

    @staticmethod
    def _loopback_up() -> None:
        """`ip link set lo up`, without needing iproute2: SIOCGIFFLAGS, then SIOCSIFFLAGS with IFF_UP."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            flags = struct.unpack("16sH14x", fcntl.ioctl(sock, 0x8913, struct.pack("16sH14x", b"lo", 0)))[1]
            fcntl.ioctl(sock, 0x8914, struct.pack("16sH14x", b"lo", flags | 0x1))

    def close(self) -> None:
        self._holder.kill()
        self._holder.wait()


@pytest.fixture
def github():
    """Start a stub inside a private loopback-only namespace: github(**kwargs) -> (stub, run_act in that namespace)."""
    started: list[tuple[PrivateLoopback, GitHubStub]] = []

    def start(**kwargs):
        net = PrivateLoopback()
        stub = net.call(GitHubStub(token=DUMMY_TOKEN, **kwargs).start)
        started.append((net, stub))
        return stub, lambda *args, **kw: net.call(run_act, *args, network=True, **kw)

    yield start
    for net, stub in started:
        stub.stop()
        net.close()


def act_env(gh: GitHubStub) -> dict[str, str]:
    """Steps use this interpreter's packages (the setup action skips installing) and talk to the stub."""
    return {"GITHUB_API_URL": gh.url, "CI_PREINSTALLED": "true", "PYTHONPATH": "src",
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}


def workflow(project: Path, path: str) -> dict:
    doc = yaml.safe_load((project / path).read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as True
    return doc


def git(project: Path, *args: str) -> str:
    return subprocess.run([*GIT, "-C", str(project), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def project(tmp_path) -> Path:
    """A level-2 render on a PR branch `feature`, with the champion's metrics committed on main."""
    project = render(tmp_path / "render", mlops_level="2", task="classification", project_name="Demo Model")
    for path in (PR_REPORT, PR_COMMENT):
        assert (project / path).is_file(), f"{path} is missing from the level-2 render"
    (project / "metrics").mkdir(exist_ok=True)
    (project / "metrics/metrics.json").write_text(json.dumps(CHAMPION, indent=2) + "\n")
    init_git_repo(project)  # origin acme/demo: github.repository
    git(project, "update-ref", "refs/remotes/origin/main", "main")  # as in a clone: the gate reads origin/main
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


def build_report(project: Path, store: Path, gh: GitHubStub, act, number: int, *, fork: bool = False):
    """Run pr-report.yml for a pull_request event at the branch's head, which becomes the PR's head on the stub.
    Returns the act result, the requests the stub got during the run, and the head commit."""
    head = git(project, "rev-parse", "HEAD").strip()
    gh.add_pr(number, head)
    event = events.pull_request(number, head="feature")
    if fork:
        event["pull_request"]["head"]["repo"] = {"full_name": "forker/demo", "fork": True}
    event["pull_request"]["base"]["repo"] = {"full_name": "acme/demo", "fork": False}
    seen = len(gh.requests)
    result = act(project, "pull_request", event, workflow=PR_REPORT, store_dir=store, env=act_env(gh),
                 secrets={"GITHUB_TOKEN": FORK_TOKEN} if fork else None)
    assert result.ok, result.log[-6000:]
    folder = store / "artifacts" / str(result.run_id) / artifact_name(project)
    assert (folder / "pr-number").read_text().strip() == str(number)
    assert (folder / "report.md").read_text().startswith(MARKER)
    return result, gh.requests[seen:], head


def post_comment(project: Path, store: Path, gh: GitHubStub, act, report_run, number: int, head: str, *,
                 fork: bool = False):
    """Run pr-comment.yml for the workflow_run event of `report_run` (whose head commit was `head`), from
    main's code as GitHub would."""
    event = events.workflow_run(workflow(project, PR_REPORT)["name"], report_run.run_id, event="pull_request",
                                head_branch="feature")
    event["workflow_run"].update({
        "head_sha": head,
        "pull_requests": [] if fork else [{"number": number, "head": {"ref": "feature"}, "base": {"ref": "main"}}],
        "head_repository": {"full_name": "forker/demo" if fork else "acme/demo"},
        "repository": {"full_name": "acme/demo"},
    })
    git(project, "checkout", "-q", "main")  # workflow_run runs the default branch's workflow and code
    try:
        seen = len(gh.requests)
        result = act(project, "workflow_run", event, workflow=PR_COMMENT, store_dir=store, env=act_env(gh))
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


def test_same_repo_pr_comment_is_created_once_then_updated(project, github, tmp_path):
    store = tmp_path / "store"
    gh, act = github(prs=(7,))
    first, during, first_head = build_report(project, store, gh, act, 7)
    assert during == []  # the pull_request run never talks to the API
    summary = "".join(first.summaries.values())
    report_md = (store / "artifacts" / str(first.run_id) / artifact_name(project) / "report.md").read_text()
    assert report_md.strip() in summary  # the same text is the job summary

    _, requests = post_comment(project, store, gh, act, first, 7, first_head)
    assert writes(requests) == [("POST", "/repos/acme/demo/issues/7/comments")]
    (created,) = gh.comments_on(7)
    body = created["body"]
    assert body.startswith(MARKER) and body == report_md.strip("\n") + "\n"
    assert "### Metrics: candidate vs champion" in body and "champion (`git origin/main:" in body
    assert "| 0.9200 | +0." in body  # f1_macro against the champion's 0.92, with its delta
    assert "### Gate verdict" in body and "**Gate ✅ passed" in body
    assert "### Drift" in body and "columns drifted (share" in body
    assert f"https://github.com/acme/demo/actions/runs/{first.run_id}" in body

    push(project, "second push")
    second, during, second_head = build_report(project, store, gh, act, 7)
    assert during == [] and second_head != first_head
    # The first push's report arriving late (its head is no longer the PR's) is not posted.
    stale, requests = post_comment(project, store, gh, act, first, 7, first_head)
    assert writes(requests) == [] and "report comment not posted" in stale.log
    _, requests = post_comment(project, store, gh, act, second, 7, second_head)
    assert writes(requests) == [("PATCH", f"/repos/acme/demo/issues/comments/{created['id']}")]
    (updated,) = gh.comments_on(7)
    assert updated["id"] == created["id"]
    assert f"actions/runs/{second.run_id}" in updated["body"] and f"runs/{first.run_id})" not in updated["body"]


def test_fork_pr_is_posted_only_by_the_workflow_run(project, github, tmp_path):
    store = tmp_path / "store"
    gh, act = github(prs=(8,), read_only_tokens=(FORK_TOKEN,))
    run, during, head = build_report(project, store, gh, act, 8, fork=True)
    assert during == [] and gh.writes() == []  # nothing reached the API from the fork's own run
    assert FORK_TOKEN not in json.dumps(gh.requests)
    _, requests = post_comment(project, store, gh, act, run, 8, head, fork=True)
    assert writes(requests) == [("POST", "/repos/acme/demo/issues/8/comments")]
    assert all(r["authorization"] == f"Bearer {DUMMY_TOKEN}" for r in requests)
    (posted,) = gh.comments_on(8)
    assert posted["body"].startswith(MARKER) and "for PR #8" in posted["body"]
