"""The champion lives in git: champion.json names the model by content, champion/ holds its bytes.

champion.json is written by `promote` and changes only when a promotion (or rollback) pull request
is merged. It names the model by the sha256 of its file, with the version, metrics, training data
fingerprint and the commit it was trained from. The bytes are committed at champion/model.joblib,
or, with a DVC remote configured, pushed there and tracked by champion/model.joblib.dvc, so any
clone of a commit can fetch exactly the model that commit names.

Only the standard library: the deploy and rollback jobs read the champion without the pipeline.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from .errors import PipelineError
from .paths import CHAMPION, CHAMPION_MODEL, CHAMPION_SIGNATURE, SIGNATURE_SUFFIX

GIT_SIZE_WARNING = 50 * 1024 * 1024  # GitHub warns above 50 MB and refuses files above 100 MB


def sha256_file(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_json(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def parse(text: str, where: str) -> dict:
    """A champion record from its JSON text; PipelineError naming `where` when it is not one."""
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PipelineError(f"{where}: not valid JSON: {exc}") from None
    if not isinstance(record, dict) or not isinstance(record.get("version"), int) or not record.get("model_name"):
        raise PipelineError(f"{where}: expected model_name and an integer version, as `promote` writes them")
    return record


def read(path: Path | str = CHAMPION) -> dict:
    path = Path(path)
    try:
        return parse(path.read_text(), str(path))
    except FileNotFoundError:
        raise PipelineError(f"{path}: not found; no champion yet (run the pipeline, then `promote`)") from None


def read_optional(path: Path | str = CHAMPION) -> dict | None:
    return read(path) if Path(path).is_file() else None


def write(record: dict, path: Path | str = CHAMPION) -> None:
    Path(path).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


def git(*args: str, text: bool = True) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", *args], capture_output=True, text=text, check=False)
    except FileNotFoundError:
        raise PipelineError("git is not installed; the champion's history lives in git") from None


def fetch(record: dict) -> Path:
    """The champion's model file, pulled from the DVC remote when it is stored there; sha256-verified."""
    path = Path(record.get("model_path") or CHAMPION_MODEL)
    if record.get("storage") == "dvc" and not path.is_file():
        from . import remote

        if name := remote.default():
            remote.authenticate(name)  # a GCS or SSH key from the environment (CI)
        pulled = subprocess.run(["dvc", "pull", f"{path}.dvc"], capture_output=True, text=True, check=False)
        if pulled.returncode != 0:
            raise PipelineError(f"{path}.dvc: `dvc pull` failed: {pulled.stderr.strip()[-500:]}")
    if not path.is_file():
        raise PipelineError(f"{path}: not found; champion.json names it (storage: {record.get('storage', 'git')})")
    found = sha256_file(path)
    if found != record.get("model_sha256"):
        raise PipelineError(f"{path}: sha256 {found} differs from champion.json's {record.get('model_sha256')}: "
                            "refusing to use a model that is not the recorded champion")
    return path


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


def at_version(version: int, folder: Path) -> tuple[dict, Path]:
    """(record, model file in `folder`, with its signature beside it if it had one) of champion `version`, from the
    commit that made it the champion: what a deploy of the image model-v<version> must check (git history, or the
    DVC remote for the bytes)."""
    for commit, record in history():
        if record["version"] != version:
            continue
        source = Path(record.get("model_path") or CHAMPION_MODEL)
        path = Path(folder) / source.name
        if record.get("storage") == "dvc":
            got = subprocess.run(["dvc", "get", ".", str(source), "--rev", commit, "-o", str(path), "--force"],
                                 capture_output=True, text=True, check=False)
            if got.returncode != 0:
                raise PipelineError(f"{commit[:12]}:{source}: `dvc get` failed: {got.stderr.strip()[-500:]}")
        else:
            shown = git("show", f"{commit}:{source}", text=False)
            if shown.returncode != 0:
                raise PipelineError(f"{commit[:12]}:{source}: not in git, so version {version} cannot be checked")
            path.write_bytes(shown.stdout)
        signature = git("show", f"{commit}:{CHAMPION_SIGNATURE}", text=False)
        if signature.returncode == 0:
            path.with_name(path.name + SIGNATURE_SUFFIX).write_bytes(signature.stdout)
        found = sha256_file(path)
        if found != record.get("model_sha256"):
            raise PipelineError(f"{commit[:12]}:{source}: sha256 {found} differs from that commit's champion.json "
                                f"({record.get('model_sha256')}): refusing to use it")
        return record, path
    raise PipelineError(f"{CHAMPION}: no commit in this clone's history made version {version} the champion "
                        "(a shallow clone needs `git fetch --unshallow`)")

