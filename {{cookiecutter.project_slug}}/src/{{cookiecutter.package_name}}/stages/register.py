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
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from .. import champion, remote
from ..config import primary_metric
from ..errors import CheckFailed, PipelineError
from ..paths import CHAMPION, CHAMPION_DVC, CHAMPION_MODEL, MODEL, REGISTRATION, RUN_INFO, TRAIN, read_output

LIBRARIES = ("scikit-learn", "numpy", "scipy", "pandas", "joblib")  # what the model file depends on
TRAINING_CODE = ("prepare.py", "train.py")


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

    known = tracking.run_facts(params)
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
    for stale in (CHAMPION_MODEL, CHAMPION_DVC):
        stale.unlink(missing_ok=True)
    CHAMPION_MODEL.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(MODEL, CHAMPION_MODEL)
    if record["storage"] == "dvc":
        remote.authenticate(remote.default())  # a GCS or SSH key from the environment (CI)
        for command in (["dvc", "add", str(CHAMPION_MODEL)], ["dvc", "push", str(CHAMPION_DVC)]):
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise PipelineError(f"`{' '.join(command)}` failed: {done.stderr.strip()[-500:]}")
    elif CHAMPION_MODEL.stat().st_size > champion.GIT_SIZE_WARNING:
        print(f"::warning::{CHAMPION_MODEL} is {CHAMPION_MODEL.stat().st_size >> 20} MB: configure a DVC remote "
              "(README, 'Where the champion's model is kept') before it reaches GitHub's 100 MB limit")


def promote(params: dict, check: bool = False) -> dict:
    """Propose the registered candidate as the next champion: write champion.json and champion/.

    With `check`, only decide. Returns {"promoted": False, "reason", "version": the champion's} or
    {"promoted": True, "record", "replaces": the champion's version or None}.
    """
    from .. import contract

    registration = read_output(REGISTRATION, "register")
    current = champion.read_optional(CHAMPION)
    model_sha256 = champion.sha256_file(MODEL)
    if model_sha256 != registration.get("model_sha256"):
        raise PipelineError(f"{MODEL} changed since it was registered ({REGISTRATION}): run `dvc repro` again")
    data_sha256 = champion.sha256_file(params["data"]["path"])
    inputs = inputs_sha256(params, data_sha256)
    reason = champion.unchanged(current, model_sha256, inputs)
    if reason:
        return {"promoted": False, "reason": reason, "version": current["version"]}
    metric = primary_metric(params)
    record = {
        "model_name": params["mlflow"]["model_name"],
        "version": champion.next_version(current, registration["version"]),
        "highest_version": champion.next_version(current, registration["version"]),
        "model_sha256": model_sha256,
        "model_path": CHAMPION_MODEL.as_posix(),
        "storage": "dvc" if remote.default() else "git",
        "run_id": registration["run_id"],
        "registry_version": registration["version"],
        "metrics": registration["metrics"],
        "primary_metric": metric,
        "task": params["task"],
        "target": params["data"]["target"],
        "features": contract.load(params["data"]["schema"]).features(params["data"]["target"]),
        "data_path": params["data"]["path"],
        "data_sha256": data_sha256,
        "training_rows": registration["training_rows"],
        "inputs_sha256": inputs,
        "libraries": libraries(),
        "trained_from": champion.git("rev-parse", "HEAD").stdout.strip() or None,
    }
    if not check:
        _store(record)
        champion.write(record, CHAMPION)
    return {"promoted": True, "record": record, "replaces": current["version"] if current else None}
