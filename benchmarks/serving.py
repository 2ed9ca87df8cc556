"""Serve the exported champion two ways and load both from 127.0.0.1.

- ours: the image's own command, `uvicorn --factory <pkg>.serving.serve:from_env --workers N` on build/model.
- MLflow: `mlflow models serve -m models:/<name>/<version> --env-manager local -w N` on the same registry,
  the registered version `champion.json` names.

Each server runs alone while it is measured (2 cores: two loaded servers would measure each other).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from . import loadgen

# No proxies, whatever the environment says: every request goes to 127.0.0.1.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as s:
        s.bind((loadgen.HOST, 0))
        return s.getsockname()[1]


def http(port: int, path: str, body: dict | None = None, timeout: float = 30) -> tuple[int, dict | None]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://{loadgen.HOST}:{port}{path}", data=data,
                                     headers={"Content-Type": "application/json"})
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return response.status, json.loads(response.read().strip() or b"null")  # MLflow's /health is "\n"
    except urllib.error.HTTPError as exc:
        return exc.code, None


def wait_healthy(port: int, process: subprocess.Popen | None, deadline_s: float, log: Path | None = None) -> float:
    """Seconds until GET /health answers 200, polled every 20 ms (fine enough for start-up times of seconds)."""
    started = time.perf_counter()
    while time.perf_counter() - started < deadline_s:
        if process is not None and process.poll() is not None:
            break
        try:
            if http(port, "/health", timeout=1)[0] == 200:
                return time.perf_counter() - started
        except OSError:
            pass
        time.sleep(0.02)
    tail = log.read_text()[-2000:] if log and log.exists() else ""
    raise RuntimeError(f"server on port {port} not healthy after {deadline_s:.0f} s\n{tail}")


def _env(**extra: str) -> dict:
    # The venv's bin/ first: `mlflow models serve --env-manager local` runs `uvicorn` by name.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return {**os.environ, "PATH": path, **extra}


def commands(project: Path, package: str, model_name: str, port: int, workers: int) -> dict[str, tuple[list, dict]]:
    """name -> (argv, environment) for the two servers."""
    ours = ([sys.executable, "-m", "uvicorn", "--factory", f"{package}.serving.serve:from_env", "--host", loadgen.HOST,
             "--port", str(port), "--workers", str(workers), "--no-access-log"],
            _env(MODEL_DIR=str(project / "build/model"), PYTHONPATH=str(project / "src")))
    # The registered version champion.json names (git holds the champion; the registry's alias is a
    # shared server's, moved after a merge by sync-registry).
    version = json.loads((project / "champion.json").read_text())["registry_version"]
    mlflow = ([sys.executable, "-m", "mlflow", "models", "serve", "-m", f"models:/{model_name}/{version}",
               "--env-manager", "local", "-h", loadgen.HOST, "-p", str(port), "-w", str(workers)],
              _env(MLFLOW_TRACKING_URI=f"sqlite:///{project / 'mlflow.db'}"))
    return {"ours": ours, "mlflow": mlflow}


@contextmanager
def running(argv: list, env: dict, cwd: Path, port: int, log: Path, deadline_s: float = 180):
    """A server in its own process group (so its workers go too); yields seconds to healthy."""
    with open(log, "wb") as out:
        process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        yield wait_healthy(port, process, deadline_s, log)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)  # the group this function started, by its id
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def held_out_records(project: Path, target: str) -> list[dict]:
    """The held-out split's feature rows as JSON records (the demo data has no missing values)."""
    frame = pd.read_csv(project / "data/prepared/test.csv").drop(columns=[target])
    return frame.to_dict(orient="records")


def bodies(server: str, records: list[dict]) -> dict:
    # The two request formats for the same rows: ours {"records": [...]}, MLflow's {"dataframe_records": [...]}.
    key = "records" if server == "ours" else "dataframe_records"
    return {"single": {key: records[:1]}, "batch": {key: records[:100]}, "all": {key: records}}


def measure(project: Path, package: str, model_name: str, target: str, workdir: Path, *, workers: int,
            connections: int, seconds: float, warmup: float) -> dict:
    """Per server: start-up, predictions on the held-out split, and max-load and half-load runs per payload."""
    records = held_out_records(project, target)
    results: dict = {"workers": workers, "connections": connections, "seconds": seconds, "rows": len(records)}
    for server in ("ours", "mlflow"):
        port = free_port()
        argv, env = commands(project, package, model_name, port, workers)[server]
        with running(argv, env, project, port, workdir / f"{server}.log") as startup:
            payloads = bodies(server, records)
            status, answer = http(port, "/predict" if server == "ours" else "/invocations", payloads["all"])
            if status != 200:
                raise RuntimeError(f"{server}: scoring the held-out split returned HTTP {status}")
            entry = {"startup_s": startup, "predictions": answer["predictions"]}
            path = "/predict" if server == "ours" else "/invocations"
            for name in ("single", "batch"):
                raw = loadgen.post_request(port, path, json.dumps(payloads[name]).encode())
                peak = loadgen.max_load(port, raw, connections, seconds, warmup).summary()
                # Half of this server's own maximum, so each is compared at the same relative load.
                rate = max(peak["rps"] / 2, 1.0)
                half = loadgen.fixed_rate(port, raw, rate, seconds, warmup).summary()
                entry[name] = {"max": peak, "half": {**half, "target_rps": rate}}
            results[server] = entry
    ours, mlflow = results["ours"]["predictions"], results["mlflow"]["predictions"]
    results["agree"] = len(ours) == len(mlflow) == len(records) and ours == mlflow
    results["disagreements"] = sum(a != b for a, b in zip(ours, mlflow, strict=False))
    for server in ("ours", "mlflow"):
        del results[server]["predictions"]
    return results
