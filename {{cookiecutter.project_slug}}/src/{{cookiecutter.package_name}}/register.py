"""Registry steps: register a candidate that passed the gate as `challenger`; promote it to `champion`.

Promotion is its own command so that the workflows (or a person) decide when it happens. It moves
the registry alias and writes champion.json, the git record of the champion.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException

from . import tracking
from .errors import CheckFailed, PipelineError
from .gate import VERDICT
from .train import RUN_INFO

REGISTRATION = Path("reports/registration.json")
CHAMPION = Path("champion.json")


def register(params: dict) -> dict:
    if not VERDICT.is_file():
        raise PipelineError(f"{VERDICT}: not found; run the gate first")
    verdict = json.loads(VERDICT.read_text())
    if not verdict.get("passed"):
        raise CheckFailed(f"not registering: the gate failed ({'; '.join(verdict.get('reasons', []))})")
    run_info = json.loads(RUN_INFO.read_text())
    tracking.setup(params)
    name = params["mlflow"]["model_name"]
    version = mlflow.register_model(run_info["model_uri"], name)
    client = mlflow.MlflowClient()
    client.set_registered_model_alias(name, "challenger", version.version)
    record = {"model_name": name, "version": int(version.version), "alias": "challenger",
              "run_id": run_info["run_id"], "metrics": verdict["candidate"]}
    REGISTRATION.parent.mkdir(parents=True, exist_ok=True)
    REGISTRATION.write_text(json.dumps(record, indent=2) + "\n")
    return record


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return None
    return out.stdout.strip() or None


def promote(params: dict, version: int | None = None) -> dict:
    """Give `version` (default: the current challenger) the `champion` alias and record it in git."""
    tracking.setup(params)
    client = mlflow.MlflowClient()
    name = params["mlflow"]["model_name"]
    try:
        found = (client.get_model_version(name, str(version)) if version is not None
                 else client.get_model_version_by_alias(name, "challenger"))
    except MlflowException:
        what = f"version {version}" if version is not None else "'challenger' alias"
        raise PipelineError(f"registry model '{name}' has no {what}; run the pipeline first") from None
    client.set_registered_model_alias(name, "champion", found.version)
    metrics = tracking.test_metrics(client, found.run_id)
    record = {
        "model_name": name,
        "version": int(found.version),
        "run_id": found.run_id,
        "metrics": metrics,
        "git_commit": _git_commit(),
        "promoted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    CHAMPION.write_text(json.dumps(record, indent=2) + "\n")
    return record
