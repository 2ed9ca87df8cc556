"""Loopback services for act runs: a GitHub REST API stand-in, and bridges to ports on the host.

`run_act(network=False)` runs act in a private network namespace whose loopback is its own, so a
server the test starts on the host's 127.0.0.1 cannot be reached from a workflow step. Instead,
`Loopback.install(monkeypatch)` puts an `act` wrapper first on PATH (harness.act_binary() finds it);
inside the namespace the wrapper starts `python loopback.py serve CONFIG`, runs the real act, then
stops the server. The server provides:

* the tests' one fake GitHub REST API (the generated project's tests/github_stub.py) on
  127.0.0.1:<api_port> (point GITHUB_API_URL at `Loopback.api_url`), with act's dummy token as the
  repository admin's. Its state (`state.json`, seeded by the test) and every request
  (`requests.jsonl`) persist in the loopback directory across act runs;
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
import shutil
import socket
import sys
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
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


def _stub_module():
    """The generated project's tests/github_stub.py, compiled without leaving a __pycache__ in the template."""
    import types

    source = HERE.parents[1] / "{{cookiecutter.project_slug}}" / "tests" / "github_stub.py"
    module = types.ModuleType("generated_github_stub")
    module.__file__ = str(source)
    exec(compile(source.read_text(), str(source), "exec"), module.__dict__)
    return module


DUMMY_TOKEN = "act-standin-dummy-github-token"  # harness.DUMMY_TOKEN: what github.token is under act


class Loopback:
    """The test side: config, wrapper, and the fake API's state and request log."""

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
            "repo": repo,
            "token": DUMMY_TOKEN,
            "bridges": list(bridges),
            "host_netns": f"/proc/{os.getpid()}/ns/net",
        }, indent=2))
        # Not started here: it reads and writes the same files as the server that act's wrapper starts.
        self.stub = _stub_module().GitHubStub(repo=repo, token=DUMMY_TOKEN, prs=(), state_file=self.state_file,
                                              requests_file=self.requests_file)

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
        return self.stub.state

    def add_pull(self, number: int, head_sha: str) -> None:
        self.stub.add_pr(number, head_sha)

    def requests(self) -> list[dict]:
        return self.stub.all_requests()

    def writes(self) -> list[tuple[str, str]]:
        return [(r["method"], r["path"]) for r in self.requests() if r["method"] != "GET"]


# --------------------------------------------------------------------------- server (in the namespace)


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
    _stub_module().GitHubStub(repo=config["repo"], token=config["token"], prs=(), state_file=config["state"],
                              requests_file=config["requests"]).start(port=config["api_port"])
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
    threading.Event().wait()


if __name__ == "__main__":
    if sys.argv[1:2] != ["serve"] or len(sys.argv) != 3:
        sys.exit("usage: loopback.py serve CONFIG")
    serve(sys.argv[2])
