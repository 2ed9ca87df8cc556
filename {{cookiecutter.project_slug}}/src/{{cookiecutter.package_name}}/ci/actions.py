"""What the workflows need from the repo, as commands: step outputs, job summaries, the champion record.

GitHub Actions reads step outputs from the file named by $GITHUB_OUTPUT and the job summary from
$GITHUB_STEP_SUMMARY. Outside Actions both are unset and these helpers write nothing, so every
command prints the same thing locally. Only the standard library: the jobs that hold write tokens
import this too.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from ..paths import CHAMPION


def set_outputs(values: dict, env: dict | None = None) -> bool:
    """Append step outputs to $GITHUB_OUTPUT; False when it is not set (not running in Actions)."""
    path = (os.environ if env is None else env).get("GITHUB_OUTPUT")
    if not path:
        return False
    with open(path, "a", encoding="utf-8") as out:
        for name, value in values.items():
            text = str(value)
            if "\n" in text:  # multi-line values need a delimiter that cannot occur in the value
                delimiter = f"ghadelimiter_{uuid.uuid4().hex}"
                out.write(f"{name}<<{delimiter}\n{text}\n{delimiter}\n")
            else:
                out.write(f"{name}={text}\n")
    return True


def add_summary(markdown: str, env: dict | None = None) -> bool:
    """Append Markdown to the job summary ($GITHUB_STEP_SUMMARY); False when it is not set."""
    path = (os.environ if env is None else env).get("GITHUB_STEP_SUMMARY")
    if not path:
        return False
    with open(path, "a", encoding="utf-8") as out:
        out.write(markdown.rstrip("\n") + "\n\n")
    return True


def champion(path: Path | str = CHAMPION, env: dict | None = None) -> dict:
    """The `champion` command: show the recorded champion; in Actions, also as step outputs."""
    from ..champion import read

    record = read(path)
    set_outputs({"model-name": record["model_name"], "version": record["version"],
                 "model-sha256": record.get("model_sha256") or "", "run-id": record.get("run_id") or "",
                 "trained-from": record.get("trained_from") or ""}, env)
    return record
