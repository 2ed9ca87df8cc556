"""MLflow in one place: which store, the one run each pipeline run logs, and the registry's aliases.

Importing MLflow takes seconds, so only `register` (and a failing gate) import this module: every
other stage writes files, and this module logs them all to one run: parameters, metrics, the
training data as a dataset, the plots and the reports, and the model. With a shared tracking server
(docs/tracking.md), `sync-registry` (ci/registry.py) makes the registry's `champion` alias follow
champion.json in git.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.parse
import uuid
import warnings
from importlib.metadata import version
from pathlib import Path

import mlflow

from .config import PIP_PACKAGES
from .errors import PipelineError
from .paths import (
    LOGGED,
    METRICS,
    MLFLOW_DB,
    MLFLOW_LINK_PREFIX,
    MLFLOW_LINKS,
    MLRUNS,
    TEST,
    TRAIN,
    VERDICT,
    read_output,
)

EMBEDDED_URI = f"sqlite:///{MLFLOW_DB}"  # as configured: the embedded store, wherever the checkout is


def tracking_uri(params: dict) -> str:
    """MLFLOW_TRACKING_URI wins, then params.yaml, then the embedded SQLite store in the repo."""
    configured = os.environ.get("MLFLOW_TRACKING_URI") or params["mlflow"].get("tracking_uri")
    if configured and configured != EMBEDDED_URI:
        return configured
    # Absolute in this process (MLflow caches one store per URI); link_artifacts() makes moves harmless.
    return f"sqlite:///{MLFLOW_DB.resolve()}"


def shared(params: dict) -> bool:
    """True for a store outside this checkout (a tracking server, most often), which other runs also use."""
    return tracking_uri(params) != f"sqlite:///{MLFLOW_DB.resolve()}"


def link_artifacts(link: Path) -> Path:
    """Make `link` (the artifact location MLflow records for the embedded store) lead to this checkout's mlruns/.

    MLflow stores artifact locations as absolute paths (a relative one is resolved when the experiment is
    created), so after the folder moves, or on another machine after a CI run's store is downloaded, `mlflow ui`
    and `models:/` would look in the old folder. Instead of rewriting MLflow's tables, the recorded path is a
    symlink under /tmp, the same path on every machine, named by a random id, which this re-points.
    """
    target = MLRUNS.resolve()
    target.mkdir(exist_ok=True)
    if link.is_symlink() and Path(os.readlink(link)) == target:
        return link
    if link.is_symlink() and link.lstat().st_uid != os.getuid():
        raise PipelineError(f"{link}: the link to this store's artifacts belongs to another user; remove it, or "
                            "move mlflow.db and mlruns/ aside to start a new embedded store")
    if link.exists() and not link.is_symlink():
        raise PipelineError(f"{link}: MLflow records this store's artifacts there, and it is not a link to "
                            f"{target}; move it aside")
    link.parent.mkdir(parents=True, exist_ok=True)
    staged = link.with_name(f"{link.name}.{os.getpid()}")
    staged.unlink(missing_ok=True)
    staged.symlink_to(target, target_is_directory=True)
    os.replace(staged, link)  # atomic: a concurrent reader sees the old link or the new one
    return link


def _recorded_link(location: str | None) -> Path | None:
    """The link an experiment's artifact location names, if it is one of ours (older stores name mlruns/)."""
    if not location or not location.startswith("file://"):
        return None
    path = Path(urllib.parse.unquote(urllib.parse.urlsplit(location).path))
    return path if path.parent == MLFLOW_LINKS and path.name.startswith(MLFLOW_LINK_PREFIX) else None


def setup(params: dict) -> str:
    """Point MLflow at the configured store and experiment; return the experiment id."""
    uri = tracking_uri(params)
    mlflow.set_tracking_uri(uri)
    embedded = not shared(params)
    name = params["mlflow"]["experiment"]
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is None:
        link = MLFLOW_LINKS / f"{MLFLOW_LINK_PREFIX}{uuid.uuid4().hex}"
        location = link_artifacts(link).as_uri() if embedded else None
        experiment_id = mlflow.create_experiment(name, artifact_location=location)
    else:
        experiment_id = experiment.experiment_id
        link = _recorded_link(experiment.artifact_location) if embedded else None
        if link is not None:
            link_artifacts(link)
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def pip_requirements() -> list[str]:
    """Explicit requirements: letting MLflow infer them re-imports the model in a subprocess (slow)."""
    return [f"{name}=={version(name)}" for name in PIP_PACKAGES]


def flatten(value: object, prefix: str = "") -> dict[str, object]:
    """{"model": {"params": {"n": 1}}} -> {"model.params.n": 1}: every tunable as one MLflow param."""
    if not isinstance(value, dict):
        return {prefix: value}
    flat: dict[str, object] = {}
    for key, item in value.items():
        flat.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def git_commit() -> str | None:
    out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False)
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None


def run_facts(params: dict) -> dict:
    """What the pipeline's files say about this run, for the MLflow run and the registry."""
    import pandas as pd

    from .champion import sha256_file

    return {"metrics": read_output(METRICS, "evaluate"), "gate": read_output(VERDICT, "gate"),
            "data_sha256": sha256_file(params["data"]["path"]),
            "train": pd.read_csv(TRAIN), "test": pd.read_csv(TEST)}


def log_run(params: dict, facts: dict, model: object | None = None, signature: object | None = None,
            input_example: object | None = None) -> dict:
    """Log one pipeline run: params, metrics, datasets, plots, reports, and the model if given.

    `facts` comes from the pipeline's files: metrics, gate verdict, data fingerprint, the split frames.
    Returns {run_id, model_uri}.
    """
    setup(params)
    with mlflow.start_run(run_name=f"{params['model']['family']}-{facts['data_sha256'][:8]}") as run:
        logged = {"task": params["task"], **flatten({key: params[key] for key in ("data", "split", "model")}),
                  "data.sha256": facts["data_sha256"], "data.train_rows": len(facts["train"]),
                  "data.test_rows": len(facts["test"])}
        mlflow.log_params(logged)
        mlflow.log_metrics({f"test_{k}": v for k, v in facts["metrics"].items()})
        target = params["data"]["target"]
        for context, frame in (("training", facts["train"]), ("evaluation", facts["test"])):
            with warnings.catch_warnings():  # MLflow registers its local-file source twice, then warns about it
                warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
                dataset = mlflow.data.from_pandas(frame, source=params["data"]["path"], targets=target,
                                                  name=f"{Path(params['data']['path']).stem}-{context}")
            mlflow.log_input(dataset, context=context)
        for folder, paths in LOGGED.items():
            for path in paths:
                files = sorted(path.iterdir()) if path.is_dir() else [path] if path.is_file() else []
                for file in files:
                    if file.is_file() and not file.name.startswith("."):  # not DVC's .gitignore
                        mlflow.log_artifact(str(file), artifact_path=folder)
        mlflow.set_tags({"gate": "passed" if facts["gate"].get("passed") else "failed",
                         "data_sha256": facts["data_sha256"], "git_commit": git_commit() or "",
                         "gate_reasons": json.dumps(facts["gate"].get("reasons", []))[:5000]})
        model_uri = None
        if model is not None:
            info = mlflow.sklearn.log_model(
                model, name="model", signature=signature, input_example=input_example,
                pip_requirements=pip_requirements(),
                # MLflow's copy is for its UI and clients such as `mlflow models predict`; the champion's
                # bytes live in git (sha256-checked). Pickle, as models.joblib: skops costs seconds here.
                serialization_format="cloudpickle",
            )
            model_uri = info.model_uri
    return {"run_id": run.info.run_id, "model_uri": model_uri}
