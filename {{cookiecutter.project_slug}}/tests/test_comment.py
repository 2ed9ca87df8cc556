"""The PR comment poster against a local stand-in of GitHub's issue-comment endpoints (loopback only)."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import run_cli

from {{ cookiecutter.package_name }}.ci import comment, report
from {{ cookiecutter.package_name }}.errors import PipelineError

REPO, TOKEN = "acme/demo", "test-token"
BOT = {"login": "github-actions[bot]", "type": "Bot"}


class Stub:
    """GET/POST /repos/o/r/issues/N/comments (paginated, Link header), PATCH /repos/o/r/issues/comments/ID,
    GET /repos/o/r/pulls/N. 401 without the token, 404 for unknown PRs, 422 for a body over 65,536 characters."""

    def __init__(self, prs=(7,)):
        self.issues = {n: [] for n in prs}
        self.requests: list[tuple[str, str]] = []
        self.next_id = 100
        self.redirect = False
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                stub.handle(self, "GET")

            def do_POST(self):  # noqa: N802
                stub.handle(self, "POST")

            def do_PATCH(self):  # noqa: N802
                stub.handle(self, "PATCH")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(self, pr: int, body: str, user: dict) -> dict:
        self.next_id += 1
        item = {"id": self.next_id, "body": body, "user": user,
                "html_url": f"https://github.com/{REPO}/pull/{pr}#issuecomment-{self.next_id}"}
        self.issues[pr].append(item)
        return item

    def writes(self) -> list[tuple[str, str]]:
        return [r for r in self.requests if r[0] != "GET"]

    def handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(h.path)
        self.requests.append((method, h.path))
        body = json.loads(h.rfile.read(int(h.headers.get("Content-Length") or 0)) or b"null")
        status, payload, headers = 404, {"message": "Not Found"}, {}
        listing = re.fullmatch(rf"/repos/{REPO}/issues/(\d+)/comments", parts.path)
        single = re.fullmatch(rf"/repos/{REPO}/issues/comments/(\d+)", parts.path)
        pull = re.fullmatch(rf"/repos/{REPO}/pulls/(\d+)", parts.path)
        too_long = isinstance(body, dict) and len(body.get("body", "")) > 65_536
        if h.headers.get("Authorization") != f"Bearer {TOKEN}":
            status, payload = 401, {"message": "Bad credentials"}
        elif self.redirect:
            status, headers = 301, {"Location": "http://127.0.0.2/elsewhere"}
        elif too_long and method in ("POST", "PATCH"):
            status, payload = 422, {"message": "Validation Failed: body is too long (maximum is 65536 characters)"}
        elif listing and int(listing[1]) in self.issues and method == "GET":
            query = parse_qs(parts.query)
            per_page, page = int(query.get("per_page", [30])[0]), int(query.get("page", [1])[0])
            items = self.issues[int(listing[1])]
            status, payload = 200, items[(page - 1) * per_page: page * per_page]
            if page * per_page < len(items):
                headers["Link"] = f'<{self.url}{parts.path}?per_page={per_page}&page={page + 1}>; rel="next"'
        elif listing and int(listing[1]) in self.issues and method == "POST":
            status, payload = 201, self.add(int(listing[1]), body["body"], BOT)
        elif single and method == "PATCH":
            found = [c for items in self.issues.values() for c in items if c["id"] == int(single[1])]
            if found:
                found[0]["body"] = body["body"]
                status, payload = 200, found[0]
        elif pull and int(pull[1]) in self.issues:
            status, payload = 200, {"number": int(pull[1]), "head": {"sha": "a" * 40}}
        data = json.dumps(payload).encode()
        h.send_response(status)
        for key, value in {"Content-Type": "application/json", "Content-Length": str(len(data)), **headers}.items():
            h.send_header(key, value)
        h.end_headers()
        h.wfile.write(data)


@pytest.fixture
def github(monkeypatch):
    stub = Stub()
    monkeypatch.setenv("GITHUB_API_URL", stub.url)
    monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    yield stub
    stub.server.shutdown()
    stub.server.server_close()


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
    assert [c["body"] for c in github.issues[7]] == [f"{report.MARKER}\nrun 2\n"]
    assert [m for m, _ in github.writes()] == ["POST", "PATCH"]
    assert github.writes()[1][1] == f"/repos/{REPO}/issues/comments/{first['comment_id']}"
    again = comment.post(artifact(tmp_path, f"{report.MARKER}\nrun 2\n"))
    assert again["action"] == "unchanged" and len(github.writes()) == 2


def test_finds_its_comment_on_a_later_page(github, tmp_path):
    for i in range(230):
        github.add(7, f"comment {i}", {"login": "someone", "type": "User"})
    ours = github.add(7, f"{report.MARKER}\nold report", BOT)
    for i in range(20):
        github.add(7, f"later {i}", {"login": "someone", "type": "User"})
    result = comment.post(artifact(tmp_path))
    assert result["action"] == "updated" and result["comment_id"] == ours["id"]
    pages = [path for method, path in github.requests if method == "GET"]
    assert len(pages) == 3 and "per_page=100" in pages[0] and "page=3" in pages[2]
    assert len(github.issues[7]) == 251


def test_a_person_quoting_the_marker_is_not_overwritten(github, tmp_path):
    quoted = github.add(7, f"{report.MARKER}\nI copied this", {"login": "someone", "type": "User"})
    result = comment.post(artifact(tmp_path))
    assert result["action"] == "created" and result["comment_id"] != quoted["id"]
    assert github.issues[7][0]["body"] == f"{report.MARKER}\nI copied this"


def test_body_gets_the_marker_and_fits_the_limit(github, tmp_path):
    comment.post(artifact(tmp_path, "no marker here\n" + "x" * 200 + "\n" + ("| a | b |\n" * 20_000)))
    body = github.issues[7][0]["body"]
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
    github.redirect = True  # a redirect would carry the token elsewhere: refused
    with pytest.raises(comment.GitHubError, match="HTTP 301"):
        comment.post(artifact(tmp_path))
    assert github.writes() == []


def test_unreachable_api_and_missing_token(github, tmp_path, monkeypatch):
    port = github.server.server_address[1]
    github.server.shutdown()
    github.server.server_close()
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
    assert len(github.issues[7]) == 1 and github.issues[7][0]["body"].endswith("second run\n")
    (folder / "pr-number").write_text("../../8")
    bad = run_cli("post-comment", "--from", str(folder))
    assert bad.returncode == 2 and "expected a positive integer" in bad.stderr
