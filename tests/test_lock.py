"""The generated project's environment is reproducible: one uv.lock (scripts/lock.py writes it) fits
every render, pins what the template's own tests run, is what CI installs, and Dependabot updates it."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml
from conftest import COMBOS, TEMPLATE

LOCK = TEMPLATE / "{{cookiecutter.project_slug}}" / "uv.lock"


def uv() -> str:
    found = shutil.which("uv")
    if not found:
        pytest.fail("uv not found: make setup installs it")
    return found


@pytest.mark.parametrize(("level", "task"), [COMBOS[0], COMBOS[-1]])  # different Pythons and DVC remotes
def test_the_lock_fits_the_rendered_project(rendered, level, task):
    answers, project = rendered(level, task)
    result = subprocess.run([uv(), "lock", "--check"], cwd=project, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{answers}: uv.lock is stale; run scripts/lock.py\n{result.stderr[-2000:]}"
    locked = tomllib.loads((project / "uv.lock").read_text())
    names = {package["name"] for package in locked["package"]}
    assert project.name in names and "{{" not in (project / "uv.lock").read_text()


def test_the_lock_pins_what_the_template_tests_run():
    """The generated suites run in the template's environment (requirements-test.txt): it must hold the
    versions a generated project installs, or those tests prove something users never run."""
    locked: dict[str, set[str]] = {}
    for package in tomllib.loads(LOCK.read_text())["package"]:
        locked.setdefault(package["name"], set()).add(package.get("version"))
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (TEMPLATE / "requirements-test.txt").read_text(), re.M))
    shared = {name.lower(): version for name, version in pins.items() if name.lower() in locked}
    assert {"scikit-learn", "pandas", "numpy", "mlflow", "dvc", "evidently", "onnxruntime"} <= set(shared)
    assert {name: version for name, version in shared.items() if version not in locked[name]} == {}
    # The team's tracking server runs the MLflow the project logs with (tracking/Dockerfile).
    server = (TEMPLATE / "{{cookiecutter.project_slug}}" / "tracking" / "Dockerfile").read_text()
    assert re.search(r'"mlflow\[auth\]==([^"]+)"', server).group(1) in locked["mlflow"]


def test_ci_installs_from_the_lock_and_dependabot_updates_it(rendered):
    _, project = rendered(*COMBOS[-1])
    setup = yaml.safe_load((project / ".github/actions/setup/action.yml").read_text())
    steps = setup["runs"]["steps"]
    assert any("astral-sh/setup-uv" in step.get("uses", "") for step in steps)
    assert any(step.get("run", "").startswith("uv sync --locked") for step in steps)
    updates = yaml.safe_load((project / ".github/dependabot.yml").read_text())["updates"]
    assert "uv" in {update["package-ecosystem"] for update in updates}
    for image_build in ("Makefile", ".github/workflows/container.yml"):
        text = (project / image_build).read_text()
        assert "uv export --frozen" in text, f"{image_build}: the image must be pinned to uv.lock"


def test_lock_script_templates_the_name(tmp_path):
    import sys

    sys.path.insert(0, str(TEMPLATE / "scripts"))
    from lock import templated  # noqa: PLC0415

    text = 'name = "lock-probe"\nversion = "0.1.0"\n    { name = "lock-probe", extra = ["onnx"] },\n'
    assert templated(text) == text.replace('"lock-probe"', '"{{ cookiecutter.project_slug }}"')
    with pytest.raises(SystemExit):
        templated('name = "other"\n')
    assert Path(LOCK).stat().st_size > 100_000
