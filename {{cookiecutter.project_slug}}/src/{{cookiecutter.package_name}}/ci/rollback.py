"""Rollback: make an earlier champion (from champion.json's git history) the champion again (level 2)."""

from __future__ import annotations

from pathlib import Path

from ..champion import fetch, git, history, read, write
from ..errors import PipelineError
from ..paths import CHAMPION, CHAMPION_DVC, CHAMPION_MODEL, CHAMPION_SIGNATURE
from .promote import highest_version


def rollback(version: int) -> dict:
    """Make champion `version` from git history the champion again, with its model bytes.

    Writes champion.json (and champion/) in the working tree; the caller commits it, so the next
    deploy of main serves this version too.
    """
    current = read()
    if current["version"] == version:
        raise PipelineError(f"{CHAMPION}: version {version} is already the champion")
    for commit, record in history():
        if record["version"] != version:
            continue
        storage = record.get("storage", "git")
        source = Path(record.get("model_path") or CHAMPION_MODEL)
        kept = source.with_name(source.name + ".dvc") if storage == "dvc" else source
        shown = git("show", f"{commit}:{kept}", text=False)
        if shown.returncode != 0:
            raise PipelineError(f"{commit[:12]}:{kept}: not in git, so version {version} cannot be restored")
        signature = git("show", f"{commit}:{CHAMPION_SIGNATURE}", text=False)
        for stale in (CHAMPION_MODEL, CHAMPION_DVC, CHAMPION_SIGNATURE):
            stale.unlink(missing_ok=True)
        kept.parent.mkdir(parents=True, exist_ok=True)
        kept.write_bytes(shown.stdout)
        if signature.returncode == 0:  # the signature made for these bytes; deploys verify it
            CHAMPION_SIGNATURE.write_bytes(signature.stdout)
        restored = {**record, "highest_version": highest_version(current), "rolled_back_from": current["version"]}
        fetch(restored)  # the bytes must be the ones the old record names
        write(restored)
        return restored
    found = sorted({r["version"] for _, r in history()})
    raise PipelineError(f"{CHAMPION}: no commit in this clone's history made version {version} the champion "
                        f"(versions found: {found}; a shallow clone needs `git fetch --unshallow`)")
