"""Export the champion named by champion.json (or the pipeline's candidate) as a directory the serving app reads.

build/model/ gets model.joblib, model.onnx when the ONNX conversion scores the held-out split like
the pipeline (onnx_export.py), metadata.json (name, version, metrics, git commit, the runtime chosen
and the conversion's check, ...), input_schema.json (the data schema without the target, as plain
JSON) and requirements.txt (that runtime's libraries, pinned: what the image installs). Nothing in
it needs MLflow or pandera, so the serving image does not either.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path
from typing import Any

import joblib
import pandas as pd

from .. import capture, champion, contract, paths, signing
from ..config import PIP_PACKAGES
from ..errors import PipelineError
from ..stages import prepare
from . import onnx_export

# What the image installs besides the project's own (serving core) dependencies, per runtime.
RUNTIME_PACKAGES = {"onnx": ("onnxruntime", "numpy"), "sklearn": PIP_PACKAGES}


def load(params: dict, source: str = "champion") -> tuple[Any, dict]:
    """The model to serve and its record.

    `champion`: the model champion.json names at this commit, its bytes checked against the recorded
    sha256 (a mismatch refuses to export) and its signature verified when the repo sets signing up (an unsigned,
    tampered or other-signer model is refused). `candidate`: the pipeline's current models/model.joblib,
    for the build check before anything is promoted.
    """
    if source == "champion":
        record = champion.read()
        path = champion.fetch(record)
        signed_by = signing.check(params, path)
        info = {"model_name": record["model_name"], "version": record["version"], "alias": "champion",
                "run_id": record.get("run_id"), "metrics": record.get("metrics") or {},
                "git_commit": record.get("trained_from"), "model_sha256": record["model_sha256"],
                "signed_by": signed_by}
    elif source == "candidate":
        path = paths.MODEL
        if not path.is_file():
            raise PipelineError(f"{path}: not found; run the pipeline first (`dvc repro train evaluate`)")
        metrics = json.loads(paths.METRICS.read_text()) if paths.METRICS.is_file() else {}
        info = {"model_name": params["mlflow"]["model_name"], "version": None, "alias": "candidate",
                "run_id": None, "metrics": metrics, "git_commit": champion.git("rev-parse", "HEAD").stdout.strip()
                or None, "model_sha256": champion.sha256_file(path), "signed_by": None}
    else:
        raise PipelineError(f"--from: expected champion or candidate, got {source!r}")
    return joblib.load(path), info


def held_out_split(params: dict, columns: list[dict]) -> pd.DataFrame:
    """The prepared test split's input columns, as the schema types them; made by `prepare` if absent."""
    if not paths.TEST.is_file():
        prepare.run(params)  # seeded: the same split the pipeline made from the same data
    dtypes = {c["name"]: ("float64" if c["dtype"] == "float64" else object) for c in columns}
    frame = pd.read_csv(paths.TEST, dtype=dtypes)
    missing = [name for name in dtypes if name not in frame.columns]
    if missing:
        raise PipelineError(f"{paths.TEST}: no column(s) {', '.join(missing)}, which the model takes as input")
    return frame[list(dtypes)]


MONITORING_KEYS = ("latency_p99_ms", "error_rate", "prediction_shift")  # what the app publishes for alerts.yml


def serving_settings(params: dict, columns: list[dict]) -> dict:
    """params.yaml's `capture:` and `monitoring:` as the app reads them from metadata.json (the image has no
    params.yaml); checked here, so a typo fails the export rather than the deploy."""
    section = params.get("capture")
    checked = capture.settings(section, env={})
    capture.check_columns(checked, [c["name"] for c in columns])
    monitoring = params.get("monitoring") or {}
    if not isinstance(monitoring, dict):
        raise PipelineError("params.yaml monitoring: expected a mapping")
    for key in MONITORING_KEYS:
        value = monitoring.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
            raise PipelineError(f"params.yaml monitoring.{key}: expected a number above 0, got {value!r}")
    return {"capture": dict(section or {}),
            "monitoring": {key: monitoring[key] for key in MONITORING_KEYS if monitoring.get(key) is not None}}


def reference(params: dict, columns: list[dict]) -> dict:
    """What the training split looked like, for the app's metrics and alerts: class shares (or the
    target's mean, spread and quantiles as histogram buckets) and each string column's categories."""
    path = paths.TRAIN
    if not path.is_file():
        return {}
    target = params["data"]["target"]
    strings = [c["name"] for c in columns if c["dtype"] != "float64"]
    dtypes = {name: object for name in strings}
    if params["task"] == "classification":
        dtypes[target] = object  # labels as the API returns them: text
    frame = pd.read_csv(path, dtype=dtypes)
    result: dict[str, Any] = {"rows": len(frame)}
    if params["task"] == "classification":
        shares = frame[target].astype(str).value_counts(normalize=True).sort_index()
        result["class_share"] = {str(k): round(float(v), 6) for k, v in shares.items()}
    else:
        values = frame[target].astype(float)
        result["target_mean"], result["target_std"] = round(float(values.mean()), 6), round(float(values.std()), 6)
        quantiles = values.quantile([0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99]).round(6).tolist()
        result["prediction_buckets"] = sorted(set(quantiles))
    limit = int(params.get("checks", {}).get("max_categories", 50))
    categories = {}
    for name in strings:
        seen = sorted(str(v) for v in frame[name].dropna().unique()) if name in frame else []
        if 0 < len(seen) <= limit:  # more distinct values: free text, where "unseen" means nothing
            categories[name] = seen
    result["categories"] = categories
    return result


def write(out: str | Path, model: Any, metadata: dict, columns: list[dict], held_out: pd.DataFrame | None) -> dict:
    """Write the model directory the serving app reads; return its metadata.

    The ONNX conversion is served when it scores `held_out` (the test split's input columns) like
    the pipeline; otherwise model.joblib is, and the metadata and a line on stderr say why.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    converted, conversion = onnx_export.export(model, columns, held_out, metadata.get("task", ""))
    runtime = "onnx" if converted is not None else "sklearn"
    metadata = {**metadata, "runtime": runtime, "conversion": conversion}
    (out / paths.ONNX_FILE).unlink(missing_ok=True)  # a stale one from an earlier export must not be served
    if converted is not None:
        (out / paths.ONNX_FILE).write_bytes(converted)
    else:
        print(f"export: serving model.joblib: ONNX conversion {conversion['status']}: {conversion['message']}",
              file=sys.stderr)
    joblib.dump(model, out / paths.MODEL_FILE)
    (out / paths.METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")
    (out / paths.SCHEMA_FILE).write_text(json.dumps({"columns": columns}, indent=2) + "\n")
    pins = [f"{name}=={version(name)}" for name in RUNTIME_PACKAGES[runtime]]
    (out / paths.REQUIREMENTS_FILE).write_text("\n".join(pins) + "\n")
    return metadata


def run(params: dict, source: str = "champion", out: str | Path = paths.MODEL_DIR) -> dict:
    model, record = load(params, source)
    features = [str(name) for name in getattr(model, "feature_names_in_", [])]
    metadata = {
        **record,
        "task": params["task"],
        "target": params["data"]["target"],
        "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),  # noqa: UP017 (UTC is 3.11+)
    }
    columns = contract.input_schema(params, features or None)
    metadata.update(serving_settings(params, columns), reference=reference(params, columns))
    return write(out, model, metadata, columns, held_out_split(params, columns))
