"""Registry sync (levels 1 and 2): the shared registry's `champion` alias follows champion.json in git."""

from __future__ import annotations

import mlflow

from .. import tracking
from ..errors import PipelineError


def sync_champion(params: dict, record: dict) -> dict:
    """Point the registry's `champion` alias at the version champion.json names (its `registry_version`).

    Only on a shared store: the embedded one is each checkout's own, and git alone names the champion.
    The version must hold the run champion.json names, so a champion registered in another store
    (before the server was set up) never moves the alias to an unrelated model.
    Returns {"moved": bool, "reason": str, "version": str | None}.
    """
    if not tracking.shared(params):
        return {"moved": False, "version": None, "reason": "the tracking store is the embedded one (mlflow.db), "
                "which is this checkout's own: champion.json in git names the champion, no shared registry to update"}
    from mlflow.exceptions import MlflowException

    uri = tracking.tracking_uri(params)
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient()
    name, version = record["model_name"], record.get("registry_version")
    where = f"champion.json (v{record['version']})"
    if not version:
        raise PipelineError(f"{where}: no registry_version, so no model version on {uri} to call champion")
    try:
        found = client.get_model_version(name, str(version))
    except MlflowException as exc:
        raise PipelineError(f"{uri}: cannot read version {version} of model '{name}' that {where} names: "
                            f"{exc.message}") from None
    if record.get("run_id") and found.run_id != record["run_id"]:
        raise PipelineError(f"{uri}: version {version} of '{name}' is run {found.run_id}, but {where} names run "
                            f"{record['run_id']}: it was registered in another store; @champion not moved")
    try:
        current = str(client.get_model_version_by_alias(name, "champion").version)  # an int from a SQL store
    except MlflowException:
        current = None  # no champion alias yet
    if current == str(version):
        return {"moved": False, "version": current, "reason": f"@champion is already version {current}"}
    client.set_registered_model_alias(name, "champion", str(version))
    client.set_model_version_tag(name, str(version), "champion_version", str(record["version"]))
    was = f"version {current}" if current else "no version"
    return {"moved": True, "version": str(version),
            "reason": f"@champion moved from {was} to version {version} (champion v{record['version']} in git)"}
