"""Register a candidate that passed the gate, and propose it as champion in git.

`register` (the last DVC stage) logs the run to MLflow and registers the candidate with the
`challenger` alias. `promote` writes champion.json and champion/ for a promotion pull request:
merging that pull request is what makes a champion. It proposes nothing when the candidate is
byte-identical to the champion or was trained on exactly the champion's inputs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from .. import champion, remote, signing
from ..ci import actions
from ..config import METRICS, MODEL, TEST, TRAIN, VERDICT
from ..errors import CheckFailed, PipelineError
from .gate import primary_metric, schema_features

REGISTRATION = Path("reports/registration.json")
RUN_INFO = Path("models/run.json")
CHAMPION = champion.RECORD
LIBRARIES = ("scikit-learn", "numpy", "scipy", "pandas", "joblib")  # what the model file depends on
TRAINING_CODE = ("prepare.py", "train.py")


def _json(path: Path, stage: str) -> dict:
    if not path.is_file():
        raise PipelineError(f"{path}: not found; run the {stage} stage first")
    return json.loads(path.read_text())


def facts(params: dict) -> dict:
    """What the pipeline's files say about this run, for the MLflow run and the registry."""
    import pandas as pd

    return {"metrics": _json(METRICS, "evaluate"), "gate": _json(VERDICT, "gate"),
            "data_sha256": champion.sha256_file(params["data"]["path"]),
            "train": pd.read_csv(TRAIN), "test": pd.read_csv(TEST)}


def signature_of(params: dict) -> tuple[object, object]:
    """The model's MLflow signature, typed from the data contract (so a client can score the raw CSV:
    integer columns are `long`), and an input example read with the same dtypes."""
    from .. import contract
    from .train import read_split

    example = read_split(TRAIN, params)[0].head(5)
    return contract.model_signature(params, list(example.columns)), example


def register(params: dict) -> dict:
    import joblib
    import mlflow

    from .. import tracking

    known = facts(params)
    verdict = known["gate"]
    if not verdict.get("passed"):
        raise CheckFailed(f"not registering: the gate failed ({'; '.join(verdict.get('reasons', []))})")
    model = joblib.load(MODEL)
    signature, example = signature_of(params)
    logged = tracking.log_run(params, known, model=model, signature=signature, input_example=example)
    name = params["mlflow"]["model_name"]
    registered = mlflow.register_model(logged["model_uri"], name)
    client = mlflow.MlflowClient()
    client.set_registered_model_alias(name, "challenger", registered.version)
    metric = primary_metric(params)
    commit = tracking.git_commit()
    tags = {"gate": "passed", "primary_metric": metric, metric: str(known["metrics"].get(metric)),
            "git_commit": commit or "", "data_sha256": known["data_sha256"]}
    for key, value in tags.items():
        client.set_model_version_tag(name, registered.version, key, value)
    client.update_model_version(name, registered.version, description=(
        f"{params['model']['family']} trained from commit {commit or '(no git)'} on {params['data']['path']} "
        f"(sha256 {known['data_sha256'][:12]}); {metric} {known['metrics'].get(metric)}; gate passed."))
    model_sha256 = champion.sha256_file(MODEL)
    RUN_INFO.write_text(json.dumps({"run_id": logged["run_id"], "model_uri": logged["model_uri"],
                                    "registry_version": int(registered.version), "model_sha256": model_sha256},
                                   indent=2) + "\n")
    record = {"model_name": name, "version": int(registered.version), "alias": "challenger",
              "run_id": logged["run_id"], "metrics": known["metrics"], "model_sha256": model_sha256,
              "training_rows": len(known["train"])}
    REGISTRATION.parent.mkdir(parents=True, exist_ok=True)
    REGISTRATION.write_text(json.dumps(record, indent=2) + "\n")
    return record


def libraries() -> dict[str, str]:
    found = {}
    for name in LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def inputs_sha256(params: dict, data_sha256: str) -> str:
    """One fingerprint of everything the model file depends on: data, parameters, code, libraries."""
    code = {name: champion.sha256_file(Path(__file__).with_name(name)) for name in TRAINING_CODE}
    return champion.sha256_json({"data": data_sha256, "libraries": libraries(), "code": code,
                                 "params": {key: params[key] for key in ("task", "data", "split", "model")}})


def _store(record: dict) -> None:
    """Put the model bytes where champion.json says: committed in git, or pushed to the DVC remote."""
    for stale in (champion.MODEL, champion.DVC_FILE):
        stale.unlink(missing_ok=True)
    champion.MODEL.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(MODEL, champion.MODEL)
    if record["storage"] == "dvc":
        remote.authenticate(remote.default())  # a GCS or SSH key from the environment (CI)
        for command in (["dvc", "add", str(champion.MODEL)], ["dvc", "push", str(champion.DVC_FILE)]):
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise PipelineError(f"`{' '.join(command)}` failed: {done.stderr.strip()[-500:]}")
    elif champion.MODEL.stat().st_size > champion.GIT_SIZE_WARNING:
        print(f"::warning::{champion.MODEL} is {champion.MODEL.stat().st_size >> 20} MB: configure a DVC remote "
              "(README, 'Where the champion's model is kept') before it reaches GitHub's 100 MB limit")


def promote(params: dict, check: bool = False) -> dict:
    """Propose the registered candidate as the next champion: write champion.json and champion/.

    With `check`, only decide. Returns {"promoted": bool, "reason"|"record": ...}; in CI the
    decision is also a step output (`promoted`, `version`) and a line of the job summary.
    """
    registration = _json(REGISTRATION, "register")
    current = champion.read_optional(CHAMPION)
    model_sha256 = champion.sha256_file(MODEL)
    if model_sha256 != registration.get("model_sha256"):
        raise PipelineError(f"{MODEL} changed since it was registered ({REGISTRATION}): run `dvc repro` again")
    data_sha256 = champion.sha256_file(params["data"]["path"])
    inputs = inputs_sha256(params, data_sha256)
    reason = champion.unchanged(current, model_sha256, inputs)
    if reason:
        actions.set_outputs({"promoted": "false", "version": current["version"]})
        actions.add_summary(f"**Nothing to promote:** {reason}. No pull request.")
        return {"promoted": False, "reason": reason}
    metric = primary_metric(params)
    record = {
        "model_name": params["mlflow"]["model_name"],
        "version": champion.next_version(current, registration["version"]),
        "highest_version": champion.next_version(current, registration["version"]),
        "model_sha256": model_sha256,
        "model_path": champion.MODEL.as_posix(),
        "storage": "dvc" if remote.default() else "git",
        "run_id": registration["run_id"],
        "registry_version": registration["version"],
        "metrics": registration["metrics"],
        "primary_metric": metric,
        "task": params["task"],
        "target": params["data"]["target"],
        "features": schema_features(Path(params["data"]["schema"]).read_text(), params["data"]["target"]),
        "data_path": params["data"]["path"],
        "data_sha256": data_sha256,
        "training_rows": registration["training_rows"],
        "inputs_sha256": inputs,
        "libraries": libraries(),
        "trained_from": champion.git("rev-parse", "HEAD").stdout.strip() or None,
    }
    if not check:
        with tempfile.TemporaryDirectory() as folder:
            # Signed before anything is written: a key or identity problem leaves champion/ as it was.
            staged = Path(folder, champion.SIGNATURE.name)
            record["signed_by"] = signing.sign(params, MODEL, staged)
            _store(record)
            champion.SIGNATURE.unlink(missing_ok=True)
            if record["signed_by"]:
                shutil.move(staged, champion.SIGNATURE)
            else:
                signing.note_unsigned()
        champion.write(record, CHAMPION)
    actions.set_outputs({"promoted": "true", "version": record["version"]})
    actions.add_summary(f"**Proposed as champion v{record['version']}:** {metric} {record['metrics'].get(metric)} "
                   f"(model sha256 `{model_sha256[:12]}`, {record['storage']} storage)"
                   + (f"; replaces v{current['version']}." if current else "; the first champion.")
                   + (f" Signed by {record['signed_by']}." if record.get("signed_by") else ""))
    return {"promoted": True, "record": record}
