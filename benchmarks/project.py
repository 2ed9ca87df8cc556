"""Generate the project, time its pipeline, and leave a champion exported for serving (see DEFINITIONS)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]
ANSWERS = {"mlops_level": "2", "task": "classification"}
DEFINITIONS = (
    "cold = `dvc repro` in a fresh `git clone` of the generated repo: no DVC cache, no MLflow store (the first "
    "run creates and migrates mlflow.db), no outputs. Warm = `dvc repro --force` right after, in the same clone: "
    "every stage reruns, as after a params change that touches every stage, with the MLflow store, DVC's cache "
    "and the OS page cache hot, and the libraries' bytecode compiled at install (`make setup` runs "
    "`compileall` on the venv). No-op = `dvc repro` with nothing changed. Uncompiled (full run only) = warm again, "
    "but with Python's bytecode cache out of reach (`PYTHONPYCACHEPREFIX` set to an empty folder, "
    "`PYTHONDONTWRITEBYTECODE=1`): every process compiles every module it imports from source, as with a venv "
    "that `uv sync` made without `--compile-bytecode` on a machine that sets `PYTHONDONTWRITEBYTECODE`."
)
GIT_ENV = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}


def env_for(project: Path) -> dict:
    """The generated project's own conventions: src/ importable, the embedded MLflow store, our venv first."""
    environ = {key: value for key, value in os.environ.items() if key != "MLFLOW_TRACKING_URI"}
    path = os.pathsep.join([str(Path(sys.executable).parent), environ.get("PATH", "")])
    return {**environ, **GIT_ENV, "PATH": path, "PYTHONPATH": str(project / "src"), "PYTHONUNBUFFERED": "1"}


def run(argv: list[str], cwd: Path, timeout: float = 3600) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, cwd=cwd, env=env_for(cwd), capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"`{' '.join(argv)}` in {cwd} exited {result.returncode}:\n"
                           f"{(result.stdout + result.stderr)[-3000:]}")
    return result


def generate(out: Path, answers: dict | None = None) -> Path:
    """Render the template with the demo answers (or others) and commit it, as a user would start."""
    project = Path(cookiecutter(str(TEMPLATE), no_input=True, extra_context=answers or ANSWERS, output_dir=str(out)))
    run(["git", "init", "-q", "-b", "main"], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "Generated project"], project)
    return project


def timed_repro(clone: Path, *args: str, env: dict | None = None) -> dict:
    """`dvc repro`, timed as a whole and per stage (from the moment each "Running stage" line appears)."""
    argv = [sys.executable, "-m", "dvc", "repro", *args]
    started = time.perf_counter()
    marks: list[tuple[str, float]] = []
    lines: list[str] = []
    with subprocess.Popen(argv, cwd=clone, env={**env_for(clone), **(env or {})}, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) as process:
        for line in process.stdout:
            lines.append(line)
            if found := re.match(r"Running stage '([^']+)'", line):
                marks.append((found.group(1), time.perf_counter() - started))
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"`dvc repro {' '.join(args)}` exited {process.returncode}:\n{''.join(lines)[-3000:]}")
    # A stage's time runs until the next stage starts (the last one until dvc exits): it includes DVC's
    # hashing and caching of that stage's outputs, which the user waits for too.
    ends = [at for _, at in marks[1:]] + [seconds] * bool(marks)
    stages = {name: end - at for (name, at), end in zip(marks, ends, strict=True)}
    return {"seconds": seconds, "stages": stages, "up_to_date": "Data and pipelines are up to date" in "".join(lines)}


def pipeline(project: Path, clone: Path, suite_args: list[str], uncompiled: bool = False) -> dict:
    """Cold, warm and no-op runs in a fresh clone (made at `clone`), optionally the uncompiled one, then the
    generated test suite."""
    run(["git", "clone", "-q", str(project), str(clone)], project)
    results = {"cold": timed_repro(clone), "warm": timed_repro(clone, "--force"), "noop": timed_repro(clone)}
    if not results["noop"]["up_to_date"]:
        raise RuntimeError("the no-op `dvc repro` ran stages: the pipeline is not reproducible as committed")
    if uncompiled:
        with tempfile.TemporaryDirectory() as empty:
            results["uncompiled"] = timed_repro(clone, "--force", env={"PYTHONPYCACHEPREFIX": empty,
                                                                       "PYTHONDONTWRITEBYTECODE": "1"})
    started = time.perf_counter()
    # The suite copies the project into temporary directories, so the clone's outputs do not matter to it.
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *suite_args],
                            cwd=clone, env=env_for(clone), capture_output=True, text=True, timeout=3600)
    summary = (result.stdout.strip().splitlines() or [""])[-1]
    counts = {kind: int(n) for n, kind in re.findall(r"(\d+) (passed|failed|errors?|skipped)", summary)}
    results["suite"] = {"seconds": time.perf_counter() - started, "returncode": result.returncode,
                        "summary": summary, **counts}
    results["suite_args"] = suite_args
    return results


def champion(clone: Path, package: str) -> None:
    """Promote the run's candidate and export it: build/model/ for our server; MLflow's serves the registered
    version champion.json names."""
    run([sys.executable, "-m", package, "promote"], clone)
    run([sys.executable, "-m", package, "export"], clone)
