"""The DVC remote: which one is the default, its credentials in CI, and pulling and pushing.

`remote pull` and `remote push` do nothing without a remote, so the workflows call them whatever the
repo's setup. S3 and Azure read credentials from environment variables (AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY; AZURE_STORAGE_CONNECTION_STRING), which the workflows take from secrets.
Google Cloud Storage and SSH read them from files: when GCS_CREDENTIALS or SSH_PRIVATE_KEY is set,
the key goes to a private file outside the checkout and .dvc/config.local (git-ignored) points the
remote at it; unset, DVC's own defaults apply (gcloud's login, ~/.ssh). README: "Data and models
in a DVC remote". Only the standard library and the `dvc` command.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from .errors import PipelineError

# URL scheme -> (environment variable holding the key, the remote's option naming the key file)
KEY_FILES = {"gs": ("GCS_CREDENTIALS", "credentialpath"), "ssh": ("SSH_PRIVATE_KEY", "keyfile")}
KNOWN_HOSTS = "SSH_KNOWN_HOSTS"  # ssh: the server's host key line(s), as `ssh-keyscan HOST` prints them


def dvc(*args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["dvc", *args], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise PipelineError("dvc is not installed: pip install -e '.[pipeline]'") from None


def default() -> str | None:
    """The default remote's name (`core.remote` in .dvc/config), or None."""
    out = dvc("remote", "default")
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None


def authenticate(name: str, env: dict | None = None) -> str | None:
    """Point remote `name` at a key file written from the environment (GCS, SSH); what was done, or None."""
    env = os.environ if env is None else env
    url = dvc("config", f"remote.{name}.url").stdout.strip()
    scheme = url.split("://", 1)[0] if "://" in url else "local"
    variable, option = KEY_FILES.get(scheme, ("", ""))
    key = env.get(variable, "") if variable else ""
    if not key.strip():
        return None
    folder = Path(env.get("RUNNER_TEMP") or tempfile.gettempdir())  # outside the checkout: never uploaded
    path = folder / f"dvc-{name}-key"
    path.unlink(missing_ok=True)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
        out.write(key if key.endswith("\n") else key + "\n")
    done = dvc("remote", "modify", "--local", name, option, str(path))
    if done.returncode != 0:
        raise PipelineError(f"`dvc remote modify --local {name} {option}` failed: {done.stderr.strip()[-300:]}")
    if scheme == "ssh" and env.get(KNOWN_HOSTS, "").strip():
        hosts = Path(env.get("HOME") or Path.home()) / ".ssh" / "known_hosts"
        hosts.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with hosts.open("a") as out:
            out.write(env[KNOWN_HOSTS].strip() + "\n")
    return f"{option} from {variable}"


def tracked() -> list[str]:
    """The .dvc files in git: the data and the champion's model. The pipeline's outputs are not among
    them: `dvc repro` rebuilds those, and the promotion pull request commits the ones git keeps."""
    listed = subprocess.run(["git", "ls-files", "--", "*.dvc"], capture_output=True, text=True, check=False)
    return listed.stdout.split() if listed.returncode == 0 else []


def transfer(action: str, env: dict | None = None) -> str:
    """`dvc pull` or `dvc push` of what the .dvc files in git name, with the default remote."""
    name = default()
    if name is None:
        return f"no DVC remote configured: nothing to {action} (README, 'Data and models in a DVC remote')"
    targets = tracked()
    if not targets:
        return f"no .dvc files in git: nothing to {action}"
    auth = authenticate(name, env)
    done = dvc(action, *targets)
    if done.returncode != 0:
        raise PipelineError(f"`dvc {action}` of {', '.join(targets)} with remote '{name}' failed: "
                            f"{done.stderr.strip()[-500:]}")
    said = (done.stdout.strip().splitlines() or ["done"])[-1]
    return f"dvc {action}, remote '{name}'" + (f" ({auth})" if auth else "") + f": {said} ({', '.join(targets)})"
