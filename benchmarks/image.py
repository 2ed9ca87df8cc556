"""The serving image: its size above the base, the dependency floor, and cold start.

Built the way tests/test_docker.py builds it here (tests/docker/README.md): the engine and the
debootstrapped base come from the idempotent scripts in tests/docker/, the wheelhouse is built on
the host with the project and the runtime export chose (build/model/requirements.txt), and containers
run with --network host on 127.0.0.1. The dependency floor is measured twice: for the image's own
set, and for the scikit-learn runtime (what the image would hold had export fallen back to joblib).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from importlib.metadata import version
from pathlib import Path

from . import serving

DOCKER_DIR = Path(__file__).resolve().parents[1] / "tests" / "docker"
BASE_IMAGE = "mlops-template/python-base:bookworm"


def sh(*argv: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 1800) -> str:
    result = subprocess.run(argv, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True,
                            timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"`{' '.join(argv)}` exited {result.returncode}:\n{(result.stdout + result.stderr)[-3000:]}")
    return result.stdout


def tree_bytes(path: Path) -> int:
    """Apparent size (sum of file sizes, as a layer's tar counts them), not disk blocks."""
    return sum(os.lstat(os.path.join(root, name)).st_size
               for root, _, files in os.walk(path) for name in files)


def dependency_floor(package: str, wheels: Path, requirements: Path, venv: Path) -> int:
    """Bytes of site-packages in a fresh venv holding only the project and one runtime's requirements.

    pip installs as the Dockerfile does (same wheels, same requirements, bytecode compiled), but into a
    venv created without pip, so pip itself is not counted, and nothing is stripped afterwards.
    """
    sh(sys.executable, "-m", "venv", "--without-pip", str(venv))
    wheel = next(wheels.glob(f"{package}-*.whl"))  # the project's own wheel, as the Dockerfile installs it
    sh(sys.executable, "-m", "pip", "--python", str(venv / "bin/python"), "install", "--quiet", "--no-index",
       "--disable-pip-version-check", "--find-links", str(wheels), "--requirement", str(requirements), str(wheel))
    return tree_bytes(next(venv.glob("lib/python*/site-packages")))


def sklearn_floor(project: Path, package: str, workdir: Path) -> int:
    """The floor had export served model.joblib: scikit-learn, pandas, numpy and SciPy at this venv's versions."""
    requirements = workdir / "sklearn-requirements.txt"
    requirements.write_text("".join(f"{name}=={version(name)}\n" for name in ("scikit-learn", "pandas", "numpy",
                                                                              "scipy")))
    wheels = workdir / "sklearn-wheels"
    sh(str(DOCKER_DIR / "wheelhouse.sh"), str(project), str(wheels),
       env={"PYTHON": sys.executable, "PIP_REQUIREMENT": str(requirements)})
    return dependency_floor(package, wheels, requirements, workdir / "sklearn-floor-venv")


def size(image: str) -> int:
    return int(sh("docker", "image", "inspect", "-f", "{{.Size}}", image))


def cold_start(tag: str, runs: int) -> list[float]:
    """Seconds from `docker run` until GET /health answers 200, per run (a new container each time)."""
    times = []
    for _ in range(runs):
        port, name = serving.free_port(), f"bench-{uuid.uuid4().hex[:8]}"
        started = time.perf_counter()
        try:
            # A volume at the capture folder, as deploys mount one (the image declares none).
            sh("docker", "run", "-d", "--name", name, "--network", "host", "--read-only", "--cap-drop", "ALL",
               "--security-opt", "no-new-privileges", "--mount", "type=volume,dst=/var/lib/capture",
               "-e", "UVICORN_HOST=127.0.0.1", "-e", f"UVICORN_PORT={port}", tag)
            serving.wait_healthy(port, None, 120)
            times.append(time.perf_counter() - started)
        finally:
            # -v: its capture volume goes too
            subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True, check=False)
    return times


def measure(project: Path, package: str, workdir: Path, runs: int, observe=None) -> dict:
    """Build the image, measure it, and hand its tag to `observe` (observability.py) before removing it."""
    for script, timeout in (("engine.sh", 300), ("base_image.sh", 1800)):
        sh(str(DOCKER_DIR / script), timeout=timeout)
    wheels, requirements = project / "build/wheels", project / "build/model/requirements.txt"
    sh(str(DOCKER_DIR / "wheelhouse.sh"), str(project), str(wheels),
       env={"PYTHON": sys.executable, "PIP_REQUIREMENT": str(requirements)})
    tag = f"mlops-template-bench/{package.replace('_', '-')}:{uuid.uuid4().hex[:8]}"
    build = ("docker", "build", "--force-rm", "--network", "host", "--build-arg", f"BASE_IMAGE={BASE_IMAGE}")
    try:
        # The builder stage gets its own tag so that removing both leaves no dangling image behind.
        started = time.perf_counter()
        sh(*build, "--target", "builder", "-t", f"{tag}-builder", str(project))
        sh(*build, "-t", tag, str(project))
        build_s = time.perf_counter() - started
        image, base = size(tag), size(BASE_IMAGE)
        # What is in the layers above the base: the venv (stripped of pip and test suites) and the model.
        parts = sh("docker", "run", "--rm", "--network", "none", "--entrypoint", "du", tag, "-sb",
                   "/opt/venv", "/opt/model").split()
        starts = cold_start(tag, runs)
        observed = None
        if observe is not None:
            try:
                observed = observe(tag)
            except Exception as exc:  # its rows say it failed; the image's own rows stand
                observed = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
    finally:
        subprocess.run(["docker", "rmi", "-f", tag, f"{tag}-builder"], capture_output=True, check=False)
    runtime = json.loads((project / "build/model/metadata.json").read_text())["runtime"]
    return {"image_bytes": image, "base_bytes": base, "above_base_bytes": image - base, "runtime": runtime,
            "venv_bytes": int(parts[0]), "model_bytes": int(parts[2]), "build_s": build_s,
            "floor_bytes": dependency_floor(package, wheels, requirements, workdir / "floor-venv"),
            "sklearn_floor_bytes": sklearn_floor(project, package, workdir), "cold_start_s": starts,
            "cold_start_median_s": statistics.median(starts), "observability": observed}
