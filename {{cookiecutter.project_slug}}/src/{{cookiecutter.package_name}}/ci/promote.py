"""Propose the registered candidate as champion in git (levels 1 and 2).

`promote` writes champion.json and champion/ for a promotion pull request: merging that pull request
is what makes a champion. It proposes nothing when the candidate is byte-identical to the champion
or was trained on exactly the champion's inputs. Versions only go up, whatever store a run starts from.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from .. import champion, remote, signing
from ..config import primary_metric
from ..errors import PipelineError
from ..paths import CHAMPION, CHAMPION_DVC, CHAMPION_MODEL, CHAMPION_SIGNATURE, MODEL, REGISTRATION, read_output

LIBRARIES = ("scikit-learn", "numpy", "scipy", "pandas", "joblib")  # what the model file depends on
TRAINING_CODE = ("prepare.py", "train.py")  # in stages/


def highest_version(record: dict | None) -> int:
    """The highest version ever recorded: a rollback lowers `version` but never this."""
    if record is None:
        return 0
    return max(int(record["version"]), int(record.get("highest_version") or 0))


def next_version(current: dict | None, registry_version: int | None) -> int:
    """Version N+1 after the highest champion in git, whatever store this run started from; with a
    shared registry that is ahead (candidates registered but never merged), its number wins."""
    return max(highest_version(current) + 1, int(registry_version or 0))


def unchanged(current: dict | None, model_sha256: str, inputs_sha256: str) -> str | None:
    """Why a candidate is nothing new next to the champion, or None when it should be proposed."""
    if current is None:
        return None
    if current.get("model_sha256") == model_sha256:
        return f"the model is byte-identical to champion v{current['version']}"
    if current.get("inputs_sha256") == inputs_sha256:
        return (f"it was trained on the same data, parameters, code and libraries as champion "
                f"v{current['version']}: no new labelled data")
    return None


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
    code = {name: champion.sha256_file(Path(__file__).parents[1] / "stages" / name) for name in TRAINING_CODE}
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
    reason = unchanged(current, model_sha256, inputs)
    if reason:
        return {"promoted": False, "reason": reason, "version": current["version"]}
    metric = primary_metric(params)
    record = {
        "model_name": params["mlflow"]["model_name"],
        "version": next_version(current, registration["version"]),
        "highest_version": next_version(current, registration["version"]),
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
        with tempfile.TemporaryDirectory() as folder:
            # Signed before anything is written: a key or identity problem leaves champion/ as it was.
            staged = Path(folder, CHAMPION_SIGNATURE.name)
            record["signed_by"] = signing.sign(params, MODEL, staged)
            _store(record)
            CHAMPION_SIGNATURE.unlink(missing_ok=True)
            if record["signed_by"]:
                shutil.move(staged, CHAMPION_SIGNATURE)
            else:
                signing.note_unsigned()
        champion.write(record, CHAMPION)
    return {"promoted": True, "record": record, "replaces": current["version"] if current else None}
