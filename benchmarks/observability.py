"""Prediction capture and /metrics against neither, in the same run (rows O1–O6; issue 25).

Full run: the image as shipped (`docker run --network host`, read-only root, a volume at the capture
folder as deploys mount one), `WEB_CONCURRENCY` = the run's workers, switched between on (the defaults)
and off (`CAPTURE_ENABLED=0 METRICS_ENABLED=0`) by environment only, so both sides are the same bytes.
Off, on and MLflow's scoring server (same model, same workers) take turns, `rounds` times, and each
side's row is its median run: on a shared machine, load that comes and goes then hits all three alike.
The event loop and HTTP parser: the image holds asyncio + h11 unless uvloop and httptools are in it;
the other side is measured by mounting the host venv's builds read-only onto the image's path
(same CPython 3.11, x86_64) or by forcing `UVICORN_LOOP=asyncio UVICORN_HTTP=h11`. The smoke run
measures the same things against the image's command on the host (no Docker).
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from . import loadgen, serving

OFF = {"CAPTURE_ENABLED": "0", "METRICS_ENABLED": "0"}
PLAIN = {"UVICORN_LOOP": "asyncio", "UVICORN_HTTP": "h11"}
FAST_MODULES = ("uvloop", "httptools")


@dataclass
class Target:
    port: int
    rss_bytes: Callable[[], int]  # all the server's processes
    capture_bytes: Callable[[], int]


def written(port: int) -> float:
    """capture_records_written_total, summed over the workers (from /metrics)."""
    with serving._OPENER.open(f"http://{loadgen.HOST}:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("capture_records_written_total"))


def _rss_of(pids: list[int], reader: Callable[[str], str]) -> int:
    total = 0
    for pid in pids:
        for line in reader(f"/proc/{pid}/status").splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


# ------------------------------------------------------------------------------------------- image target
def _module_dirs() -> dict[str, Path]:
    found = {}
    for name in FAST_MODULES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError(f"{name} is not installed in this venv: cannot measure the image with it")
        found[name] = Path(list(spec.submodule_search_locations)[0])
    return found


def image_has_fast_runtime(tag: str) -> bool:
    script = f"import importlib.util as u; print(all(u.find_spec(m) for m in {FAST_MODULES!r}))"
    out = subprocess.run(["docker", "run", "--rm", "--network", "none", "--entrypoint", "python", tag, "-c", script],
                         capture_output=True, text=True, check=True).stdout.strip()
    return out == "True"


@contextmanager
def image_target(tag: str, workers: int, env: dict, mounts: dict[str, Path]) -> Iterator[Target]:
    port, name = serving.free_port(), f"bench-obs-{uuid.uuid4().hex[:8]}"
    # The image declares no volume: a deploy mounts one at the capture folder; here an anonymous one (rm -v).
    argv = ["docker", "run", "-d", "--name", name, "--network", "host", "--read-only", "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges", "--mount", "type=volume,dst=/var/lib/capture",
            "-e", "UVICORN_HOST=127.0.0.1", "-e", f"UVICORN_PORT={port}", "-e", f"WEB_CONCURRENCY={workers}"]
    for key, value in env.items():
        argv += ["-e", f"{key}={value}"]
    if mounts:
        argv += ["-e", "PYTHONPATH=/opt/extra"]
        for module, path in mounts.items():
            argv += ["-v", f"{path}:/opt/extra/{module}:ro"]
    subprocess.run([*argv, tag], capture_output=True, text=True, check=True)

    def in_container(*command: str) -> str:
        return subprocess.run(["docker", "exec", name, *command], capture_output=True, text=True,
                              check=True).stdout

    def rss() -> int:
        # No ps in a slim image: VmRSS of every process but this probe, from /proc.
        script = ("import os, re; me = str(os.getpid()); print(sum(int(m.group(1)) * 1024 for p in os.listdir('/proc')"
                  " if p.isdigit() and p != me for m in [re.search(r'VmRSS:\\s+(\\d+)', open(f'/proc/{p}/status')"
                  ".read())] if m))")
        return int(in_container("python", "-c", script))

    try:
        try:
            # Generous: on a loaded machine a cold start took 12-18 s (RESULTS.md's I3 is the quiet number).
            serving.wait_healthy(port, None, 300)
        except RuntimeError as exc:
            logs = subprocess.run(["docker", "logs", "--tail", "20", name], capture_output=True, text=True)
            settings = " ".join(f"{k}={v}" for k, v in env.items()) + (" with " + ", ".join(mounts) if mounts else "")
            raise RuntimeError(f"{exc}; container {settings}: {logs.stdout}{logs.stderr}"[-2000:]) from None
        yield Target(port, rss, lambda: int(in_container("du", "-sb", "/var/lib/capture").split()[0]))
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True, check=False)


@contextmanager
def mlflow_target(project: Path, model_name: str, workers: int, workdir: Path) -> Iterator[Target]:
    """`mlflow models serve --env-manager local` on the same registered model (serving.py's S rows' baseline)."""
    port = serving.free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    argv, env = serving.commands(project, "unused", model_name, port, workers)["mlflow"]
    with serving.running(argv, env, project, port, workdir / f"mlflow-{port}.log"):
        yield Target(port, lambda: 0, lambda: 0)


# -------------------------------------------------------------------------------------------- host target
@contextmanager
def host_target(project: Path, package: str, workers: int, env: dict, workdir: Path) -> Iterator[Target]:
    port = serving.free_port()
    capture_dir = workdir / f"capture-{port}"
    metrics_dir = workdir / f"metrics-{port}"
    metrics_dir.mkdir(parents=True)
    argv, base = serving.commands(project, package, "unused", port, workers)["ours"]
    full_env = {**base, "CAPTURE_DIR": str(capture_dir), "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), **env}
    with serving.running(argv, full_env, project, port, workdir / f"obs-{port}.log") as _:
        master = _master_pid(port)

        def rss() -> int:
            pids = [master, *_children(master)]
            return _rss_of(pids, lambda path: Path(path).read_text())

        def capture_bytes() -> int:
            return sum(p.stat().st_size for p in capture_dir.rglob("*.jsonl"))

        yield Target(port, rss, capture_bytes)


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _master_pid(port: int) -> int:
    """The uvicorn process listening on `port` that started the others (found through /proc)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"uvicorn" in cmdline and str(port).encode() in cmdline:
            return int(entry.name)
    raise RuntimeError(f"no uvicorn process for port {port}")


# ---------------------------------------------------------------------------------------------- measuring
def single_record(target: Target, record: dict, config: dict, mlflow: bool = False) -> dict:
    path, key = ("/invocations", "dataframe_records") if mlflow else ("/predict", "records")
    raw = loadgen.post_request(target.port, path, json.dumps({key: [record]}).encode())
    peak = loadgen.max_load(target.port, raw, config["connections"], config["seconds"], config["warmup"]).summary()
    rate = max(peak["rps"] / 2, 1.0)
    half = loadgen.fixed_rate(target.port, raw, rate, config["seconds"], config["warmup"]).summary()
    return {"max": peak, "half": {**half, "target_rps": rate}}


def memory_under_traffic(target: Target, record: dict, config: dict, requests: int) -> dict:
    """RSS after a tenth, half and all of `requests` captured requests, and bytes on disk per record.

    Bounded means no growth from half to all: the first half fills the allocator's pools and the capture
    queue's high-water mark (up to `queue_size` records waiting while the writer catches up).
    """
    raw = loadgen.post_request(target.port, "/predict", json.dumps({"records": [record]}).encode())
    checkpoints, started = {}, time.perf_counter()
    for mark in (requests // 10, requests // 2, requests):
        while written(target.port) < mark:
            loadgen.max_load(target.port, raw, config["connections"], config["seconds"], 0.0)
        checkpoints[mark] = target.rss_bytes()
    count = written(target.port)
    return {"requests": requests, "rss_tenth_bytes": checkpoints[requests // 10],
            "rss_half_bytes": checkpoints[requests // 2], "rss_bytes": checkpoints[requests],
            "records": count, "bytes_per_record": target.capture_bytes() / count if count else float("nan"),
            "seconds": time.perf_counter() - started}


def median_run(runs: list[dict]) -> dict:
    """The run with the median max-load rate (its half-load numbers with it), and every run's rate."""
    ranked = sorted(runs, key=lambda run: run["max"]["rps"])
    return {**ranked[(len(ranked) - 1) // 2], "runs_rps": [run["max"]["rps"] for run in runs],
            "median_rps": statistics.median(run["max"]["rps"] for run in runs)}


def compare(start: Callable[[dict], object], record: dict, config: dict, fast_env: dict, plain_env: dict,
            fast_in_image: bool, fast_bytes: int, where: str, baseline: Callable[[], object] | None = None) -> dict:
    """`start(env)` is a context manager yielding a Target; `baseline()` one for MLflow's server. Off, on and
    MLflow in turn, `rounds` times (medians); then memory, and on with the other runtime."""
    results: dict = {"where": where, "workers": config["workers"], "fast_in_image": fast_in_image,
                     "fast_bytes": fast_bytes, "rounds": config.get("rounds", 1)}
    shipped = {} if fast_in_image else plain_env  # what the image runs by default
    other = plain_env if fast_in_image else fast_env
    runs: dict[str, list] = {"off": [], "on": [], "mlflow": []}
    for _ in range(results["rounds"]):
        for side, env in (("off", {**OFF, **shipped}), ("on", shipped)):
            with start(env) as target:
                runs[side].append(single_record(target, record, config))
        if baseline is not None:
            with baseline() as target:
                runs["mlflow"].append(single_record(target, record, config, mlflow=True))
    for side, measured in runs.items():
        if measured:
            results[side] = median_run(measured)
    with start(shipped) as target:
        results["memory"] = memory_under_traffic(target, record, config, config["captured_requests"])
    with start(other) as target:
        results["other_runtime"] = single_record(target, record, config)
    return results


def measure_image(tag: str, project: Path, target_column: str, config: dict, model_name: str | None = None,
                  workdir: Path | None = None) -> dict:
    """The image, and MLflow's server on `model_name` (the registry's) in the same run when one is given."""
    record = serving.held_out_records(project, target_column)[0]
    fast_in_image = image_has_fast_runtime(tag)
    dirs = {} if fast_in_image else _module_dirs()
    fast_bytes = sum(sum(f.stat().st_size for f in d.rglob("*") if f.is_file()) for d in dirs.values())

    def start(env: dict):
        mounts = dirs if env.get("_fast") else {}
        return image_target(tag, config["workers"], {k: v for k, v in env.items() if k != "_fast"}, mounts)

    # "_fast" is this module's marker for "mount uvloop and httptools", not an environment variable.
    baseline = None
    if model_name is not None:
        def baseline():
            return mlflow_target(project, model_name, config["workers"], workdir or project / "build/bench")
    return compare(start, record, config, {"_fast": "1"}, PLAIN, fast_in_image, fast_bytes,
                   f"image, {config['workers']} worker(s)", baseline)


def measure_host(project: Path, package: str, target_column: str, workdir: Path, config: dict) -> dict:
    record = serving.held_out_records(project, target_column)[0]
    fast_in_venv = all(importlib.util.find_spec(m) for m in FAST_MODULES)

    def start(env: dict):
        return host_target(project, package, config["workers"], env, workdir)

    return compare(start, record, config, {}, PLAIN, fast_in_venv, 0, f"host venv, {config['workers']} worker(s)")


if __name__ == "__main__":  # pragma: no cover - manual use: python -m benchmarks.observability TAG PROJECT
    print(json.dumps(measure_image(sys.argv[1], Path(sys.argv[2]), "diagnosis",
                                   {"workers": 2, "connections": 8, "seconds": 5, "warmup": 1,
                                    "captured_requests": int(os.environ.get("N", "10000"))}), indent=2))
