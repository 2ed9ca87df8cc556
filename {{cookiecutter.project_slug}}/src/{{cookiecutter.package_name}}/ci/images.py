"""`cleanup-images`: delete old serving images from ghcr.io, never one a rollback could need.

deploy.yml tags each image `sha-<commit>` and `model-v<N>`. When a later build for the same model (new
serving code) takes the `model-v<N>` tag, the older image keeps only its `sha-` tag and nothing will
deploy it again. This deletes such images once they are older than `keep_days`, and keeps:
- every image tagged `model-v<N>` for a version N that champion.json has ever named (its git history),
  so rollback.yml can always deploy it;
- every image younger than `keep_days` (a build in progress, a deploy waiting for approval);
- every untagged version: on ghcr.io these are often parts of a tagged image (its provenance attestation
  or platform manifests), which deleting would break.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

from .. import reporting
from ..errors import PipelineError
from ..paths import CHAMPION
from . import actions
from .github import GitHub

OURS = re.compile(r"(sha-[0-9a-f]{7,40}|model-v\d+)")
MODEL_TAG = re.compile(r"model-v(\d+)")


def named_versions(path: str | Path = CHAMPION, cwd: str | None = None) -> set[int]:
    """Every `version` champion.json has held in this branch's history."""
    shallow = subprocess.run(["git", "rev-parse", "--is-shallow-repository"], capture_output=True, text=True, cwd=cwd)
    if shallow.stdout.strip() == "true":
        raise PipelineError("this clone is shallow, so champion.json's history is incomplete: check out with "
                            "fetch-depth: 0")
    log = subprocess.run(["git", "log", "--format=%H", "--", path], capture_output=True, text=True, cwd=cwd)
    if log.returncode != 0:
        raise PipelineError(f"git log -- {path} failed: {log.stderr.strip()} (check out with fetch-depth: 0)")
    versions = set()
    for commit in log.stdout.split():
        shown = subprocess.run(["git", "show", f"{commit}:{path}"], capture_output=True, text=True, cwd=cwd)
        if shown.returncode != 0:
            continue  # the commit deleted it
        try:
            version = json.loads(shown.stdout).get("version")
        except (ValueError, AttributeError):
            continue
        if isinstance(version, int):
            versions.add(version)
    return versions


def decide(versions: list[dict], named: set[int], keep_days: int, now: datetime) -> tuple[list[dict], list[dict]]:
    """(to delete, to keep) among the package's versions: a pure function of the listing."""
    delete, keep = [], []
    for version in versions:
        tags = list(((version.get("metadata") or {}).get("container") or {}).get("tags") or [])
        created = datetime.fromisoformat(str(version.get("created_at") or now.isoformat()).replace("Z", "+00:00"))
        models = {int(m.group(1)) for t in tags if (m := MODEL_TAG.fullmatch(t))}
        if (not tags or models & named or now - created < timedelta(days=keep_days)
                or not all(OURS.fullmatch(t) for t in tags)):
            keep.append(version)
        else:
            delete.append(version)
    return delete, keep


def cleanup(*, keep_days: int = 30, dry_run: bool = False, env: dict | None = None, cwd: str | None = None,
            now: datetime | None = None) -> dict:
    """The `cleanup-images` command: list, decide, delete; the job summary says what and why."""
    if keep_days < 1:
        raise PipelineError(f"--keep-days {keep_days}: expected at least 1")
    image = actions.image_name(env)
    registry, _, path = image.partition("/")
    if registry != "ghcr.io":
        result = {"action": "skipped", "image": image, "deleted": [], "kept": 0,
                  "reason": f"images in {registry} are not cleaned up here (only ghcr.io's API is used): use the "
                            "registry's own retention policy"}
        actions.add_summary(reporting.render("images.md", skipped=True, reason=result["reason"]), env)
        return result
    package = path.split("/", 1)[1]
    named = named_versions(cwd=cwd)
    client = GitHub.from_env(os.environ if env is None else env, "a token with packages: write on the image")
    endpoint, versions = client.package_versions(package)
    delete, keep = decide(versions, named, keep_days, now or datetime.now(timezone.utc))  # noqa: UP017 (UTC: 3.11+)
    for version in delete if not dry_run else []:
        client.delete_package_version(endpoint, version["id"])
    gone = [", ".join(version["metadata"]["container"]["tags"]) for version in delete]
    verb = "would delete" if dry_run else "deleted"
    champions = ", ".join(f"v{n}" for n in sorted(named)) or "none yet"
    actions.add_summary(reporting.render("images.md", skipped=False, verb=verb, gone=gone, total=len(versions),
                                         image=image, champions=champions, keep_days=keep_days), env)
    return {"action": verb.replace(" ", "-"), "image": image, "deleted": gone, "kept": len(keep),
            "named": sorted(named)}
