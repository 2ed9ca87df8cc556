"""Rollback (level 2): an earlier champion from champion.json's git history is the champion again."""

from __future__ import annotations

import json

from conftest import run_cli
from test_champion import commit_all

from {{ cookiecutter.package_name }} import champion
from {{ cookiecutter.package_name }}.ci import promote


def test_rollback_restores_an_earlier_champion_from_history(project, monkeypatch):
    models = {}
    for version in (1, 2):
        (project / "champion").mkdir(exist_ok=True)
        (project / "champion/model.joblib").write_bytes(f"model {version}".encode())
        models[version] = champion.sha256_file(project / "champion/model.joblib")
        champion.write({"model_name": "demo", "version": version, "highest_version": version,
                        "model_sha256": models[version], "metrics": {"f1_macro": 0.9 + version / 100}})
        commit_all(project, f"champion v{version}")

    result = run_cli("rollback", "--version", "1")
    assert result.returncode == 0, result.stderr
    assert "v1 is the champion again (was v2)" in result.stdout
    record = json.loads((project / "champion.json").read_text())
    assert (record["version"], record["highest_version"], record["rolled_back_from"]) == (1, 2, 2)
    assert (project / "champion/model.joblib").read_bytes() == b"model 1"
    assert promote.next_version(record, None) == 3

    commit_all(project, "roll back to v1")
    assert "version 1 is already the champion" in run_cli("rollback", "--version", "1").stderr
    unknown = run_cli("rollback", "--version", "7")
    assert unknown.returncode == 2 and "versions found: [1, 2]" in unknown.stderr
