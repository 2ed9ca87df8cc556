"""Shared systems, from the same code: the registry's `champion` alias follows champion.json only on a
shared store (never the embedded one), and the DVC remote gets its credentials from the environment
(a no-op without a remote). The template's tests/test_tracking.py runs all of it for real: a
PostgreSQL-backed MLflow server, a DVC remote, two clones and the workflows under act."""

from __future__ import annotations

import stat

from {{ cookiecutter.package_name }} import remote


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
