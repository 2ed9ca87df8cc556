"""A local stand-in for GitHub's issue-comment REST endpoints, on 127.0.0.1 (stdlib http.server in a thread).

    with GitHubStub() as gh:                     # gh.url -> http://127.0.0.1:PORT
        ...  GITHUB_API_URL=gh.url, GITHUB_TOKEN=gh.token, GITHUB_REPOSITORY=acme/demo
        gh.comments_on(7)                        # [{"id", "body", "user", ...}]
        gh.writes()                              # the POST/PATCH requests it received

Endpoints, with GitHub's shapes and status codes:
  GET   /repos/{o}/{r}/issues/{n}/comments     per_page (max 100) and page, with a Link header
  POST  /repos/{o}/{r}/issues/{n}/comments     {"body"} -> 201
  PATCH /repos/{o}/{r}/issues/comments/{id}    {"body"} -> 200
  GET   /repos/{o}/{r}/pulls/{n}               {"number", "head": {"sha"}} for the PRs in `pulls`
A wrong or missing token gives 401, a write with a read-only token (as a fork PR's is) 403, an
unknown PR or comment 404, a body over 65,536 characters or not a string 422 (GitHub's "body is too
long"). Every request is recorded in `requests`, with the Authorization header it carried. Comments
written through the API belong to `github-actions[bot]`.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

BODY_LIMIT = 65_536
BOT = {"login": "github-actions[bot]", "id": 41898282, "type": "Bot"}
ISSUE_COMMENTS = re.compile(r"/repos/([^/]+)/([^/]+)/issues/(\d+)/comments")
COMMENT = re.compile(r"/repos/([^/]+)/([^/]+)/issues/comments/(\d+)")
PULL = re.compile(r"/repos/([^/]+)/([^/]+)/pulls/(\d+)")


class GitHubStub:
    def __init__(self, repo: str = "acme/demo", token: str = "stub-token", prs: tuple[int, ...] = (1,),
                 read_only_tokens: tuple[str, ...] = ()):
        self.repo, self.token = repo, token
        # Tokens that may read but not write, like a fork PR's GITHUB_TOKEN: writes get GitHub's 403.
        self.read_only_tokens = set(read_only_tokens)
        self.pulls: dict[int, dict] = {n: {"number": n, "head": {"sha": f"{n:040x}"}} for n in prs}
        self.issues: dict[int, list[dict]] = {n: [] for n in prs}
        self.requests: list[dict] = []
        self._next_id = 1000
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ control

    def start(self, host: str = "127.0.0.1", port: int = 0) -> GitHubStub:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                stub._handle(self, "GET")

            def do_POST(self):  # noqa: N802
                stub._handle(self, "POST")

            def do_PATCH(self):  # noqa: N802
                stub._handle(self, "PATCH")

            def do_DELETE(self):  # noqa: N802
                stub._handle(self, "DELETE")

            def log_message(self, *args):  # keep test output quiet
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> GitHubStub:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the stub first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # ------------------------------------------------------------------ state

    def add_pr(self, number: int, head_sha: str | None = None) -> None:
        with self._lock:
            self.pulls[number] = {"number": number, "head": {"sha": head_sha or f"{number:040x}"}}
            self.issues.setdefault(number, [])

    def seed(self, number: int, body: str, login: str = "octocat", user_type: str = "User") -> dict:
        """A comment someone else wrote, as if it were already on the PR."""
        with self._lock:
            return self._new_comment(number, body, {"login": login, "id": 1, "type": user_type})

    def comments_on(self, number: int) -> list[dict]:
        with self._lock:
            return [dict(c) for c in self.issues.get(number, [])]

    def writes(self, since: int = 0) -> list[dict]:
        """Requests that would change something on GitHub (anything but GET), from index `since`."""
        with self._lock:
            return [r for r in self.requests[since:] if r["method"] != "GET"]

    # ------------------------------------------------------------------ the API

    def _new_comment(self, number: int, body: str, user: dict) -> dict:
        self._next_id += 1
        cid = self._next_id
        stamp = f"2025-01-01T00:{cid % 60:02d}:00Z"
        comment = {
            "id": cid,
            "node_id": f"IC_{cid}",
            "url": f"{self.url}/repos/{self.repo}/issues/comments/{cid}",
            "html_url": f"https://github.com/{self.repo}/pull/{number}#issuecomment-{cid}",
            "issue_url": f"{self.url}/repos/{self.repo}/issues/{number}",
            "body": body,
            "user": dict(user),
            "created_at": stamp,
            "updated_at": stamp,
            "author_association": "NONE" if user.get("type") == "Bot" else "CONTRIBUTOR",
        }
        self.issues.setdefault(number, []).append(comment)
        return comment

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        record = {"method": method, "path": parts.path, "query": parts.query,
                  "authorization": handler.headers.get("Authorization"), "body": None, "status": None}
        with self._lock:
            self.requests.append(record)
            status, payload, headers = self._route(method, parts.path, parse_qs(parts.query), raw, handler, record)
            record["status"] = status
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(data)

    def _route(self, method, path, query, raw, handler, record):
        auth = handler.headers.get("Authorization") or ""
        token = auth.removeprefix("Bearer ").removeprefix("token ")
        if token in self.read_only_tokens and method != "GET":
            return 403, {"message": "Resource not accessible by integration", "status": "403"}, {}
        if token != self.token and token not in self.read_only_tokens:
            return 401, {"message": "Bad credentials", "status": "401"}, {}
        body = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                return 400, {"message": "Problems parsing JSON"}, {}
            record["body"] = body.get("body") if isinstance(body, dict) else body
        if (m := ISSUE_COMMENTS.fullmatch(path)) and f"{m[1]}/{m[2]}" == self.repo:
            number = int(m[3])
            if number not in self.issues:
                return 404, {"message": "Not Found"}, {}
            if method == "GET":
                return self._list(number, path, query)
            if method == "POST":
                if (problem := self._invalid(body)) is not None:
                    return problem
                return 201, self._new_comment(number, body["body"], BOT), {}
            return 404, {"message": "Not Found"}, {}
        if (m := COMMENT.fullmatch(path)) and f"{m[1]}/{m[2]}" == self.repo and method == "PATCH":
            found = next((c for cs in self.issues.values() for c in cs if c["id"] == int(m[3])), None)
            if found is None:
                return 404, {"message": "Not Found"}, {}
            if (problem := self._invalid(body)) is not None:
                return problem
            found["body"] = body["body"]
            found["updated_at"] = "2025-01-02T00:00:00Z"
            return 200, dict(found), {}
        if (m := PULL.fullmatch(path)) and f"{m[1]}/{m[2]}" == self.repo and method == "GET":
            pull = self.pulls.get(int(m[3]))
            return (200, pull, {}) if pull else (404, {"message": "Not Found"}, {})
        return 404, {"message": "Not Found"}, {}

    @staticmethod
    def _invalid(body):
        if not isinstance(body, dict) or not isinstance(body.get("body"), str):
            return 422, {"message": "Invalid request.\n\nFor 'properties/body', nil is not a string."}, {}
        if len(body["body"]) > BODY_LIMIT:
            return 422, {"message": "Validation Failed", "errors": [
                {"resource": "IssueComment", "code": "custom", "field": "body",
                 "message": f"body is too long (maximum is {BODY_LIMIT} characters)"}]}, {}
        return None

    def _list(self, number: int, path: str, query: dict):
        try:
            per_page = min(max(int(query.get("per_page", ["30"])[0]), 1), 100)
            page = max(int(query.get("page", ["1"])[0]), 1)
        except ValueError:
            return 422, {"message": "Invalid pagination"}, {}
        comments = self.issues[number]
        last = max(1, -(-len(comments) // per_page))
        chunk = comments[(page - 1) * per_page: page * per_page]
        links = []
        if page < last:
            links.append(f'<{self.url}{path}?per_page={per_page}&page={page + 1}>; rel="next"')
            links.append(f'<{self.url}{path}?per_page={per_page}&page={last}>; rel="last"')
        return 200, [dict(c) for c in chunk], ({"Link": ", ".join(links)} if links else {})


if __name__ == "__main__":  # a manual try: python tests/github_stub.py
    import time

    with GitHubStub(prs=(1, 2, 3)) as stub:
        print(f"GITHUB_API_URL={stub.url} GITHUB_TOKEN={stub.token} GITHUB_REPOSITORY={stub.repo}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
