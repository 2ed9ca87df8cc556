"""The one fake GitHub REST API of the tests: GitHub's shapes and status codes on 127.0.0.1 (stdlib only).

    with GitHubStub() as gh:                 # gh.url -> http://127.0.0.1:PORT
        env = gh.env()                       # GITHUB_API_URL, GITHUB_TOKEN, GITHUB_REPOSITORY
        gh.comments_on(7)                    # [{"id", "body", "user", "issue", ...}]
        gh.state["issues"], gh.writes()      # what the code did

Endpoints (under /repos/{owner}/{repo} unless noted), each as GitHub answers it:
  issue comments: GET issues/{n}/comments (paginated, Link header), POST -> 201, PATCH issues/comments/{id}
  GET pulls/{n}; GET issues?state&labels; POST issues -> 201
  POST actions/workflows/{file}/dispatches -> 204; PUT actions/workflows/{file}/enable -> 204
  POST deployments -> 201; POST deployments/{id}/statuses -> 201
  repository settings (admin tokens only, else 403 "Must have admin rights to Repository."):
  GET repo; GET/PUT environments/{name}; GET/POST/PATCH actions/variables[/{name}] and the same under
  environments/{name}/variables; GET actions/secrets[/public-key], PUT actions/secrets/{name} (a sealed
  box that must open with the stub's private key) and the same under environments/{name}/secrets;
  GET/PUT actions/permissions/workflow; GET /users/{login}
  container images: GET/DELETE /users|orgs/{owner}/packages/container/{name}/versions[/{id}]
Tokens: `token` may do everything, `write_tokens` all but settings, `read_only_tokens` (a fork PR's
token) only GET; anything else gets 401. A body over 65,536 characters gets 422. `fail(status, times,
headers, message)` makes the next requests fail, for retries (5xx, rate limits with retry-after).

With `state_file`, the state lives in a JSON file that every request reads and writes, so a server
started in another process (tests/act/loopback.py, inside act's network namespace) and the test share it.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

BODY_LIMIT = 65_536
BOT = {"login": "github-actions[bot]", "id": 41898282, "type": "Bot"}
DEPLOYMENT_STATES = {"error", "failure", "inactive", "in_progress", "queued", "pending", "success"}
ADMIN_ONLY = "Must have admin rights to Repository."
NOT_FOUND = {"message": "Not Found"}


def empty_state(repo: str, prs=()) -> dict:
    return {"repo": repo, "next_id": 1000, "issues": [], "comments": [], "dispatches": [], "enabled": [],
            "deployments": [], "pulls": {str(n): {"number": n, "state": "open", "head": {"sha": f"{n:040x}"}}
                                         for n in prs},
            "environments": {}, "variables": {"": {}}, "secrets": {"": {}}, "owner_type": "User",
            "workflow_permissions": {"default_workflow_permissions": "read", "can_approve_pull_request_reviews": False},
            "users": {repo.split("/")[0]: 583231, "octocat": 1}, "packages": {}}


class GitHubStub:
    def __init__(self, repo: str = "acme/demo", token: str = "stub-token", prs: tuple[int, ...] = (1,),
                 read_only_tokens: tuple[str, ...] = (), write_tokens: tuple[str, ...] = (),
                 state_file: str | Path | None = None, requests_file: str | Path | None = None):
        self.repo, self.token = repo, token
        self.read_only_tokens, self.write_tokens = set(read_only_tokens), set(write_tokens)
        self.state_file = Path(state_file) if state_file else None
        self.requests_file = Path(requests_file) if requests_file else None
        self._state = empty_state(repo, prs)
        if self.state_file is not None and not self.state_file.exists():
            self.state_file.write_text(json.dumps(self._state, indent=2))
        self.requests: list[dict] = []
        self._failures: list[tuple[int, dict, str]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._keys = None

    # ------------------------------------------------------------------ control

    def start(self, host: str = "127.0.0.1", port: int = 0) -> GitHubStub:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self):
                stub._handle(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

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

    def env(self, token: str | None = None) -> dict:
        return {"GITHUB_API_URL": self.url, "GITHUB_TOKEN": self.token if token is None else token,
                "GITHUB_REPOSITORY": self.repo}

    # ------------------------------------------------------------------ state, for seeding and assertions

    @property
    def state(self) -> dict:
        """The state (a copy when it lives in a file: change it with `update`)."""
        if self.state_file is not None:
            return json.loads(self.state_file.read_text())
        return self._state

    def update(self, change) -> None:
        with self._lock:
            state = self._load()
            change(state)
            self._save(state)

    def _load(self) -> dict:
        return json.loads(self.state_file.read_text()) if self.state_file is not None else self._state

    def _save(self, state: dict) -> None:
        if self.state_file is not None:
            self.state_file.write_text(json.dumps(state, indent=2))

    def add_pr(self, number: int, head_sha: str | None = None) -> None:
        def change(state):
            state["pulls"][str(number)] = {"number": number, "state": "open",
                                           "head": {"sha": head_sha or f"{number:040x}"}}
        self.update(change)

    def seed(self, number: int, body: str, login: str = "octocat", user_type: str = "User") -> dict:
        """A comment someone else wrote, as if it were already on the issue or pull request."""
        made = []
        self.update(lambda state: made.append(self._new_comment(state, number, body,
                                                                {"login": login, "id": 1, "type": user_type})))
        return made[0]

    def add_package_version(self, package: str, tags: list[str], created_at: str = "2026-01-01T00:00:00Z") -> int:
        ids = []

        def change(state):
            state["next_id"] += 1
            ids.append(state["next_id"])
            state["packages"].setdefault(package, []).append({
                "id": state["next_id"], "name": f"sha256:{state['next_id']:064x}", "created_at": created_at,
                "metadata": {"package_type": "container", "container": {"tags": list(tags)}}})
        self.update(change)
        return ids[0]

    def comments_on(self, number: int) -> list[dict]:
        return [dict(c) for c in self.state["comments"] if c["issue"] == number]

    def all_requests(self) -> list[dict]:
        if self.requests_file is not None:
            if not self.requests_file.exists():
                return []
            return [json.loads(line) for line in self.requests_file.read_text().splitlines() if line.strip()]
        with self._lock:
            return list(self.requests)

    def writes(self, since: int = 0) -> list[dict]:
        """Requests that would change something on GitHub (anything but GET), from index `since`."""
        return [r for r in self.all_requests()[since:] if r["method"] != "GET"]

    def fail(self, status: int, times: int = 1, headers: dict | None = None, message: str = "") -> None:
        """The next `times` requests get this status (e.g. 502, or 403 with retry-after: a secondary rate limit)."""
        with self._lock:
            self._failures += [(status, dict(headers or {}), message or f"stub failure {status}")] * times

    def secret(self, name: str, environment: str = "") -> str:
        """The plain text of a stored secret: the sealed box opened with the stub's private key."""
        from nacl import public

        sealed = base64.b64decode(self.state["secrets"][environment][name]["encrypted_value"])
        return public.SealedBox(self._keypair()).decrypt(sealed).decode()

    def _keypair(self):
        from nacl import public

        if self._keys is None:
            self._keys = public.PrivateKey(bytes(range(32)))  # fixed, so a file-backed stub reopens old boxes
        return self._keys

    # ------------------------------------------------------------------ HTTP

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        method = handler.command
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        auth = handler.headers.get("Authorization") or ""
        token = auth.split(" ", 1)[1].strip() if auth.lower().startswith(("bearer ", "token ")) else ""
        record = {"method": method, "path": parts.path, "query": parts.query, "authorization": auth or None,
                  "authorized": bool(token), "body": None, "status": None}
        headers: dict = {}
        with self._lock:
            if self._failures:
                status, headers, message = self._failures.pop(0)
                payload = {"message": message}
            else:
                state = self._load()
                status, payload, headers = self._route(state, method, parts.path, parse_qs(parts.query), raw,
                                                       token, record)
                self._save(state)
            record["status"] = status
            self.requests.append(record)
            if self.requests_file is not None:
                with open(self.requests_file, "a") as log:
                    log.write(json.dumps(record) + "\n")
        data = b"" if payload is None else json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(data)

    def _route(self, state, method, path, query, raw, token, record):
        if token in self.read_only_tokens and method != "GET":
            return 403, {"message": "Resource not accessible by integration", "status": "403"}, {}
        if token != self.token and token not in self.read_only_tokens | self.write_tokens:
            return 401, {"message": "Bad credentials", "status": "401"}, {}
        body = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                return 400, {"message": "Problems parsing JSON"}, {}
            record["body"] = body.get("body") if isinstance(body, dict) and "body" in body else body
        owner = self.repo.split("/")[0]
        packages = re.fullmatch(rf"/(users|orgs)/{re.escape(owner)}/packages/container/([^/]+)/versions(?:/(\d+))?",
                                path, re.I)  # owner and repository names are case-insensitive on GitHub
        if packages:
            return self._packages(state, method, unquote(packages[2]), packages[3], token, query, path)
        if (user := re.fullmatch(r"/users/([^/]+)", path)) and method == "GET":
            found = state["users"].get(user[1])
            return (200, {"login": user[1], "id": found, "type": "User"}, {}) if found else (404, NOT_FOUND, {})
        prefix = f"/repos/{self.repo}"
        if not (path.lower() == prefix.lower() or path.lower().startswith(prefix.lower() + "/")):
            return 404, NOT_FOUND, {}
        rest = path[len(prefix):]
        if rest == "" and method == "GET":
            return self.get_repo(state, token == self.token)
        for verb, pattern, name, admin in ROUTES:
            match = pattern.fullmatch(rest)
            if match and verb == method:
                if admin and token != self.token:
                    return 403, {"message": ADMIN_ONLY}, {}
                result = getattr(self, name)(state, query, body, *[unquote(g) for g in match.groups()])
                return result if len(result) == 3 else (*result, {})
        return 404, NOT_FOUND, {}

    # ------------------------------------------------------------------ comments, pulls, issues

    def _new_comment(self, state, number: int, body: str, user: dict) -> dict:
        state["next_id"] += 1
        cid = state["next_id"]
        stamp = f"2025-01-01T00:{cid % 60:02d}:00Z"
        comment = {"id": cid, "issue": number, "node_id": f"IC_{cid}", "body": body, "user": dict(user),
                   "html_url": f"https://github.com/{self.repo}/pull/{number}#issuecomment-{cid}",
                   "created_at": stamp, "updated_at": stamp,
                   "author_association": "NONE" if user.get("type") == "Bot" else "CONTRIBUTOR"}
        state["comments"].append(comment)
        return comment

    @staticmethod
    def _invalid(body):
        if not isinstance(body, dict) or not isinstance(body.get("body"), str):
            return 422, {"message": "Invalid request.\n\nFor 'properties/body', nil is not a string."}
        if len(body["body"]) > BODY_LIMIT:
            return 422, {"message": "Validation Failed", "errors": [
                {"resource": "IssueComment", "code": "custom", "field": "body",
                 "message": f"body is too long (maximum is {BODY_LIMIT} characters)"}]}
        return None

    def _known(self, state, number: int) -> bool:
        return str(number) in state["pulls"] or any(i["number"] == number for i in state["issues"])

    def list_comments(self, state, query, body, number):
        if not self._known(state, int(number)):
            return 404, NOT_FOUND
        comments = [c for c in state["comments"] if c["issue"] == int(number)]
        return self._page(comments, f"{self.url}/repos/{self.repo}/issues/{number}/comments", query)

    def create_comment(self, state, query, body, number):
        if not self._known(state, int(number)):
            return 404, NOT_FOUND
        return self._invalid(body) or (201, self._new_comment(state, int(number), body["body"], BOT))

    def update_comment(self, state, query, body, comment_id):
        found = next((c for c in state["comments"] if c["id"] == int(comment_id)), None)
        if found is None:
            return 404, NOT_FOUND
        if problem := self._invalid(body):
            return problem
        found["body"], found["updated_at"] = body["body"], "2025-01-02T00:00:00Z"
        return 200, dict(found)

    def get_pull(self, state, query, body, number):
        pull = state["pulls"].get(str(int(number)))
        return (200, pull) if pull else (404, NOT_FOUND)

    def list_issues(self, state, query, body):
        labels = set(filter(None, query.get("labels", [""])[0].split(",")))
        wanted = query.get("state", ["open"])[0]
        found = [i for i in state["issues"] if wanted in ("all", i["state"])
                 and labels <= {label["name"] for label in i["labels"]}]
        return self._page(found, f"{self.url}/repos/{self.repo}/issues", query)

    def create_issue(self, state, query, body):
        if not isinstance(body, dict) or not body.get("title"):
            return 422, {"message": "Invalid request.\n\n\"title\" wasn't supplied."}
        number = len(state["issues"]) + 1
        state["next_id"] += 1
        issue = {"number": number, "id": state["next_id"], "title": body["title"], "body": body.get("body", ""),
                 "state": "open", "labels": [{"name": name} for name in body.get("labels", [])], "user": BOT,
                 "html_url": f"https://github.com/{self.repo}/issues/{number}"}
        state["issues"].append(issue)
        return 201, issue

    def _page(self, items: list, base: str, query: dict):
        try:
            per_page = min(max(int(query.get("per_page", ["30"])[0]), 1), 100)
            page = max(int(query.get("page", ["1"])[0]), 1)
        except ValueError:
            return 422, {"message": "Invalid pagination"}
        last = max(1, -(-len(items) // per_page))
        links = {}
        if page < last:
            rest = "".join(f"&{k}={v[0]}" for k, v in query.items() if k not in ("per_page", "page"))
            links["Link"] = (f'<{base}?per_page={per_page}&page={page + 1}{rest}>; rel="next", '
                             f'<{base}?per_page={per_page}&page={last}{rest}>; rel="last"')
        return 200, [dict(i) for i in items[(page - 1) * per_page: page * per_page]], links

    # ------------------------------------------------------------------ actions, deployments

    def dispatch(self, state, query, body, workflow):
        if not isinstance(body, dict) or not body.get("ref"):
            return 422, {"message": "Invalid request.\n\n\"ref\" wasn't supplied."}
        state["dispatches"].append({"workflow": workflow, **body})
        return 204, None

    def enable(self, state, query, body, workflow):
        state["enabled"].append(workflow)
        return 204, None

    def create_deployment(self, state, query, body):
        if not isinstance(body, dict) or not body.get("ref"):
            return 422, {"message": "Invalid request.\n\n\"ref\" wasn't supplied."}
        state["next_id"] += 1
        deployment = {"id": state["next_id"], "ref": body["ref"], "task": body.get("task", "deploy"),
                      "environment": body.get("environment", "production"), "payload": body.get("payload", {}),
                      "description": body.get("description"), "auto_merge": body.get("auto_merge", True),
                      "required_contexts": body.get("required_contexts"),
                      "production_environment": body.get("production_environment"), "creator": BOT, "statuses": []}
        state["deployments"].append(deployment)
        return 201, {k: v for k, v in deployment.items() if k != "statuses"}

    def create_deployment_status(self, state, query, body, deployment_id):
        deployment = next((d for d in state["deployments"] if d["id"] == int(deployment_id)), None)
        if deployment is None:
            return 404, NOT_FOUND
        if not isinstance(body, dict) or body.get("state") not in DEPLOYMENT_STATES:
            return 422, {"message": f"state must be one of {sorted(DEPLOYMENT_STATES)}"}
        if len(body.get("description") or "") > 140:
            return 422, {"message": "description is too long (maximum is 140 characters)"}
        state["next_id"] += 1
        status = {"id": state["next_id"], **body}
        deployment["statuses"].append(status)
        return 201, status

    # ------------------------------------------------------------------ repository settings

    def get_repo(self, state, admin: bool):
        owner, name = self.repo.split("/")
        return 200, {"full_name": self.repo, "name": name, "private": False, "visibility": "public",
                     "owner": {"login": owner, "type": state["owner_type"]}, "default_branch": "main",
                     "permissions": {"admin": admin, "push": True, "pull": True}}, {}

    def get_environment(self, state, query, body, name):
        found = state["environments"].get(name)
        return (200, found) if found else (404, NOT_FOUND)

    def put_environment(self, state, query, body, name):
        body = body if isinstance(body, dict) else {}
        rules = []
        reviewers = body.get("reviewers") or []
        for reviewer in reviewers:
            if reviewer.get("type") not in ("User", "Team") or not isinstance(reviewer.get("id"), int):
                return 422, {"message": "Invalid request.\n\nreviewers need a type (User or Team) and an integer id"}
        if reviewers:
            rules.append({"type": "required_reviewers", "prevent_self_review": bool(body.get("prevent_self_review")),
                          "reviewers": [{"type": r["type"], "reviewer": {"id": r["id"]}} for r in reviewers]})
        if body.get("wait_timer"):
            rules.append({"type": "wait_timer", "wait_timer": body["wait_timer"]})
        environment = {"name": name, "protection_rules": rules,
                       "deployment_branch_policy": body.get("deployment_branch_policy")}
        state["environments"][name] = environment
        state["variables"].setdefault(name, {})
        state["secrets"].setdefault(name, {})
        return 200, environment

    def _scope(self, state, kind, environment):
        if environment and environment not in state["environments"]:
            return None
        return state[kind].setdefault(environment or "", {})

    def list_variables(self, state, query, body, environment=""):
        scope = self._scope(state, "variables", environment)
        if scope is None:
            return 404, NOT_FOUND
        items = [{"name": k, "value": v} for k, v in sorted(scope.items())]
        return 200, {"total_count": len(items), "variables": items}

    def create_variable(self, state, query, body, environment=""):
        scope = self._scope(state, "variables", environment)
        if scope is None:
            return 404, NOT_FOUND
        if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not isinstance(body.get("value"),
                                                                                                 str):
            return 422, {"message": "Invalid request.\n\nname and value are required strings."}
        if body["name"] in scope:
            return 409, {"message": "Already exists - Variable already exists"}
        scope[body["name"]] = body["value"]
        return 201, {}

    def update_variable(self, state, query, body, *names):
        environment, name = (names if len(names) == 2 else ("", names[0]))
        scope = self._scope(state, "variables", environment)
        if scope is None or name not in scope:
            return 404, NOT_FOUND
        scope[name] = body.get("value", scope[name]) if isinstance(body, dict) else scope[name]
        return 204, None

    def update_env_variable(self, state, query, body, environment, name):
        return self.update_variable(state, query, body, environment, name)

    def list_secrets(self, state, query, body, environment=""):
        scope = self._scope(state, "secrets", environment)
        if scope is None:
            return 404, NOT_FOUND
        items = [{"name": k, "created_at": v["created_at"]} for k, v in sorted(scope.items())]
        return 200, {"total_count": len(items), "secrets": items}

    def public_key(self, state, query, body, environment=""):
        if self._scope(state, "secrets", environment) is None:
            return 404, NOT_FOUND
        key = base64.b64encode(bytes(self._keypair().public_key)).decode()
        return 200, {"key_id": "568250167242549743", "key": key}

    def put_secret(self, state, query, body, *names):
        environment, name = (names if len(names) == 2 else ("", names[0]))
        scope = self._scope(state, "secrets", environment)
        if scope is None:
            return 404, NOT_FOUND
        if not isinstance(body, dict) or body.get("key_id") != "568250167242549743":
            return 422, {"message": "Invalid request.\n\nkey_id does not match the public key."}
        try:
            from nacl import public

            public.SealedBox(self._keypair()).decrypt(base64.b64decode(body.get("encrypted_value", "")))
        except Exception:  # noqa: BLE001 (any failure to open is GitHub's 422)
            return 422, {"message": "Bad request: encrypted_value is not a sealed box for this key."}
        created = name not in scope
        scope[name] = {"encrypted_value": body["encrypted_value"], "created_at": "2026-01-01T00:00:00Z"}
        return (201, {}) if created else (204, None)

    def put_env_secret(self, state, query, body, environment, name):
        return self.put_secret(state, query, body, environment, name)

    def get_workflow_permissions(self, state, query, body):
        return 200, dict(state["workflow_permissions"])

    def put_workflow_permissions(self, state, query, body):
        if not isinstance(body, dict) or body.get("default_workflow_permissions") not in ("read", "write"):
            return 422, {"message": "Invalid request.\n\ndefault_workflow_permissions must be read or write."}
        state["workflow_permissions"] = {
            "default_workflow_permissions": body["default_workflow_permissions"],
            "can_approve_pull_request_reviews": bool(body.get("can_approve_pull_request_reviews"))}
        return 204, None

    # ------------------------------------------------------------------ container packages

    def _packages(self, state, method, package, version_id, token, query, path):
        kind = "orgs" if state["owner_type"] == "Organization" else "users"
        if package not in state["packages"] or not path.startswith(f"/{kind}/"):  # orgs/ for an organisation
            return 404, {"message": "Package not found."}, {}
        versions = state["packages"][package]
        if method == "GET" and version_id is None:
            return self._page(versions, self.url + path, query)
        if method == "DELETE" and version_id is not None:
            if token != self.token:
                return 403, {"message": ADMIN_ONLY}, {}
            if len(versions) == 1:  # GitHub refuses to delete the last version: delete the package instead
                return 400, {"message": "You cannot delete the last version of a package."}, {}
            for i, version in enumerate(versions):
                if version["id"] == int(version_id):
                    del versions[i]
                    return 204, None, {}
            return 404, NOT_FOUND, {}
        return 404, NOT_FOUND, {}


ENV = r"/environments/([^/]+)"
ROUTES = [  # (method, path under /repos/{owner}/{repo}, handler, admin only)
    ("GET", re.compile(r"/issues/(\d+)/comments"), "list_comments", False),
    ("POST", re.compile(r"/issues/(\d+)/comments"), "create_comment", False),
    ("PATCH", re.compile(r"/issues/comments/(\d+)"), "update_comment", False),
    ("GET", re.compile(r"/pulls/(\d+)"), "get_pull", False),
    ("GET", re.compile(r"/issues"), "list_issues", False),
    ("POST", re.compile(r"/issues"), "create_issue", False),
    ("POST", re.compile(r"/actions/workflows/([^/]+)/dispatches"), "dispatch", False),
    ("PUT", re.compile(r"/actions/workflows/([^/]+)/enable"), "enable", False),
    ("POST", re.compile(r"/deployments"), "create_deployment", False),
    ("POST", re.compile(r"/deployments/(\d+)/statuses"), "create_deployment_status", False),
    ("GET", re.compile(ENV), "get_environment", True),
    ("PUT", re.compile(ENV), "put_environment", True),
    ("GET", re.compile(r"/actions/variables"), "list_variables", True),
    ("POST", re.compile(r"/actions/variables"), "create_variable", True),
    ("PATCH", re.compile(r"/actions/variables/([^/]+)"), "update_variable", True),
    ("GET", re.compile(ENV + r"/variables"), "list_variables", True),
    ("POST", re.compile(ENV + r"/variables"), "create_variable", True),
    ("PATCH", re.compile(ENV + r"/variables/([^/]+)"), "update_env_variable", True),
    ("GET", re.compile(r"/actions/secrets"), "list_secrets", True),
    ("GET", re.compile(r"/actions/secrets/public-key"), "public_key", True),
    ("PUT", re.compile(r"/actions/secrets/([^/]+)"), "put_secret", True),
    ("GET", re.compile(ENV + r"/secrets"), "list_secrets", True),
    ("GET", re.compile(ENV + r"/secrets/public-key"), "public_key", True),
    ("PUT", re.compile(ENV + r"/secrets/([^/]+)"), "put_env_secret", True),
    ("GET", re.compile(r"/actions/permissions/workflow"), "get_workflow_permissions", True),
    ("PUT", re.compile(r"/actions/permissions/workflow"), "put_workflow_permissions", True),
]




