"""Rollback: make an earlier champion (from champion.json's git history) the champion again (level 2)."""

from __future__ import annotations

from pathlib import Path

from ..champion import fetch, git, parse, read, write
from ..errors import PipelineError
from ..paths import CHAMPION, CHAMPION_DVC, CHAMPION_MODEL
from .promote import highest_version


def history(path: Path | str = CHAMPION) -> list[tuple[str, dict]]:
    """(commit, record) for every commit that changed champion.json, newest first."""
    log = git("log", "--format=%H", "--", str(path))
    if log.returncode != 0:
        raise PipelineError(f"{path}: cannot read its git history: {log.stderr.strip()}")
    found = []
    for commit in log.stdout.split():
        shown = git("show", f"{commit}:{path}")
        if shown.returncode == 0:  # absent in a commit that deleted it
            found.append((commit, parse(shown.stdout, f"{commit[:12]}:{path}")))
    return found


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
        for stale in (CHAMPION_MODEL, CHAMPION_DVC):
            stale.unlink(missing_ok=True)
        kept.parent.mkdir(parents=True, exist_ok=True)
        kept.write_bytes(shown.stdout)
        restored = {**record, "highest_version": highest_version(current), "rolled_back_from": current["version"]}
        fetch(restored)  # the bytes must be the ones the old record names
        write(restored)
        return restored
    found = sorted({r["version"] for _, r in history()})
    raise PipelineError(f"{CHAMPION}: no commit in this clone's history made version {version} the champion "
                        f"(versions found: {found}; a shallow clone needs `git fetch --unshallow`)")
