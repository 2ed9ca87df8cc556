"""What the served model reports, run for real (issue 25): checks that tests/test_docker.py runs as subtests
of its one serving test, on the project and image it already built (one pipeline run, one image).

- In the image: request ids, /metrics (multiprocess files in /dev/shm), capture on a named volume mounted
  as deploys mount it, under a read-only root filesystem; the image declares no VOLUME, and run without a
  mount (read-only root) it answers every request and counts the drops.
- On the host, the image's command with two uvicorn workers on a free loopback port:
  - a real Prometheus (Debian's package) scrapes it with the shipped alert rules; the capture folder is
    read-only, so every record is dropped, and the CaptureDropping alert fires, seen through
    Prometheus' HTTP API; the sums over both workers prove multiprocess mode;
  - a full capture folder (a 64 KiB tmpfs, filled): 0 failed requests, the drop counter rises;
  - a worker killed under load: uvicorn replaces it, the new process writes files of its own, and the
    reader skips a torn last line and loses no whole one.
Everything listens on 127.0.0.1 only; mounts, processes and folders are removed afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def metric(text: str, name: str) -> float:
    """Sum of the samples of `name` (a metric name, or a name with its exact label set) in exposition text."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and line[len(name)] in " {":
            total += float(line.rsplit(" ", 1)[1])
    return total


def raw_request(port: int, head: bytes, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 request written byte for byte (clients refuse to send malformed headers)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(head + b"\r\n" + body)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    header, _, payload = data.partition(b"\r\n\r\n")
    lines = header.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, payload


def predict_head(port: int, body: bytes, request_id: bytes) -> bytes:
    return (b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nConnection: close\r\nX-Request-ID: %s\r\n" % (port, len(body), request_id))


def sh(*args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, check=False, timeout=120, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"`{' '.join(args)}` exited {result.returncode}: {result.stdout}{result.stderr}")
    return result


# ------------------------------------------------------------------------------------------------ the image
def check_image_request_ids_metrics_and_capture(served) -> None:
    port = int(str(served.client.base_url).rsplit(":", 1)[1])
    ok = served.client.post("/predict", json={"records": served.records[:2]}, headers={"X-Request-ID": "order-7"})
    assert ok.status_code == 200 and ok.headers["x-request-id"] == "order-7"
    assert ok.json()["record_ids"] == ["order-7-0", "order-7-1"]
    body = json.dumps({"records": served.records[:1]}).encode()
    replaced = []
    for bad in (b"evil\x01id", b"z" * 300, b"two words"):
        status, headers, payload = raw_request(port, predict_head(port, body, bad), body)
        if bad == b"evil\x01id" and status == 400:  # httptools refuses a control character before the app
            assert b"evil" not in payload and "evil" not in headers.get("x-request-id", ""), payload
            continue
        assert status == 200, payload
        new = headers["x-request-id"]
        assert len(new) == 32 and bad.decode("latin-1") not in payload.decode() and json.loads(payload)[
            "request_id"] == new
        replaced.append(new)
    logs = sh("docker", "logs", served.name).stdout
    assert "evil" not in logs and "z" * 300 not in logs and "two words" not in logs
    # The records reach the capture volume (mounted as deploys mount it; writable under --read-only) with the
    # same ids.
    script = (f"import json; from {served.project.package}.capture import read_captures;"
              "c = read_captures('/var/lib/capture');"
              "print(json.dumps([[r['record_id'] for r in c.records], c.skipped]))")
    wanted = {"order-7-0", "order-7-1", *(f"{r}-0" for r in replaced)}
    deadline = time.monotonic() + 10
    while True:
        ids, skipped = json.loads(sh("docker", "exec", served.name, "python", "-c", script).stdout)
        if wanted <= set(ids) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert wanted <= set(ids) and skipped == 0, ids
    text = served.client.get("/metrics").text
    metadata = json.loads((served.project.path / "build/model/metadata.json").read_text())
    assert f'sha256="{metadata["model_sha256"]}"' in text and metric(text, "model_records_scored_total") >= 5
    assert metric(text, 'capture_records_dropped_total{reason="write_error"}') == 0
    shm = sh("docker", "exec", served.name, "ls", "/dev/shm/metrics").stdout.split()
    assert any(name.startswith("counter_") for name in shm), shm  # multiprocess mode, as the image sets it


def check_image_declares_no_volume_and_answers_without_one(served) -> None:
    """No VOLUME in the image (every container run without a mount would leave an anonymous volume behind).
    Run without a mount under a read-only root, capture has nowhere to write: the start-up log says so,
    requests are answered, and the drops are counted."""
    assert sh("docker", "image", "inspect", "-f", "{{json .Config.Volumes}}", served.tag).stdout.strip() == "null"
    port, name = free_port(), f"{served.name}-nomount"
    sh("docker", "run", "-d", "--name", name, "--network", "host", "--read-only", "--cap-drop", "ALL",
       "--security-opt", "no-new-privileges", "-e", "UVICORN_HOST=127.0.0.1", "-e", f"UVICORN_PORT={port}",
       served.tag)
    try:
        deadline = time.monotonic() + 120
        while not healthy(port):
            assert time.monotonic() < deadline, sh("docker", "logs", name, check=False).stdout[-2000:]
            time.sleep(0.1)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30, trust_env=False) as client:
            answers = [client.post("/predict", json={"records": served.records[:2]}) for _ in range(3)]
            assert [a.status_code for a in answers] == [200] * 3, answers[-1].text
            dropped = wait_for("the write errors counted", lambda: metric(
                t := client.get("/metrics").text, 'capture_records_dropped_total{reason="write_error"}') >= 6 and t,
                seconds=30)
        assert metric(dropped, "capture_records_written_total") == 0
        events = [json.loads(line)["event"] for line in sh("docker", "logs", name).stdout.splitlines()
                  if line.startswith("{")]
        assert "capture_unwritable" in events and "capture_dropped" in events, events
        assert sh("docker", "inspect", "-f", "{{json .Mounts}}", name).stdout.strip() == "[]"
    finally:
        sh("docker", "rm", "-f", name, check=False)


# -------------------------------------------------------------------------------------------- on the host
@contextmanager
def mounted_tmpfs(path: Path, options: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    sh("mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path))
    try:
        yield path
    finally:
        sh("umount", "-l", str(path), check=False)


@contextmanager
def uvicorn(project, capture_dir: Path, workdir: Path, workers: int = 2) -> Iterator[tuple[int, subprocess.Popen]]:
    """The image's command on the host: `uvicorn --factory <pkg>.serving.serve:from_env`, N workers."""
    port = free_port()
    metrics_dir = workdir / f"prom-{port}"
    metrics_dir.mkdir()
    env = {**os.environ, "PYTHONPATH": str(project.path / "src"), "MODEL_DIR": str(project.path / "build/model"),
           "CAPTURE_DIR": str(capture_dir), "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
           "PYTHONUNBUFFERED": "1"}
    log = open(workdir / f"uvicorn-{port}.log", "w")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", f"{project.package}.serving.serve:from_env", "--host",
         "127.0.0.1", "--port", str(port), "--workers", str(workers), "--no-access-log"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while len(workers_of(process)) < workers or not healthy(port):
            assert process.poll() is None and time.monotonic() < deadline, (workdir / log.name).read_text()[-3000:]
            time.sleep(0.1)
        yield port, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # graceful: each worker writes what it has queued
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()


def healthy(port: int) -> bool:
    try:
        with NO_PROXY.open(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def workers_of(process: subprocess.Popen) -> list[int]:
    try:
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
    except OSError:
        return []
    workers = []
    for pid in children:  # not multiprocessing's resource tracker, also a child
        try:
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                workers.append(int(pid))
        except OSError:
            pass
    return workers


def log_lines(workdir: Path, port: int) -> list[dict]:
    lines = []
    for line in (workdir / f"uvicorn-{port}.log").read_text().splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def load(port: int, records: list[dict], requests: int, threads: int = 8, rows: int = 1) -> list:
    """`requests` POSTs of `rows` records from `threads` threads: each a response, or None when the
    connection failed (a worker killed under it)."""

    def one(i: int) -> httpx.Response | None:
        chunk = [records[(i + k) % len(records)] for k in range(rows)]
        try:
            return client.post("/predict", json={"records": chunk})
        except httpx.HTTPError:
            return None

    limits = httpx.Limits(max_connections=threads, max_keepalive_connections=threads)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30, trust_env=False, limits=limits) as client, \
            ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(requests)))


def scrape(port: int) -> str:
    with NO_PROXY.open(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return response.read().decode()


def prometheus_config(project_path: Path, target_port: int, out: Path) -> Path:
    """The shipped configuration and rules, with what a test needs changed: the app as a static target
    (Swarm's DNS is not here), 1 s intervals, and no `for:` waits."""
    config = yaml.safe_load((project_path / "monitoring/prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    job = config["scrape_configs"][0]
    assert job["dns_sd_configs"][0]["names"] == ["tasks.app"]
    del job["dns_sd_configs"]
    job["static_configs"] = [{"targets": [f"127.0.0.1:{target_port}"]}]
    rules = yaml.safe_load((project_path / "monitoring/alerts.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule["for"] = "0s"
    out.mkdir(parents=True, exist_ok=True)
    (out / "prometheus.yml").write_text(yaml.safe_dump(config))
    (out / "alerts.yml").write_text(yaml.safe_dump(rules))
    sh("promtool", "check", "config", str(out / "prometheus.yml"))
    return out / "prometheus.yml"


@contextmanager
def prometheus(config: Path, workdir: Path) -> Iterator[int]:
    port = free_port()
    log = open(workdir / "prometheus.log", "w")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={workdir / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not ready(port):
            assert process.poll() is None and time.monotonic() < deadline, (workdir / "prometheus.log").read_text()
            time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def ready(port: int) -> bool:
    try:
        with NO_PROXY.open(f"http://127.0.0.1:{port}/-/ready", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def api(port: int, path: str, **query: str) -> dict:
    url = f"http://127.0.0.1:{port}/api/v1/{path}" + ("?" + urllib.parse.urlencode(query) if query else "")
    with NO_PROXY.open(url, timeout=10) as response:
        answer = json.loads(response.read())
    assert answer["status"] == "success", answer
    return answer["data"]


def wait_for(what: str, condition, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


def check_prometheus_scrapes_two_workers_and_a_capture_alert_fires(served) -> None:
    with tempfile.TemporaryDirectory(prefix="obs-prom-") as tmp:
        work = Path(tmp)
        with mounted_tmpfs(work / "capture", "ro,size=64k") as capture_dir, \
                uvicorn(served.project, capture_dir, work) as (port, process):
            workers = workers_of(process)
            responses = load(port, served.records, 100, rows=2)
            assert [r and r.status_code for r in responses] == [200] * 100  # the read-only folder costs no request
            wait_for("the writers to count their drops", lambda: metric(
                scrape(port), 'capture_records_dropped_total{reason="write_error"}') == 200, 20)
            texts = [scrape(port) for _ in range(6)]  # whichever worker answers, the sums are the same
            assert {metric(t, "model_records_scored_total") for t in texts} == {200}
            assert {metric(t, 'capture_records_dropped_total{reason="write_error"}') for t in texts} == {200}
            files = os.listdir(work / f"prom-{port}")
            assert {f"counter_{pid}.db" for pid in workers} <= set(files), files  # one file per worker
            config = prometheus_config(served.project.path, port, work / "prom-config")
            with prometheus(config, work) as prom:
                up = wait_for("the scrape", lambda: api(prom, "query", query="up")["result"])
                assert up[0]["value"][1] == "1"
                scored = api(prom, "query", query="sum(model_records_scored_total)")["result"]
                assert float(scored[0]["value"][1]) == 200
                load(port, served.records, 20)  # drops inside the rule's window
                firing = wait_for("CaptureDropping to fire", lambda: [
                    a for a in api(prom, "alerts")["alerts"]
                    if a["labels"]["alertname"] == "CaptureDropping" and a["state"] == "firing"])
                assert firing[0]["labels"]["reason"] == "write_error"
                others = {a["labels"]["alertname"] for a in api(prom, "alerts")["alerts"] if a["state"] == "firing"}
                assert "ServingHighErrorRate" not in others and "ServingDown" not in others, others
                # The training reference the class-share rule compares with is scraped too.
                share = api(prom, "query", query="model_training_class_share")["result"]
                assert sum(float(s["value"][1]) for s in share) == pytest.approx(1, abs=1e-5)
        dropped = [line for line in log_lines(work, port) if line.get("event") == "capture_dropped"]
        assert dropped and all(line["reasons"].keys() == {"write_error"} for line in dropped)


def check_full_capture_disk_drops_and_counts(served) -> None:
    with tempfile.TemporaryDirectory(prefix="obs-full-") as tmp:
        work = Path(tmp)
        with mounted_tmpfs(work / "capture", "size=64k") as capture_dir:
            fd = os.open(capture_dir / "filler", os.O_WRONLY | os.O_CREAT)
            try:
                while os.write(fd, b"\0" * 512):
                    pass
            except OSError:  # ENOSPC: full
                pass
            finally:
                os.close(fd)
            with uvicorn(served.project, capture_dir, work) as (port, _):
                responses = load(port, served.records, 100, rows=3)
                assert [r and r.status_code for r in responses] == [200] * 100
                text = wait_for("the drops to be counted", lambda: (
                    t if metric(t := scrape(port), 'capture_records_dropped_total{reason="write_error"}') == 300
                    else None), 20)
                assert metric(text, "capture_records_written_total") == 0
            leftovers = [p for p in capture_dir.rglob("*.jsonl") if p.stat().st_size]
            assert leftovers == [], leftovers  # no fragment of a line was left behind
        assert any(line.get("event") == "capture_dropped" for line in log_lines(work, port))


def check_killed_worker_loses_no_whole_line(served) -> None:
    from importlib import import_module

    sys.path.insert(0, str(served.project.path / "src"))
    try:
        capture = import_module(f"{served.project.package}.capture")
    finally:
        sys.path.remove(str(served.project.path / "src"))
    with tempfile.TemporaryDirectory(prefix="obs-kill-") as tmp:
        work = Path(tmp)
        capture_dir = work / "capture"
        with uvicorn(served.project, capture_dir, work) as (port, process):
            with ThreadPoolExecutor(1) as pool:
                running = pool.submit(load, port, served.records, 300, 8, 5)
                # The victim: a worker that is writing (the kernel may hand every connection to one of them).
                first = wait_for("a capture file", lambda: sorted(capture_dir.rglob("*.jsonl")), 20)[0]
                victim = int(first.name.split("-")[3])
                assert victim in workers_of(process)
                os.kill(victim, signal.SIGKILL)
                answers = running.result()
            wait_for("uvicorn to replace the worker",
                     lambda: len(workers_of(process)) == 2 and victim not in workers_of(process), 30)
            live = workers_of(process)
            after = load(port, served.records, 40, rows=1)
            assert [r and r.status_code for r in after] == [200] * 40
        # A crash can cut a line anywhere (here: the victim's last file ends mid-record).
        torn = sorted(capture_dir.rglob(f"*-{victim}-*.jsonl"))[-1]
        with open(torn, "ab") as handle:
            handle.write(b'{"record_id": "torn-0", "request_id": "torn", "time": "2026')
        whole = 0
        for path in capture_dir.rglob("*.jsonl"):
            for line in path.read_bytes().split(b"\n")[:-1]:
                json.loads(line)  # every line the writers finished is a whole record
                whole += 1
        found = capture.read_captures(capture_dir)
        assert (len(found.records), found.skipped) == (whole, 1)
        ids = [r["record_id"] for r in found.records]
        assert len(ids) == len(set(ids))
        served_ids = {i for r in [*answers, *after] if r and r.status_code == 200 for i in r.json()["record_ids"]}
        assert set(ids) <= served_ids
        # The survivor and the replacement stopped gracefully: every record they answered is on disk.
        assert {f"{r.json()['request_id']}-0" for r in after} <= set(ids)
        # One writer per process: nobody appended to the victim's files; the others are the live workers'.
        writers = {int(p.name.split("-")[3]) for p in capture_dir.rglob("*.jsonl")}
        assert victim in writers and writers - {victim} and writers - {victim} <= set(live), (writers, live)


CHECKS = [check_image_request_ids_metrics_and_capture, check_image_declares_no_volume_and_answers_without_one,
          check_prometheus_scrapes_two_workers_and_a_capture_alert_fires,
          check_full_capture_disk_drops_and_counts, check_killed_worker_loses_no_whole_line]
HOST_TOOLS = ("prometheus", "promtool", "mount")


def missing_tools() -> list[str]:
    return [tool for tool in HOST_TOOLS if shutil.which(tool) is None]
