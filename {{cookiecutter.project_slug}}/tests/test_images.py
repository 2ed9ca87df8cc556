"""cleanup-images against the tests' one fake GitHub API: old images go, every champion's image stays."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timezone

import pytest
from github_stub import GitHubStub

from {{ cookiecutter.package_name }}.ci import images
from {{ cookiecutter.package_name }}.errors import PipelineError

REPO, TOKEN = "acme/demo", "admin-token"
NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)  # noqa: UP017 (UTC is 3.11+)
OLD, RECENT = "2026-01-01T00:00:00Z", "2026-05-25T00:00:00Z"


def git(repo, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(repo), *args],
                   check=True, capture_output=True)


@pytest.fixture
def history(tmp_path):
    """A repo whose champion.json named v1, v2, then v1 again (a rollback)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    for version in (1, 2, 1):
        (repo / "champion.json").write_text(json.dumps({"model_name": "demo", "version": version}))
        git(repo, "add", "champion.json")
        git(repo, "commit", "-qm", f"champion v{version}")
    return repo


def test_cleanup_keeps_every_champion_and_deletes_the_rest(history, tmp_path, monkeypatch):
    monkeypatch.setattr(images.actions, "REGISTRY", "ghcr.io")  # whatever registry this project was generated with
    with GitHubStub(repo=REPO, token=TOKEN, prs=()) as stub:
        package = "demo"
        kept = {stub.add_package_version(package, ["sha-" + "a" * 40, "model-v1"], OLD),
                stub.add_package_version(package, ["sha-" + "c" * 40, "model-v2"], OLD),
                stub.add_package_version(package, ["sha-" + "d" * 40], RECENT),  # too young to go
                stub.add_package_version(package, [], OLD),  # untagged: perhaps part of a kept image
                stub.add_package_version(package, ["latest"], OLD)}  # not a tag deploy.yml makes
        superseded = stub.add_package_version(package, ["sha-" + "b" * 40], OLD)  # its model-v1 tag moved on
        never_named = stub.add_package_version(package, ["sha-" + "e" * 40, "model-v7"], OLD)
        summary = tmp_path / "summary.md"
        env = {**stub.env(), "GITHUB_REPOSITORY": "Acme/Demo", "GITHUB_STEP_SUMMARY": str(summary)}

        planned = images.cleanup(dry_run=True, env=env, cwd=str(history), now=NOW)
        assert planned["action"] == "would-delete" and len(planned["deleted"]) == 2 and stub.writes() == []
        assert planned["named"] == [1, 2]

        done = images.cleanup(env=env, cwd=str(history), now=NOW)
        assert done["action"] == "deleted" and done["kept"] == 5
        assert {v["id"] for v in stub.state["packages"][package]} == kept
        deleted = {int(r["path"].rsplit("/", 1)[1]) for r in stub.writes() if r["method"] == "DELETE"}
        assert deleted == {superseded, never_named}
        assert all(r["path"].lower().startswith("/users/acme/packages/container/demo/versions/")
                   for r in stub.writes())
        text = summary.read_text()
        assert "deleted 2 of 7 versions of `ghcr.io/acme/demo`" in text and "(v1, v2)" in text

        again = images.cleanup(env=env, cwd=str(history), now=NOW)  # nothing left to delete
        assert again["deleted"] == [] and len([r for r in stub.writes() if r["method"] == "DELETE"]) == 2


def test_cleanup_refuses_a_shallow_clone_and_skips_other_registries(history, tmp_path, monkeypatch):
    shallow = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", history.as_uri(), str(shallow)], check=True)
    with pytest.raises(PipelineError, match="shallow"):
        images.named_versions(cwd=str(shallow))
    monkeypatch.setattr(images.actions, "REGISTRY", "registry.example.com")
    result = images.cleanup(env={"GITHUB_REPOSITORY": REPO}, cwd=str(history))
    assert result["action"] == "skipped" and "retention policy" in result["reason"]
    with pytest.raises(PipelineError, match="--keep-days 0"):
        images.cleanup(keep_days=0, env={"GITHUB_REPOSITORY": REPO})
