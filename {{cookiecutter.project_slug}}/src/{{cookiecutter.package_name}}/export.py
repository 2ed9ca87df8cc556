"""Export the model behind a registry alias (default: champion) as a directory the serving app reads.

build/model/ gets model.joblib, metadata.json (name, version, metrics, git commit, ...),
input_schema.json (the data schema without the target, as plain JSON) and requirements.txt (the
library versions the model was saved with, which the image build pins). Nothing in it needs
MLflow or pandera, so the serving image does not either.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import joblib
import mlflow
import skops.io
import yaml
from mlflow.exceptions import MlflowException
from skops.io.exceptions import UntrustedTypesFoundException

from . import checks, tracking
from .errors import PipelineError
from .register import CHAMPION
from .serve import METADATA_FILE, MODEL_FILE, REQUIREMENTS_FILE, SCHEMA_FILE

# pandera check -> (its statistic, the input_schema.json key the server turns into a bound)
BOUND_CHECKS = {
    "greater_than_or_equal_to": ("min_value", "minimum"),
    "greater_than": ("min_value", "exclusive_minimum"),
    "less_than_or_equal_to": ("max_value", "maximum"),
    "less_than": ("max_value", "exclusive_maximum"),
}


def load_registered(params: dict, alias: str) -> tuple[Any, dict]:
    """The model behind `models:/<name>@<alias>` and its registry record (version, run, metrics, commit)."""
    tracking.setup(params)
    client = mlflow.MlflowClient()
    name = params["mlflow"]["model_name"]
    try:
        found = client.get_model_version_by_alias(name, alias)
    except MlflowException:
        raise PipelineError(
            f"registry model '{name}' has no '{alias}' alias; run the pipeline and `promote` first"
        ) from None
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one bar per file: noise in CI logs
    with tempfile.TemporaryDirectory() as tmp:
        # By version, not alias: the alias could move between the lookup above and the download.
        local = Path(mlflow.artifacts.download_artifacts(f"models:/{name}/{found.version}", dst_path=tmp))
        flavor = yaml.safe_load((local / "MLmodel").read_text())["flavors"]["sklearn"]
        if flavor.get("serialization_format") != "skops":
            saved_as = flavor.get("serialization_format")
            raise PipelineError(f"{name} v{found.version}: saved as {saved_as}; export loads skops models only")
        try:
            # Our own trusted-type list, not the one stored beside the model, decides what may be loaded.
            model = skops.io.load(local / flavor["pickled_model"], trusted=tracking.SKOPS_TRUSTED_TYPES)
        except UntrustedTypesFoundException as exc:
            raise PipelineError(
                f"{name} v{found.version}: {exc}; if you trust these types, add them to tracking.SKOPS_TRUSTED_TYPES"
            ) from None
    record = {
        "model_name": name,
        "version": int(found.version),
        "alias": alias,
        "run_id": found.run_id,
        "metrics": tracking.test_metrics(client, found.run_id),
        "git_commit": _git_commit(client.get_run(found.run_id).data.tags, name, int(found.version)),
    }
    return model, record


def _git_commit(tags: dict, name: str, version: int) -> str | None:
    """The commit the model was trained from, as MLflow tagged the run; else the one promotion recorded."""
    if tags.get("mlflow.source.git.commit"):
        return tags["mlflow.source.git.commit"]
    # Runs started outside a git checkout's scripts (a notebook, a test) have no tag.
    if CHAMPION.is_file():
        champion = json.loads(CHAMPION.read_text())
        if champion.get("model_name") == name and champion.get("version") == version:
            return champion.get("git_commit")
    return None


def _column(name: str, column: Any) -> dict:
    # Same dtype rule as train.read_split: float64 columns are numbers, anything else is read as strings.
    entry: dict[str, Any] = {"name": name, "dtype": "float64" if str(column.dtype) == "float64" else "str",
                             "nullable": bool(column.nullable)}
    for check in column.checks:
        stats = check.statistics or {}
        if entry["dtype"] == "float64" and check.name == "in_range":
            entry["minimum" if stats.get("include_min", True) else "exclusive_minimum"] = float(stats["min_value"])
            entry["maximum" if stats.get("include_max", True) else "exclusive_maximum"] = float(stats["max_value"])
        elif entry["dtype"] == "float64" and check.name in BOUND_CHECKS:
            statistic, key = BOUND_CHECKS[check.name]
            entry[key] = float(stats[statistic])
        elif entry["dtype"] == "str" and check.name == "isin":
            entry["allowed"] = sorted(str(value) for value in stats["allowed_values"])
    return entry


def input_schema(params: dict, features: list[str] | None = None) -> list[dict]:
    """The model's input columns as described by the data schema (the target left out)."""
    path = params["data"]["schema"]
    schema = checks.load_schema(path)
    target = params["data"]["target"]
    names = features or [name for name in schema.columns if name != target]
    missing = [name for name in names if name not in schema.columns]
    if missing:
        raise PipelineError(f"{path}: no column(s) {', '.join(missing)}, which the model takes as input")
    return [_column(name, schema.columns[name]) for name in names]


def write(out: str | Path, model: Any, metadata: dict, columns: list[dict]) -> Path:
    """Write the model directory the serving app reads."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, out / MODEL_FILE)
    (out / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")
    (out / SCHEMA_FILE).write_text(json.dumps({"columns": columns}, indent=2) + "\n")
    (out / REQUIREMENTS_FILE).write_text("\n".join(tracking.pip_requirements()) + "\n")
    return out


def run(params: dict, alias: str = "champion", out: str | Path = "build/model") -> dict:
    model, record = load_registered(params, alias)
    features = [str(name) for name in getattr(model, "feature_names_in_", [])]
    metadata = {
        **record,
        "task": params["task"],
        "target": params["data"]["target"],
        "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),  # noqa: UP017 (UTC is 3.11+)
    }
    write(out, model, metadata, input_schema(params, features or None))
    return metadata
