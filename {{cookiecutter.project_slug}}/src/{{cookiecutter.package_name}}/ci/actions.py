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

CHAMPION = Path("champion.json")  # champion.RECORD
REGISTRY = "{{ cookiecutter.container_registry }}"  # where deploy.yml pushes the serving image
NO_CHAMPION = (
    "### No champion yet: nothing to build or deploy\n\n"
    "`champion.json` is not in this commit, so there is no model to build an image of; this is expected in a "
    "new repository. Next: merge the first promotion pull request, which `retrain.yml` opens for the first model "
    "that passes the gate (if none is open, run Retrain from the Actions tab). The merge starts this workflow "
    "again, and it builds and deploys that model (README, \"Running it on GitHub\")."
)


PROMOTION_BLOCKED = (
    "### Promotion pull request: not opened\n\n"
    "The candidate passed the gate and is committed on the branch `{branch}`, but opening the pull request "
    "failed (the step's log above says why). The usual cause in a new repository is \"GitHub Actions is not "
    "permitted to create or approve pull requests\": allow it under Settings > Actions > General > Workflow "
    "permissions (or run `setup-github --apply`), then re-run this job. You can also open the pull request "
    "from `{branch}` by hand. Merging it makes the model the champion."
)


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


def image_name(env: dict | None = None) -> str:
    """The serving image's name: the registry and this repository (GITHUB_REPOSITORY at run time, so no
    generation-time answer can point it at someone else's namespace), lowercased as registries require."""
    repository = (os.environ if env is None else env).get("GITHUB_REPOSITORY", "")
    if not repository:
        from ..errors import PipelineError

        raise PipelineError("GITHUB_REPOSITORY is not set: the image is named after the repository (owner/name)")
    return f"{REGISTRY}/{repository}".lower()


def champion(path: Path | str = CHAMPION, env: dict | None = None, missing_ok: bool = False) -> dict | None:
    """The `champion` command: show the recorded champion; in Actions, also as step outputs. With
    missing_ok, no champion.json is an answer (output found=false, and the job summary says what to do)."""
    from ..champion import read

    if missing_ok and not Path(path).exists():
        set_outputs({"found": "false"}, env)
        add_summary(NO_CHAMPION, env)
        return None
    record = read(path)
    set_outputs({"found": "true", "model-name": record["model_name"], "version": record["version"],
                 "model-sha256": record.get("model_sha256") or "", "run-id": record.get("run_id") or "",
                 "trained-from": record.get("trained_from") or ""}, env)
    return record
