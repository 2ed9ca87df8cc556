"""The package's shape: one home for each path (paths.py, which dvc.yaml agrees with), and layers that
point one way with no cycles (import-linter, configured in pyproject.toml)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from {{ cookiecutter.package_name }} import paths

ROOT = Path(__file__).resolve().parents[1]
# Which stage writes which of paths.py's files (evaluate also writes the rest of paths.PLOTS).
WRITTEN_BY = {
    "check": {paths.DATA_CHECK, paths.DATA_CHECK_HTML},
    "prepare": {paths.TRAIN, paths.TEST},
    "train": {paths.MODEL},
    "evaluate": {paths.METRICS, {{ "paths.PER_CLASS, paths.CONFUSION" if cookiecutter.task == "classification" else "paths.PREDICTIONS" }}, paths.IMPORTANCE,
                 paths.EVALUATION},
    "card": {paths.MODEL_CARD},
    "gate": {paths.VERDICT},
    "drift": {paths.DRIFT, paths.DRIFT_HTML},
    "register": {paths.REGISTRATION, paths.RUN_INFO},
}


def test_dvc_yaml_names_the_files_paths_names():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    named = {value for value in vars(paths).values() if isinstance(value, Path)}
    outs: dict[Path, str] = {}
    for name, stage in stages.items():
        for key in ("outs", "metrics", "plots"):
            for out in stage.get(key, []):
                outs[Path(next(iter(out)) if isinstance(out, dict) else out)] = name
    # Every output is a path of paths.py (or a plot under paths.PLOTS), written by the stage we expect.
    assert [out for out in outs if out not in named and out.parent != paths.PLOTS] == []
    for stage, written in WRITTEN_BY.items():
        assert {out: outs.get(out) for out in written} == dict.fromkeys(written, stage)
    # A stage that reads another's output names it as paths.py does; the rest are params, code and raw data.
    for name, stage in stages.items():
        for dep in stage.get("deps", []):
            if not dep.startswith(("src/", "${", "data/raw")):
                assert Path(dep) in outs and Path(dep) in named, f"dvc.yaml: stage {name}: dep {dep}"


def test_layers_point_one_way_without_cycles():
    """The rule in the package's __init__ docstring, checked by import-linter on every import, lazy ones too."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    command = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    result = subprocess.run([sys.executable, "-c", command, "--no-cache"],  # its settings: pyproject.toml
                            cwd=ROOT, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "2 kept, 0 broken" in result.stdout


# A command -> the module it needs, where not every level ships that module (the post-generation hook's table).
OPTIONAL = {"promote": "ci/promote.py", "rollback": "ci/rollback.py", "post-comment": "ci/comment.py",
            "monitor-alert": "ci/alerts.py", "sync-registry": "ci/registry.py", "deploy": "ci/deploy.py",
            "cleanup-images": "ci/images.py", "score": "serving/batch.py", "score-plan": "ci/batch.py",
            "publish-predictions": "ci/batch.py", "collect": "stages/collect.py", "monitor-source": "stages/collect.py",
            "monitor": "stages/monitor.py", "monitor-history": "stages/history.py"}


def test_the_cli_offers_the_commands_whose_modules_ship():
    result = subprocess.run([sys.executable, "-m", "{{ cookiecutter.package_name }}", "--help"], cwd=ROOT,
                            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert result.returncode == 0, result.stderr
    offered = set(re.findall(r"^    ([a-z][a-z-]+)(?:\s|$)", result.stdout, re.M))  # the commands' help lines
    package = ROOT / "src" / "{{ cookiecutter.package_name }}"
    assert {"check", "prepare", "train", "evaluate", "gate", "register", "drift", "export", "serve", "report",
            "champion", "remote"} <= offered
    assert {c for c, module in OPTIONAL.items() if (package / module).is_file()} == offered & set(OPTIONAL)
    for command, module in OPTIONAL.items():
        if not (package / module).is_file():  # absent at this level: argparse says so, nothing crashes
            refused = subprocess.run([sys.executable, "-m", "{{ cookiecutter.package_name }}", command], cwd=ROOT,
                                     capture_output=True, text=True,
                                     env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
            assert refused.returncode == 2 and f"invalid choice: '{command}'" in refused.stderr, refused.stderr
