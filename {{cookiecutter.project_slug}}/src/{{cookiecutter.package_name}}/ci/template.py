"""Template updates with cruft: is the template ahead of the commit .cruft.json records, and if so, merge it.

`cruft check` decides; `cruft update` re-renders the template at both commits and merges the difference into the
working tree (three-way, so a line both sides changed comes as inline conflict markers). This module only runs
them and reports: the changed files and the conflicts, for the pull request that template-update.yml opens.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .. import reporting
from ..errors import PipelineError
from ..paths import CRUFT_STATE
from . import actions

CONFLICT = "<<<<<<< "


def _cruft(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cruft", *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, check=False)


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise PipelineError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def _state() -> dict:
    try:
        return json.loads(CRUFT_STATE.read_text())
    except FileNotFoundError:
        raise PipelineError(f"{CRUFT_STATE}: not found; this repository was not generated from the template "
                            "(or the file was removed), so there is nothing to update from") from None
    except json.JSONDecodeError as exc:
        raise PipelineError(f"{CRUFT_STATE}: not valid JSON: {exc}") from None


def conflicted(files: list[str]) -> list[str]:
    """The files holding merge conflict markers, and .rej files (hunks that could not be merged at all)."""
    found = []
    for name in files:
        path = Path(name)
        if name.endswith(".rej"):
            found.append(name)
        elif path.is_file():
            try:
                text = path.read_text()
            except UnicodeDecodeError:
                continue
            if any(line.startswith(CONFLICT) for line in text.splitlines()):
                found.append(name)
    return found


def update(body: Path | None = None) -> dict:
    """{"updated": bool, "old", "new" (template commits), "changed": [...], "conflicts": [...], "reason"}."""
    before = _state()
    if _git("status", "--porcelain", "--untracked-files=no").strip():
        raise PipelineError("the working tree has uncommitted changes: cruft update needs a clean checkout")
    check = _cruft("check")
    said = (check.stdout + check.stderr).strip()
    if check.returncode == 0:
        result = {"updated": False, "template": before["template"], "old": before["commit"], "new": before["commit"],
                  "changed": [], "conflicts": [],
                  "reason": f"up to date with the template ({before['template']} at {before['commit'][:12]})"}
    elif "out of date" not in said:
        raise PipelineError(f"cruft check could not compare with the template {before['template']}: {said[-800:]}")
    else:
        done = _cruft("update", "--skip-apply-ask")
        if done.returncode != 0:
            raise PipelineError(f"cruft update failed: {(done.stdout + done.stderr).strip()[-800:]}")
        after = _state()
        # Conflicted files are "unmerged" in the index, where no commit can be made: back to the plain working
        # tree changes (markers and all), which the pull request commits for review.
        _git("reset", "-q")
        status = _git("status", "--porcelain", "--untracked-files=all").splitlines()
        changed = sorted(line[3:].strip().strip('"') for line in status)
        result = {"updated": bool(changed), "old": before["commit"], "new": after["commit"], "changed": changed,
                  "conflicts": conflicted(changed), "template": after["template"],
                  "reason": f"the template moved from {before['commit'][:12]} to {after['commit'][:12]}"}
    if body is not None and result["updated"]:
        body.parent.mkdir(parents=True, exist_ok=True)
        body.write_text(reporting.render("template_update", **result))
    actions.set_outputs({"updated": str(result["updated"]).lower(), "commit": result["new"][:12],
                         "conflicts": len(result["conflicts"])})
    actions.add_summary(reporting.render("template_summary.md", **result))
    return result
