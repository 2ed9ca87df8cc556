"""The PR comment poster against a local stand-in of GitHub's issue-comment endpoints (loopback only)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_cli
from github_stub import GitHubStub

from {{ cookiecutter.package_name }}.ci import comment, report
from {{ cookiecutter.package_name }}.errors import PipelineError

REPO, TOKEN = "acme/demo", "test-token"
SOMEONE = {"login": "someone", "user_type": "User"}
BOT = {"login": "github-actions[bot]", "user_type": "Bot"}


@pytest.fixture
def github(monkeypatch):
    """The tests' one fake GitHub API (github_stub.py), with PR 7 whose head is aaaa..."""
    with GitHubStub(repo=REPO, token=TOKEN, prs=(7,)) as stub:
        stub.add_pr(7, "a" * 40)
        for name, value in stub.env().items():
            monkeypatch.setenv(name, value)
        yield stub


def writes(stub: GitHubStub) -> list[tuple[str, str]]:
    return [(r["method"], r["path"]) for r in stub.writes()]


def artifact(tmp_path: Path, body: str = "", pr: str = "7") -> Path:
    folder = tmp_path / "pr-report"
    folder.mkdir(exist_ok=True)
    (folder / "report.md").write_text(body or f"{report.MARKER}\n## Pipeline report\n\nGate passed\n")
    (folder / "pr-number").write_text(pr)
    return folder


def test_first_post_creates_then_updates_in_place(github, tmp_path):
    first = comment.post(artifact(tmp_path, f"{report.MARKER}\nrun 1\n"))
    assert first["action"] == "created"
    second = comment.post(artifact(tmp_path, f"{report.MARKER}\nrun 2\n"))
    assert second == {**second, "action": "updated", "comment_id": first["comment_id"]}
    assert [c["body"] for c in github.comments_on(7)] == [f"{report.MARKER}\nrun 2\n"]
    assert [m for m, _ in writes(github)] == ["POST", "PATCH"]
    assert writes(github)[1][1] == f"/repos/{REPO}/issues/comments/{first['comment_id']}"
    again = comment.post(artifact(tmp_path, f"{report.MARKER}\nrun 2\n"))
    assert again["action"] == "unchanged" and len(writes(github)) == 2


def test_finds_its_comment_on_a_later_page(github, tmp_path):
    for i in range(230):
        github.seed(7, f"comment {i}", **SOMEONE)
    ours = github.seed(7, f"{report.MARKER}\nold report", **BOT)
    for i in range(20):
        github.seed(7, f"later {i}", **SOMEONE)
    result = comment.post(artifact(tmp_path))
    assert result["action"] == "updated" and result["comment_id"] == ours["id"]
    pages = [f"{r['path']}?{r['query']}" for r in github.requests if r["method"] == "GET"]
    assert len(pages) == 3 and "per_page=100" in pages[0] and "page=3" in pages[2]
    assert len(github.comments_on(7)) == 251


def test_a_person_quoting_the_marker_is_not_overwritten(github, tmp_path):
    quoted = github.seed(7, f"{report.MARKER}\nI copied this", **SOMEONE)
    result = comment.post(artifact(tmp_path))
    assert result["action"] == "created" and result["comment_id"] != quoted["id"]
    assert github.comments_on(7)[0]["body"] == f"{report.MARKER}\nI copied this"


def test_body_gets_the_marker_and_fits_the_limit(github, tmp_path):
    comment.post(artifact(tmp_path, "no marker here\n" + "x" * 200 + "\n" + ("| a | b |\n" * 20_000)))
    body = github.comments_on(7)[0]["body"]
    assert body.startswith(report.MARKER + "\nno marker here")
    assert len(body) <= report.COMMENT_LIMIT and "Truncated to fit GitHub's limit for a comment" in body


@pytest.mark.parametrize("bad", ["0", "-3", "abc", "7 8", "", "1e3", "07", "99999999999", "7; rm -rf /", "３"])
def test_untrusted_pr_number_is_rejected_before_any_request(github, tmp_path, bad):
    with pytest.raises(PipelineError, match="expected a positive integer"):
        comment.post(artifact(tmp_path, pr=bad))
    assert github.requests == []


def test_missing_artifact_files_are_named(github, tmp_path):
    with pytest.raises(PipelineError, match="pr-number: not found"):
        comment.post(tmp_path)


def test_http_errors_name_the_method_endpoint_and_status(github, tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "wrong")
    with pytest.raises(comment.GitHubError, match=rf"GET /repos/{REPO}/issues/7/comments failed: HTTP 401.*"
                                                  "Bad credentials"):
        comment.post(artifact(tmp_path))
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    with pytest.raises(comment.GitHubError, match=rf"GET /repos/{REPO}/issues/8/comments failed: HTTP 404"):
        comment.post(artifact(tmp_path, pr="8"))
    github.fail(301, headers={"Location": "http://127.0.0.2/elsewhere"})  # would carry the token elsewhere
    with pytest.raises(comment.GitHubError, match="HTTP 301"):
        comment.post(artifact(tmp_path))
    assert github.writes() == []


def test_unreachable_api_and_missing_token(github, tmp_path, monkeypatch):
    port = github.url.rsplit(":", 1)[1]
    github.stop()
    with pytest.raises(comment.GitHubError, match=f"could not reach http://127.0.0.1:{port}"):
        comment.post(artifact(tmp_path))
    monkeypatch.delenv("GITHUB_TOKEN")
    with pytest.raises(PipelineError, match="GITHUB_TOKEN is not set"):
        comment.post(artifact(tmp_path))


def test_token_never_follows_a_link_to_another_host(github, tmp_path):
    client = comment.GitHub(TOKEN, REPO, github.url)
    with pytest.raises(comment.GitHubError, match="refusing to send the token"):
        client.request("GET", "http://127.0.0.2:1/repos/acme/demo/issues/7/comments")


def test_stale_head_sha_skips_posting(github, tmp_path):
    result = comment.post(artifact(tmp_path), head_sha="b" * 40)
    assert result["action"] == "skipped" and github.writes() == []
    assert comment.post(artifact(tmp_path), head_sha="a" * 40)["action"] == "created"


def test_expect_pr_guards_against_an_artifact_naming_another_pr(github, tmp_path):
    with pytest.raises(PipelineError, match="the artifact names PR #7, but this run belongs to PR #9"):
        comment.post(artifact(tmp_path), expect_pr="9")


def test_cli_posts_and_updates(github, project, tmp_path):
    folder = artifact(tmp_path)
    first = run_cli("post-comment", "--from", str(folder))
    assert first.returncode == 0, first.stderr
    assert "created the report comment" in first.stdout
    (folder / "report.md").write_text(f"{report.MARKER}\nsecond run\n")
    second = run_cli("post-comment", "--from", str(folder))
    assert second.returncode == 0 and "updated the report comment" in second.stdout
    assert len(github.comments_on(7)) == 1 and github.comments_on(7)[0]["body"].endswith("second run\n")
    (folder / "pr-number").write_text("../../8")
    bad = run_cli("post-comment", "--from", str(folder))
    assert bad.returncode == 2 and "expected a positive integer" in bad.stderr
