"""Loopback services for act runs: a GitHub REST API stand-in, and bridges to ports on the host.

`run_act(network=False)` runs act in a private network namespace whose loopback is its own, so a
server the test starts on the host's 127.0.0.1 cannot be reached from a workflow step. Instead,
`Loopback.install(monkeypatch)` puts an `act` wrapper first on PATH (harness.act_binary() finds it);
inside the namespace the wrapper starts `python loopback.py serve CONFIG`, runs the real act, then
stops the server. The server provides:

* a GitHub REST API stand-in on 127.0.0.1:<api_port> (point GITHUB_API_URL at `Loopback.api_url`):
  workflow dispatches and enables, issues, issue comments, pulls/<n>, deployments and their statuses,
  enough for drift alerts, keep-alive, the PR comment poster and the deploy records. Its state
  (`state.json`, seeded by the test) and every request (`requests.jsonl`) persist in the loopback
  directory across act runs;
* bridges: 127.0.0.1:<port> inside the namespace forwards to 127.0.0.1:<port> on the host, where a
  `docker run --network host` container listens (the Docker daemon lives outside the namespace).
  The listening socket is made in the namespace; the server then joins the host's network
  namespace (setns, needs root) for the outgoing side. Nothing else leaves the namespace.

No pytest import at module level: the server half runs as a plain script.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

HERE = Path(__file__).resolve().parent
BOT = {"login": "github-actions[bot]", "id": 41898282, "type": "Bot"}
CLONE_NEWNET = 0x40000000

WRAPPER = """#!/bin/sh
# act wrapper written by tests/act/loopback.py: loopback services inside act's network namespace.
rm -f {ready}
{python} {script} serve {config} >>{log} 2>&1 &
svc=$!
tries=0
while [ ! -e {ready} ]; do
    tries=$((tries + 1))
    if [ "$tries" -gt 200 ] || ! kill -0 "$svc" 2>/dev/null; then
        echo "loopback services did not start; see {log}" >&2
        kill "$svc" 2>/dev/null
        exit 1
    fi
    sleep 0.05
done
{act} "$@"
rc=$?
kill "$svc" 2>/dev/null
wait "$svc" 2>/dev/null
exit "$rc"
"""


def _quote(value: object) -> str:
    return "'" + str(value).replace("'", "'\\''") + "'"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Loopback:
    """The test side: config, wrapper, and the API stand-in's state and request log."""

    def __init__(self, directory: Path | str, *, repo: str = "acme/demo", bridges: tuple[int, ...] = ()):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.repo = repo
        self.api_port = 18000 + os.getpid() % 2000  # inside the namespace every port is free
        self.config = self.dir / "config.json"
        self.state_file = self.dir / "state.json"
        self.requests_file = self.dir / "requests.jsonl"
        self.config.write_text(json.dumps({
            "api_port": self.api_port,
            "state": str(self.state_file),
            "requests": str(self.requests_file),
            "ready": str(self.dir / "ready"),
            "bridges": list(bridges),
            "host_netns": f"/proc/{os.getpid()}/ns/net",
        }, indent=2))
        if not self.state_file.exists():
            self.save({"issues": [], "comments": [], "pulls": {}, "next_id": 1000})

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def install(self, monkeypatch, act: str) -> None:
        """Write the wrapper around the real `act` binary and put it first on PATH for the rest of the test."""
        real = act
        bindir = self.dir / "bin"
        bindir.mkdir(exist_ok=True)
        wrapper = bindir / "act"
        wrapper.write_text(WRAPPER.format(
            ready=_quote(self.dir / "ready"), python=_quote(sys.executable), script=_quote(Path(__file__)),
            config=_quote(self.config), log=_quote(self.dir / "server.log"), act=_quote(real)))
        wrapper.chmod(0o755)
        monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
        assert shutil.which("act") == str(wrapper)

    # state and requests, for seeding and assertions
    def state(self) -> dict:
        return json.loads(self.state_file.read_text())

    def save(self, state: dict) -> None:
        self.state_file.write_text(json.dumps(state, indent=2))

    def add_pull(self, number: int, head_sha: str) -> None:
        state = self.state()
        state["pulls"][str(number)] = {"number": number, "state": "open", "head": {"sha": head_sha}}
        self.save(state)

    def requests(self) -> list[dict]:
        if not self.requests_file.exists():
            return []
        return [json.loads(line) for line in self.requests_file.read_text().splitlines() if line.strip()]

    def writes(self) -> list[tuple[str, str]]:
        return [(r["method"], r["path"]) for r in self.requests() if r["method"] != "GET"]


# --------------------------------------------------------------------------- server (in the namespace)


ROUTES = [
    ("POST", re.compile(r"/repos/[^/]+/[^/]+/actions/workflows/([^/]+)/dispatches"), "dispatch"),
    ("PUT", re.compile(r"/repos/[^/]+/[^/]+/actions/workflows/([^/]+)/enable"), "enable"),
    ("GET", re.compile(r"/repos/[^/]+/[^/]+/issues"), "list_issues"),
    ("POST", re.compile(r"/repos/[^/]+/[^/]+/issues"), "create_issue"),
    ("GET", re.compile(r"/repos/[^/]+/[^/]+/issues/(\d+)/comments"), "list_comments"),
    ("POST", re.compile(r"/repos/[^/]+/[^/]+/issues/(\d+)/comments"), "create_comment"),
    ("PATCH", re.compile(r"/repos/[^/]+/[^/]+/issues/comments/(\d+)"), "update_comment"),
    ("GET", re.compile(r"/repos/[^/]+/[^/]+/pulls/(\d+)"), "get_pull"),
    ("POST", re.compile(r"/repos/[^/]+/[^/]+/deployments"), "create_deployment"),
    ("POST", re.compile(r"/repos/[^/]+/[^/]+/deployments/(\d+)/statuses"), "create_deployment_status"),
]
DEPLOYMENT_STATES = {"error", "failure", "inactive", "in_progress", "queued", "pending", "success"}


class Api:
    """GitHub's shapes and status codes for the endpoints the generated workflows call."""

    def __init__(self, config: dict):
        self.config = config
        self.lock = threading.Lock()

    def load(self) -> dict:
        return json.loads(Path(self.config["state"]).read_text())

    def store(self, state: dict) -> None:
        Path(self.config["state"]).write_text(json.dumps(state, indent=2))

    def handle(self, method: str, path: str, query: dict, body: object, token: str) -> tuple[int, object]:
        if not token:
            return 401, {"message": "Requires authentication"}
        for verb, pattern, name in ROUTES:
            match = pattern.fullmatch(path)
            if verb == method and match:
                with self.lock:
                    state = self.load()
                    status, payload = getattr(self, name)(state, query, body, *match.groups())
                    self.store(state)
                return status, payload
        return 404, {"message": "Not Found"}

    def _next(self, state: dict) -> int:
        state["next_id"] += 1
        return state["next_id"]

    def dispatch(self, state, query, body, workflow):
        if not isinstance(body, dict) or not body.get("ref"):
            return 422, {"message": "ref is required"}
        state.setdefault("dispatches", []).append({"workflow": workflow, **body})
        return 204, None

    def enable(self, state, query, body, workflow):
        state.setdefault("enabled", []).append(workflow)
        return 204, None

    def list_issues(self, state, query, body):
        labels = set(filter(None, query.get("labels", [""])[0].split(",")))
        wanted = query.get("state", ["open"])[0]
        found = [i for i in state["issues"] if wanted in ("all", i["state"])
                 and labels <= {label["name"] for label in i["labels"]}]
        return 200, found

    def create_issue(self, state, query, body):
        if not isinstance(body, dict) or not body.get("title"):
            return 422, {"message": "title is required"}
        number = len(state["issues"]) + 1
        issue = {"number": number, "id": self._next(state), "title": body["title"], "body": body.get("body", ""),
                 "state": "open", "labels": [{"name": name} for name in body.get("labels", [])], "user": BOT,
                 "html_url": f"https://github.com/acme/demo/issues/{number}"}
        state["issues"].append(issue)
        return 201, issue

    def list_comments(self, state, query, body, number):
        return 200, [c for c in state["comments"] if c["issue"] == int(number)]

    def create_comment(self, state, query, body, number):
        if not isinstance(body, dict) or not isinstance(body.get("body"), str):
            return 422, {"message": "body is required"}
        comment = {"id": self._next(state), "issue": int(number), "body": body["body"], "user": BOT,
                   "html_url": f"https://github.com/acme/demo/issues/{number}#issuecomment-{state['next_id']}"}
        state["comments"].append(comment)
        return 201, comment

    def update_comment(self, state, query, body, comment_id):
        for comment in state["comments"]:
            if comment["id"] == int(comment_id):
                comment["body"] = body.get("body", "") if isinstance(body, dict) else ""
                return 200, comment
        return 404, {"message": "Not Found"}

    def create_deployment(self, state, query, body):
        if not isinstance(body, dict) or not body.get("ref"):
            return 422, {"message": "ref is required"}
        deployment = {"id": self._next(state), "ref": body["ref"], "task": body.get("task", "deploy"),
                      "environment": body.get("environment", "production"), "payload": body.get("payload", {}),
                      "description": body.get("description"), "auto_merge": body.get("auto_merge", True),
                      "required_contexts": body.get("required_contexts"),
                      "production_environment": body.get("production_environment"), "creator": BOT, "statuses": []}
        state.setdefault("deployments", []).append(deployment)
        return 201, {k: v for k, v in deployment.items() if k != "statuses"}

    def create_deployment_status(self, state, query, body, deployment_id):
        deployment = next((d for d in state.get("deployments", []) if d["id"] == int(deployment_id)), None)
        if deployment is None:
            return 404, {"message": "Not Found"}
        if not isinstance(body, dict) or body.get("state") not in DEPLOYMENT_STATES:
            return 422, {"message": f"state must be one of {sorted(DEPLOYMENT_STATES)}"}
        if len(body.get("description") or "") > 140:
            return 422, {"message": "description is too long (maximum is 140 characters)"}
        status = {"id": self._next(state), **body}
        deployment["statuses"].append(status)
        return 201, status

    def get_pull(self, state, query, body, number):
        pull = state["pulls"].get(str(int(number)))
        return (200, pull) if pull else (404, {"message": "Not Found"})


def serve_api(config: dict) -> ThreadingHTTPServer:
    api = Api(config)

    class Handler(BaseHTTPRequestHandler):
        def _any(self):
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            auth = self.headers.get("Authorization") or ""
            token = auth.split(" ", 1)[1].strip() if auth.lower().startswith(("bearer ", "token ")) else ""
            status, payload = api.handle(self.command, parts.path, parse_qs(parts.query), body, token)
            with open(config["requests"], "a") as log:
                log.write(json.dumps({"method": self.command, "path": parts.path, "query": parts.query,
                                      "body": body, "authorized": bool(token), "status": status}) + "\n")
            data = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

        def log_message(self, *args):
            pass

    return ThreadingHTTPServer(("127.0.0.1", config["api_port"]), Handler)


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _bridge(listener: socket.socket, port: int) -> None:
    while True:
        client, _ = listener.accept()
        try:
            upstream = socket.create_connection(("127.0.0.1", port), timeout=5)  # in the host's namespace
            upstream.settimeout(None)
        except OSError:
            client.close()  # nothing listens on the host yet: the client retries
            continue
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=_pipe, args=(a, b), daemon=True).start()


def serve(config_path: str) -> None:
    config = json.loads(Path(config_path).read_text())
    api = serve_api(config)
    listeners = []
    for port in config["bridges"]:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(16)
        listeners.append((listener, port))
    if listeners:  # every socket above stays in act's namespace; new ones are made on the host's
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(config["host_netns"], os.O_RDONLY)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns({config['host_netns']}) failed (needs root)")
        os.close(fd)
    for listener, port in listeners:
        threading.Thread(target=_bridge, args=(listener, port), daemon=True).start()
    Path(config["ready"]).write_text("ready\n")
    api.serve_forever(0.1)


if __name__ == "__main__":
    if sys.argv[1:2] != ["serve"] or len(sys.argv) != 3:
        sys.exit("usage: loopback.py serve CONFIG")
    serve(sys.argv[2])
