"""Drift at scale: the project's drift stage (sample cap, then Evidently) against Evidently's
DataDriftPreset on all rows, on seeded synthetic data with known shifted columns.

Each measurement runs in a fresh subprocess (this file as a script, from the project's root) so
that ru_maxrss is the peak of that one method and not of anything measured before it.
Both methods get the very same frames (same seed); data generation is outside the timed part.
"""

from __future__ import annotations

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

DATA_SEED = 20240601
NUMERIC, CATEGORICAL = 20, 5  # 25 columns, like a typical tabular feature set
# The drift we plant, each far above Evidently's default thresholds (0.1 normed Wasserstein for numbers,
# 0.1 Jensen-Shannon distance for categories), so "flags the same columns" has one right answer.
SHIFTED = ("num_00", "num_07", "num_14", "cat_00", "cat_03")
LEVELS = ["a", "b", "c", "d"]


def _column(rng: np.random.Generator, name: str, rows: int, shifted: bool) -> np.ndarray:
    index = int(name[-2:])
    if name.startswith("cat"):
        probs = np.array([0.4, 0.3, 0.2, 0.1])
        if shifted:
            probs = probs[::-1]  # the rare level becomes the common one
        return rng.choice(np.array(LEVELS, dtype=object), rows, p=probs)
    kind = index % 3  # a mix of shapes: normal, skewed, bounded
    if kind == 0:
        values = rng.normal(10 * index, 1 + index, rows)
        return values + 0.5 * (1 + index) if shifted else values  # mean moves by half a standard deviation
    if kind == 1:
        values = rng.lognormal(0, 0.5, rows)
        return values * 1.5 if shifted else values  # scale grows by half
    values = rng.uniform(0, 1 + index, rows)
    return values * 1.5 if shifted else values


def make_frames(rows: int, seed: int = DATA_SEED) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(reference, current): rows x 25 columns each; `current` has the SHIFTED columns moved."""
    names = [f"num_{i:02d}" for i in range(NUMERIC)] + [f"cat_{i:02d}" for i in range(CATEGORICAL)]
    rng = np.random.default_rng(seed)
    reference = pd.DataFrame({n: _column(rng, n, rows, False) for n in names})
    current = pd.DataFrame({n: _column(rng, n, rows, n in SHIFTED) for n in names})
    return reference, current


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def worker(package: str, rows: int, method: str) -> dict:
    """In the project root with src/ importable: time one method; peak memory of this whole process."""
    import yaml

    drift = importlib.import_module(f"{package}.stages.drift")
    params = yaml.safe_load(Path("params.yaml").read_text())
    cap, seed = int(params["drift"]["sample_cap"] or 0), int(params["split"]["seed"])
    share = float(params["drift"]["share_threshold"])
    reference, current = make_frames(rows)
    before_mb = _peak_mb()  # imports + frames, with generation's transient copies: the floor for both methods
    started = time.perf_counter()
    if method == "ours":  # what the stage's run() does between reading the CSVs and writing the report
        reference, current = drift._cap(reference, cap, seed), drift._cap(current, cap, seed)
    # detect() is Report([DataDriftPreset(drift_share=...)]) with explicit column types, and reads out the
    # per-column verdicts; on the full frames it is Evidently's preset on all rows.
    result, _ = drift.detect(reference, current, share)
    seconds = time.perf_counter() - started
    flagged = sorted(c["column"] for c in result["columns"] if c["drifted"])
    return {"seconds": seconds, "peak_mb": _peak_mb(), "before_mb": before_mb, "rows_used": len(reference),
            "flagged": flagged}


def measure(project: Path, package: str, rows: int, timeout: float = 3600) -> dict:
    """Both methods at one size, each in its own process."""
    out = {"rows": rows, "columns": NUMERIC + CATEGORICAL, "shifted": sorted(SHIFTED)}
    for method in ("ours", "full"):
        env = {**os.environ, "PYTHONPATH": str(project / "src")}
        result = subprocess.run([sys.executable, __file__, package, str(rows), method], cwd=project, env=env,
                                capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"drift {method} at {rows} rows failed:\n{result.stderr[-3000:]}")
        out[method] = json.loads(result.stdout.strip().splitlines()[-1])
    out["before_mb"] = min(out["ours"]["before_mb"], out["full"]["before_mb"])
    out["same_columns"] = out["ours"]["flagged"] == out["full"]["flagged"]
    out["known_columns"] = out["ours"]["flagged"] == out["full"]["flagged"] == sorted(SHIFTED)
    return out


if __name__ == "__main__":
    package, rows, method = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    print(json.dumps(worker(package, rows, method)))
