"""Batch scoring at scale: the project's `score` command against `mlflow models predict`, same model, same file.

The file is N rows of the demo's input columns: the bundled data's rows, resampled (seeded) with a small
jitter, so every value is one the model has seen the like of. Ours scores the champion champion.json
names (the ONNX export, or the joblib fallback) in chunks; MLflow's scores the registered version
champion.json names with `--env-manager local`, loading the whole file into pandas. Each command runs
as a child of a fresh worker process (this file as a script), whose RUSAGE_CHILDREN ru_maxrss is then
that one command's peak memory. Agreement: `score` in small chunks on the held-out split against the
scikit-learn pipeline in one piece (labels equal, probabilities within 1e-5), and ours against MLflow's
labels on the big file.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

DATA_SEED = 20261203
TOLERANCE = 1e-5


def make_file(project: Path, rows: int, out: Path) -> Path:
    """`rows` rows of the demo's input columns (no target), as CSV."""
    import yaml

    params = yaml.safe_load((project / "params.yaml").read_text())
    frame = pd.read_csv(project / params["data"]["path"]).drop(columns=[params["data"]["target"]])
    rng = np.random.default_rng(DATA_SEED)
    picked = frame.iloc[rng.integers(0, len(frame), rows)].reset_index(drop=True)
    numeric = picked.select_dtypes("number").columns
    picked[numeric] = (picked[numeric] * rng.normal(1.0, 0.01, (rows, len(numeric)))).round(6)
    picked.to_csv(out, index=False)
    return out


def timed(argv: list[str], cwd: Path, env: dict, timeout: float) -> dict:
    """Run one command from a fresh worker; its wall time and its own peak RSS."""
    worker = [sys.executable, __file__, "--child", json.dumps(argv)]
    result = subprocess.run(worker, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"`{' '.join(argv)}` failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _child(argv: list[str]) -> None:
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        print(done.stdout[-2000:] + done.stderr[-3000:], file=sys.stderr)
        sys.exit(done.returncode)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux reports KiB
    print(json.dumps({"seconds": seconds, "peak_mb": peak}))


def agreement(project: Path, package: str, env: dict, workdir: Path) -> dict:
    """`score` in chunks of 16 rows on the held-out split vs the scikit-learn pipeline in one piece."""
    import joblib
    import yaml

    params = yaml.safe_load((project / "params.yaml").read_text())
    test = project / "data/prepared/test.csv"
    out = workdir / "held_out_scored.parquet"
    subprocess.run([sys.executable, "-m", package, "score", str(test), "--out", str(out), "--chunk-rows", "16",
                    "--no-capture"], cwd=project, env=env, check=True, capture_output=True, text=True)
    ours = pd.read_parquet(out)
    frame = pd.read_csv(test).drop(columns=[params["data"]["target"]])
    model = joblib.load(project / "champion/model.joblib")
    labels = [str(v) for v in model.predict(frame)]
    probabilities = model.predict_proba(frame)
    gap = max(float(np.abs(ours[f"probability_{label}"].to_numpy() - probabilities[:, i]).max())
              for i, label in enumerate(model.classes_))
    return {"rows": len(frame), "labels_equal": ours["prediction"].tolist() == labels, "max_probability_gap": gap,
            "runtime": json.loads(out.with_name(f"{out.stem}.summary.json").read_text())["model"]["runtime"]}


def measure(project: Path, package: str, rows: int, workdir: Path, env: dict, timeout: float = 3600) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    source = make_file(project, rows, workdir / f"batch-{rows}.csv")
    record = json.loads((project / "champion.json").read_text())
    model_uri = f"models:/{record['model_name']}/{record['registry_version']}"
    env = {**env, "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}"}
    ours_out, theirs_out = workdir / f"ours-{rows}.parquet", workdir / f"mlflow-{rows}.json"
    results = {"rows": rows, "file_mb": source.stat().st_size / 1e6, "model": model_uri}
    results["ours"] = timed([sys.executable, "-m", package, "score", str(source), "--out", str(ours_out),
                             "--no-capture"], project, env, timeout)
    results["ours_capture"] = timed([sys.executable, "-m", package, "score", str(source), "--out",
                                     str(workdir / f"ours-capture-{rows}.parquet")], project,
                                    {**env, "CAPTURE_DIR": str(workdir / "capture")}, timeout)
    results["mlflow"] = timed([sys.executable, "-m", "mlflow", "models", "predict", "-m", model_uri, "-i",
                               str(source), "-t", "csv", "-o", str(theirs_out), "--env-manager", "local"],
                              project, env, timeout)
    ours = pd.read_parquet(ours_out, columns=["prediction"])["prediction"].tolist()
    theirs = json.loads(theirs_out.read_text())
    theirs = theirs["predictions"] if isinstance(theirs, dict) else theirs
    theirs = [str(p if not isinstance(p, dict) else next(iter(p.values()))) for p in theirs]
    results["same_labels_as_mlflow"] = ours == theirs
    results["disagreements"] = sum(a != b for a, b in zip(ours, theirs, strict=False)) + abs(len(ours) - len(theirs))
    results["agreement"] = agreement(project, package, env, workdir)
    for name in (source, ours_out, theirs_out):
        name.unlink(missing_ok=True)
    return results


if __name__ == "__main__":
    if sys.argv[1] == "--child":
        _child(json.loads(sys.argv[2]))
    else:  # by hand: python benchmarks/batch_scale.py PROJECT PACKAGE ROWS
        from benchmarks import project as _project

        root = Path(sys.argv[1]).resolve()
        print(json.dumps(measure(root, sys.argv[2], int(sys.argv[3]), root / "build/bench-batch",
                                 _project.env_for(root)), indent=2))
