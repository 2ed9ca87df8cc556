"""Registry sync (levels 1 and 2): the registry's `champion` alias follows champion.json only on a shared
store, never the embedded one. The template's tests/test_tracking.py runs it against a real MLflow server."""

from __future__ import annotations

import mlflow
import pytest

from {{ cookiecutter.package_name }} import tracking
from {{ cookiecutter.package_name }}.ci import registry
from {{ cookiecutter.package_name }}.errors import PipelineError


def test_sync_registry_does_nothing_with_the_embedded_store(project, params):
    result = registry.sync_champion(params, {"model_name": "demo", "version": 1, "registry_version": 1})
    assert not result["moved"] and "the embedded one (mlflow.db)" in result["reason"]
    uri = f"sqlite:///{project / 'mlflow.db'}"
    assert mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri).search_registered_models() == []


def test_sync_registry_moves_champion_to_the_version_git_names(project, params, tmp_path, monkeypatch):
    store = tmp_path / "shared" / "mlflow.db"  # outside the checkout: a store other clones use too
    store.parent.mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store}")
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{store}")
    experiment = client.create_experiment("sync", artifact_location=(tmp_path / "artifacts").as_uri())
    runs = [client.create_run(experiment).info.run_id for _ in range(2)]
    client.create_registered_model("demo")
    for run_id in runs:
        client.create_model_version("demo", f"runs:/{run_id}/model", run_id=run_id)
    assert tracking.shared(params)

    record = {"model_name": "demo", "version": 2, "registry_version": 2, "run_id": runs[1]}
    moved = registry.sync_champion(params, record)
    assert moved["moved"] and "from no version to version 2" in moved["reason"]
    assert str(client.get_model_version_by_alias("demo", "champion").version) == "2"
    assert client.get_model_version("demo", "2").tags["champion_version"] == "2"
    assert registry.sync_champion(params, record) == {"moved": False, "version": "2",
                                                      "reason": "@champion is already version 2"}

    rolled_back = {**record, "version": 1, "registry_version": 1, "run_id": runs[0]}
    assert registry.sync_champion(params, rolled_back)["moved"]
    assert str(client.get_model_version_by_alias("demo", "champion").version) == "1"

    elsewhere = {**record, "registry_version": 1}  # a version number from another store: run ids differ
    with pytest.raises(PipelineError, match=f"is run {runs[0]}, but champion.json .v2. names run {runs[1]}"):
        registry.sync_champion(params, elsewhere)
    with pytest.raises(PipelineError, match="no registry_version"):
        registry.sync_champion(params, {**record, "registry_version": None})
    assert str(client.get_model_version_by_alias("demo", "champion").version) == "1"
