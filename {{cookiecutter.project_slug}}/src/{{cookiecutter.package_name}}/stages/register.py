"""Register a candidate that passed the gate: the last DVC stage.

`register` logs the run to MLflow and registers the candidate with the `challenger` alias. Proposing
it as champion is `promote` (promote.py, levels 1 and 2).
"""

from __future__ import annotations

import json

from .. import champion
from ..config import primary_metric
from ..errors import CheckFailed
from ..paths import MODEL, REGISTRATION, RUN_INFO, TRAIN


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
