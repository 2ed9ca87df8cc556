"""Monitoring at scale: `collect` then `monitor` over 1,000,000 captured records (bench row M1).

The records are the demo data's rows with seeded noise, written as the serving app writes them (one JSON
line per record, hourly files of several processes); generation is outside the timed part. The timed part
runs in a fresh subprocess (this file as a script, from the project's root), so ru_maxrss is its own peak:
collect (read, deduplicate, check against the contract, join labels, write the batch) and monitor
(read the batch; Evidently's drift, prediction drift and, for the labelled tenth, the classification preset,
on drift.sample_cap rows per side; the snapshots stored in the history).
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20261203
START = dt.datetime(2026, 11, 2, tzinfo=dt.timezone(dt.timedelta(0)))
PER_FILE = 50_000  # records per capture file (the app rotates by size and hour)


def generate(project: Path, folder: Path, records: int) -> dict:
    """Capture files and a labels file for a tenth of the records; returns what was written."""
    import yaml

    params = yaml.safe_load((project / "params.yaml").read_text())
    target = params["data"]["target"]
    data = pd.read_csv(project / params["data"]["path"])
    features = data.drop(columns=[target])
    rng = np.random.default_rng(SEED)
    folder.mkdir(parents=True, exist_ok=True)
    labels = []
    written = 0
    for start in range(0, records, PER_FILE):
        n = min(PER_FILE, records - start)
        pick = rng.integers(0, len(data), n)
        rows = features.iloc[pick].to_numpy() * rng.normal(1, 0.02, (n, features.shape[1]))
        moment = START + dt.timedelta(seconds=start)
        day = folder / moment.strftime("%Y-%m-%d")
        day.mkdir(exist_ok=True)
        names = list(features.columns)
        truth = data[target].to_numpy()[pick]
        lines = []
        for i in range(n):
            record_id = f"r{start + i}-0"
            stamp = (moment + dt.timedelta(microseconds=i * 1000)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            lines.append(json.dumps({"record_id": record_id, "request_id": f"r{start + i}", "time": stamp,
                                     "source": "online", "model_version": "1", "model_sha256": None,
                                     "inputs": dict(zip(names, rows[i].round(6).tolist(), strict=True)),
                                     "prediction": str(truth[i]), "probabilities": None, "latency_ms": 1.0}))
            if (start + i) % 10 == 0:
                labels.append((record_id, truth[i]))
        (day / f"predictions-{moment:%Y%m%dT%H}-bench-{start // PER_FILE}-0.jsonl").write_text("\n".join(lines) + "\n")
        written += n
    (project / "data/labels").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(labels, columns=["record_id", target]).to_csv(project / "data/labels/bench.csv", index=False)
    size = sum(p.stat().st_size for p in folder.rglob("*.jsonl"))
    return {"records": written, "labels": len(labels), "bytes": size}


def worker(package: str, source: str) -> dict:
    """In the project root with src/ importable: collect + monitor, timed; peak memory of this process."""
    import yaml

    collect = importlib.import_module(f"{package}.stages.collect")
    monitor = importlib.import_module(f"{package}.stages.monitor")
    history = importlib.import_module(f"{package}.stages.history")
    params = yaml.safe_load(Path("params.yaml").read_text())
    before_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    collected = collect.collect(params, source, None, START + dt.timedelta(days=30))
    collect_seconds = time.perf_counter() - started
    summary, snapshots = monitor.run(params)
    stored = history.store(collect.settings(params)["history"], params["task"], snapshots, summary["window"]["until"])
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "collect_seconds": collect_seconds, "peak_mb": resource.getrusage(
        resource.RUSAGE_SELF).ru_maxrss / 1024, "before_mb": before_mb, "rows": collected["rows"],
        "labelled": collected["labelled"], "broken": collected["broken"], "status": summary["status"],
        "drift_share": summary["drift"]["drift_share"], "snapshots": stored["snapshots"]}


def measure(project: Path, package: str, workdir: Path, records: int = 1_000_000, timeout: float = 1800) -> dict:
    folder = workdir / "capture"
    generated = generate(project, folder, records)
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    result = subprocess.run([sys.executable, __file__, package, str(folder)], cwd=project, env=env,
                            capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"monitor at {records} records failed:\n{result.stderr[-3000:]}")
    return {**generated, **json.loads(result.stdout.strip().splitlines()[-1])}


if __name__ == "__main__":
    print(json.dumps(worker(sys.argv[1], sys.argv[2])))
