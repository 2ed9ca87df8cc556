"""Shared systems, from the same code: the registry's `champion` alias follows champion.json only on a
shared store (never the embedded one), and the DVC remote gets its credentials from the environment
(a no-op without a remote). The template's tests/test_tracking.py runs all of it for real: a
PostgreSQL-backed MLflow server, a DVC remote, two clones and the workflows under act."""

from __future__ import annotations

import stat

import mlflow
import pytest

from {{ cookiecutter.package_name }} import remote, tracking
from {{ cookiecutter.package_name }}.errors import PipelineError


def test_sync_registry_does_nothing_with_the_embedded_store(project, params):
    result = tracking.sync_champion(params, {"model_name": "demo", "version": 1, "registry_version": 1})
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
    moved = tracking.sync_champion(params, record)
    assert moved["moved"] and "from no version to version 2" in moved["reason"]
    assert str(client.get_model_version_by_alias("demo", "champion").version) == "2"
    assert client.get_model_version("demo", "2").tags["champion_version"] == "2"
    assert tracking.sync_champion(params, record) == {"moved": False, "version": "2",
                                                      "reason": "@champion is already version 2"}

    rolled_back = {**record, "version": 1, "registry_version": 1, "run_id": runs[0]}
    assert tracking.sync_champion(params, rolled_back)["moved"]
    assert str(client.get_model_version_by_alias("demo", "champion").version) == "1"

    elsewhere = {**record, "registry_version": 1}  # a version number from another store: run ids differ
    with pytest.raises(PipelineError, match=f"is run {runs[0]}, but champion.json .v2. names run {runs[1]}"):
        tracking.sync_champion(params, elsewhere)
    with pytest.raises(PipelineError, match="no registry_version"):
        tracking.sync_champion(params, {**record, "registry_version": None})
    assert str(client.get_model_version_by_alias("demo", "champion").version) == "1"


def test_remote_does_nothing_without_a_remote_and_takes_key_files_from_the_environment(project, tmp_path):
    (project / ".dvc/config").write_text("[core]\n    autostage = true\n")  # no remote
    assert remote.transfer("pull") == ("no DVC remote configured: nothing to pull "
                                       "(README, 'Data and models in a DVC remote')")

    # GCS and SSH read keys from files: written privately outside the checkout, named in config.local.
    home = tmp_path / "home"
    for name, url, variable, option in (("gcs", "gs://bucket/dvc", "GCS_CREDENTIALS", "credentialpath"),
                                        ("box", "ssh://ci@host.example/srv/dvc", "SSH_PRIVATE_KEY", "keyfile")):
        with (project / ".dvc/config").open("a") as config:  # as `dvc remote add --default` writes it
            config.write(f"['remote \"{name}\"']\n    url = {url}\n")
        env = {"RUNNER_TEMP": str(tmp_path), "HOME": str(home), variable: "secret-key-material",
               "SSH_KNOWN_HOSTS": "host.example ssh-ed25519 AAAAC3Nza"}
        assert remote.authenticate(name, env) == f"{option} from {variable}"
        key = tmp_path / f"dvc-{name}-key"
        assert key.read_text() == "secret-key-material\n" and stat.S_IMODE(key.stat().st_mode) == 0o600
        assert f"{option} = {key}" in (project / ".dvc/config.local").read_text()
        assert "secret-key-material" not in (project / ".dvc/config").read_text()
        assert (home / ".ssh/known_hosts").is_file() == (name == "box")
    assert remote.authenticate("gcs", {"RUNNER_TEMP": str(tmp_path)}) is None  # unset: DVC's own defaults
