"""The report's files: the stages' outputs it reads, and its own folder, uploaded as the run's artifact."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from .. import paths
from ..errors import PipelineError
from .markdown import PACKAGE


def read_json(path: Path) -> dict | None:
    """A stage's JSON object, or None when the stage did not run."""
    if not path.is_file():
        return None
    data = paths.read(path, "")
    if not isinstance(data, dict):
        raise PipelineError(f"{path}: expected a JSON object")
    return data


def read_rows(path: Path) -> list[dict[str, str]]:
    """A stage's CSV rows, or none when the stage did not run."""
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def bundle(out_dir: Path, level: int) -> list[str]:
    """Copy the reports worth opening, the plots and the model into the report's folder, for the artifact."""
    files = [(path, path.name) for path in (paths.DATA_CHECK_HTML, paths.DATA_CHECK)]
    if level >= 1:
        files += [(path, path.name) for path in (paths.DRIFT_HTML, paths.DRIFT, paths.VERDICT, paths.METRICS,
                                                 paths.MODEL_CARD)]
        files += [(path, f"model/{path.name}") for path in (paths.MODEL, paths.RUN_INFO)]
        files += [(path, f"plots/{path.name}") for path in sorted(paths.PLOTS.glob("*"))
                  if path.is_file() and not path.name.startswith(".")]  # not DVC's .gitignore
    copied = []
    for source, name in files:
        if source.is_file():
            (out_dir / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, out_dir / name)
            copied.append(name)
    return copied


def own_folder(folder: Path) -> None:
    """Make `folder` the report's own: a new or empty folder, or one an earlier `report` made (emptied).

    Anything else is refused, so `--out ~` or `--out src` never mixes the report into a user's files.
    """
    if folder.suffix.lower() == ".md":
        raise PipelineError(f"--out {folder}: give the report's folder; {paths.REPORT} is written inside it")
    if folder.exists() and not folder.is_dir():
        raise PipelineError(f"--out {folder}: exists and is not a folder")
    if folder.is_dir() and not (folder / paths.REPORT_OWNER).is_file() and any(folder.iterdir()):
        raise PipelineError(f"--out {folder}: the folder holds files that `report` did not write; "
                            "give a new or empty folder")
    if folder.is_dir():
        for child in folder.iterdir():  # an earlier report's files: none may outlive this run
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / paths.REPORT_OWNER).write_text(
        f"Written by `python -m {PACKAGE} report`, which empties this folder on every run.\n")
