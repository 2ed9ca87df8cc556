"""Every level x task renders to exactly the expected files, with no template leftovers, valid
YAML/TOML/JSON, lint-clean Python, and the answers recorded for template updates."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib

import pytest
import yaml
from conftest import COMBOS, TEMPLATE, render

COMMON = {
    ".cruft.json", ".dockerignore", ".dvc/.gitignore", ".dvc/config", ".dvcignore", ".gitignore", ".python-version",
    "Dockerfile", "Makefile", "README.md", "docs/serving.md", "dvc.yaml", "params.yaml", "pyproject.toml", "uv.lock",
    "schema.yaml", ".dvc/plots/offline.html", ".dvc/plots/curves.json", "docs/tracking.md", "docs/troubleshooting.md",
    "docs/security.md",
    "docs/monitoring.md",
    *(f"tracking/{f}" for f in ("compose.yaml", "Dockerfile", "Dockerfile.evidently", "server.sh", "initdb.sql",
                                ".env.example")),
    # The package, grouped by concern: the pipeline's stages, serving, and what the workflows call.
    *(f"src/PKG/{m}.py" for m in ("__init__", "__main__", "cli", "config", "errors", "champion", "contract",
                                   "tracking", "remote", "reporting", "paths", "slices", "signing", "capture")),
    *(f"src/PKG/stages/{m}.py" for m in ("__init__", "checks", "check_report", "prepare", "train", "evaluate",
                                          "plots", "gate", "drift", "register", "ingest", "card")),
    *(f"src/PKG/serving/{m}.py" for m in ("__init__", "serve", "runtimes", "export", "onnx_export", "smoke", "metrics",
                                          "recorder")),
    *(f"src/PKG/ci/{m}.py" for m in ("__init__", "actions", "report", "markdown", "artifact", "plot_tables", "github",
                                      "setup_github", "promote", "template")),
    # The reports' layouts (reporting.py), copied unrendered.
    *(f"src/PKG/templates/{name}.j2" for name in ("report.md", "report_metrics.md", "report_drift.md",
                                                  "report_plots.md", "report_data_check.md", "report_links.md",
                                                  "report_added.md", "report_card.md", "data_check.html",
                                                  "model_card", "template_update", "template_summary.md",
                                                  "promote.md")),
    *(f"tests/{t}.py" for t in ("conftest", "test_checks", "test_drift", "test_e2e", "test_gate", "test_serve",
                                "test_train", "test_report", "test_ci", "test_champion", "test_remote",
                                "test_evaluate", "test_layout", "github_stub", "test_github", "test_promote",
                                "test_card", "test_capture")),
    ".github/actions/setup/action.yml", ".github/dependabot.yml", ".github/CODEOWNERS",
    *(f".github/workflows/{w}.yml" for w in ("ci", "train", "container", "template-update")),
}
DATA = {
    "classification": {"data/raw/breast_cancer.csv", "data/raw/breast_cancer_current.csv"},
    "regression": {"data/raw/diabetes.csv", "data/raw/diabetes_current.csv"},
}
BY_LEVEL: dict[str, set[str]] = {
    "0": set(),
    # Monitoring alerts, registry sync, batch scoring and the monitoring loop, with their tests; level 2 adds
    # the PR comment and rollback.
    "1": {*(f".github/workflows/{w}.yml" for w in ("retrain", "monitor", "keepalive", "sync-registry", "batch")),
          *(f"src/PKG/ci/{m}.py" for m in ("alerts", "registry", "batch")),
          "src/PKG/serving/batch.py", "src/PKG/monitoring.py",
          *(f"src/PKG/stages/{m}.py" for m in ("collect", "monitor", "history")),
          *(f"src/PKG/templates/{name}.j2" for name in ("batch_summary", "batch_skipped.md", "batch_published.md",
                                                           "monitor.md", "monitor.html", "monitor_issue.md",
                                                           "monitor_skipped.md")),
          *(f"tests/test_{m}.py" for m in ("alerts", "registry", "signing", "batch", "monitor"))},
    "2": {*(f".github/workflows/{w}.yml" for w in ("pr-report", "pr-comment", "deploy", "rollback", "cleanup-images")),
          *(f"src/PKG/ci/{m}.py" for m in ("images", "rollback", "comment")), "src/PKG/templates/images.md.j2",
          *(f"tests/test_{m}.py" for m in ("images", "rollback", "comment"))},
}
# Level 2 with a deploy_target: the settings check and deploy (deploy-env.yml), plus the target's files.
DEPLOYS = {".github/workflows/deploy-env.yml", "docs/deploy.md", "src/PKG/ci/deploy.py", "tests/test_deploy.py",
           "src/PKG/templates/deploy.md.j2", "src/PKG/templates/deploy_settings.md.j2"}
TARGETS = {
    "swarm": {"src/PKG/ci/swarm.py", "deploy/stack.yml", "deploy/nginx.conf", "monitoring/prometheus.yml",
              "monitoring/alerts.yml", "src/PKG/ci/volumes.py"},
    "kubernetes": {"src/PKG/ci/kube.py",
                   *(f"deploy/k8s/base/{f}.yaml"
                     for f in ("kustomization", "deployment", "service", "pdb", "hpa", "pvc")),
                   "deploy/k8s/components/ingress/kustomization.yaml", "deploy/k8s/components/ingress/ingress.yaml",
                   *(f"deploy/k8s/overlays/{e}/kustomization.yaml" for e in ("staging", "production"))},
    "none": set(),
}
LEFTOVER = re.compile(r"(?<!\$)\{\{|\{%|cookiecutter")  # `${{ }}` is GitHub Actions' own syntax
JINJA = re.compile(r"(?<!\$)\{\{|\{%")


def expected_files(level: str, task: str, package: str, deploy_target: str = "swarm") -> set[str]:
    files = set(COMMON) | DATA[task]
    for lower in "012"[: int(level) + 1]:
        files |= BY_LEVEL[lower]
    if level == "2" and deploy_target != "none":
        files |= DEPLOYS | TARGETS[deploy_target]
    return {f.replace("PKG", package) for f in files}


def project_files(project) -> set[str]:
    return {p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()}


@pytest.mark.parametrize(("level", "task"), COMBOS)
def test_exact_file_set(rendered, level, task):
    answers, project = rendered(level, task)
    package = json.loads((project / ".cruft.json").read_text())["context"]["cookiecutter"]["package_name"]
    assert project_files(project) == expected_files(level, task, package, answers["deploy_target"])


def test_deploy_target_none_keeps_no_deploy_files(tmp_path):
    """The level 2 renders rotate swarm and kubernetes; `none` gets its own render."""
    project = render(tmp_path, mlops_level="2", task="regression", deploy_target="none", project_name="No Deploy")
    assert project_files(project) == expected_files("2", "regression", "no_deploy", "none")
    for name in ("deploy.yml", "rollback.yml"):
        jobs = yaml.safe_load((project / ".github/workflows" / name).read_text())["jobs"]
        assert not [job for job in jobs.values() if "deploy-env.yml" in job.get("uses", "")], name


@pytest.mark.parametrize(("level", "task"), COMBOS)
def test_no_template_leftovers(rendered, level, task):
    _, project = rendered(level, task)
    for path in project.rglob("*"):
        assert not LEFTOVER.search(path.relative_to(project).as_posix()), path
        # cruft's own format names cookiecutter; report templates (copied unrendered) are Jinja2 on purpose
        if path.is_file() and path.name != ".cruft.json" and path.suffix != ".j2":
            text = path.read_text()
            # uv.lock pins cookiecutter itself (cruft needs it for template updates): only Jinja counts there
            match = (JINJA if path.name == "uv.lock" else LEFTOVER).search(text)
            assert match is None, f"{path}: {text[max(0, match.start() - 60):match.end() + 60]!r}"


RAW = re.compile(r"\{%-?\s*raw\s*-?%\}")


def test_workflows_keep_cookiecutter_at_the_top():
    """One raw block per workflow source, so GitHub's expressions read as they run; the CLI through `env: CLI`."""
    for path in sorted((TEMPLATE / "{{cookiecutter.project_slug}}" / ".github" / "workflows").glob("*.yml")):
        text = path.read_text()
        assert len(RAW.findall(text)) <= 1, f"{path.name}: more than one raw block"
        raw = RAW.search(text)
        body = text[raw.end():] if raw else ""
        assert "cookiecutter" not in body, f"{path.name}: a cookiecutter expression inside the raw block"
        assert "python -m {{ cookiecutter.package_name }}" not in body, path.name
        if "$CLI " in body:
            assert "\n  CLI: python -m {{ cookiecutter.package_name }}" in text[:raw.start()], path.name


@pytest.mark.parametrize(("level", "task"), COMBOS)
def test_workflow_sections_follow_the_deploy_target(rendered, level, task):
    """The hook keeps a workflow's `# >>> swarm` / `# >>> kubernetes` lines for that deploy target only."""
    answers, project = rendered(level, task)
    target = answers["deploy_target"] if level == "2" else "none"
    workflows = project / ".github" / "workflows"
    host, kubeconfig = "DEPLOY_HOST: ${{ vars.DEPLOY_HOST }}", "DEPLOY_KUBECONFIG: ${{ secrets.DEPLOY_KUBECONFIG }}"
    if level != "0":
        assert (host in (workflows / "monitor.yml").read_text()) == (target == "swarm")
    if target != "none":
        text = (workflows / "deploy-env.yml").read_text()
        assert (host in text, kubeconfig in text) == (target == "swarm", target == "kubernetes")
    for path in workflows.glob("*.yml"):
        assert not re.search(r"# (>>>|<<<) ", path.read_text()), f"{path.name}: a section marker left"


@pytest.mark.parametrize(("level", "task"), COMBOS)
def test_structured_files_parse(rendered, level, task):
    answers, project = rendered(level, task)
    parsed = 0
    for path in project.rglob("*"):
        if path.suffix in (".yml", ".yaml"):
            assert yaml.safe_load(path.read_text()) is not None, path
        elif path.suffix == ".toml":
            tomllib.loads(path.read_text())
        elif path.suffix == ".json":
            json.loads(path.read_text())
        else:
            continue
        parsed += 1
    assert parsed >= 5
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert params["task"] == task
    assert params["data"]["target"] == answers.get("target_column", "diagnosis" if task == "classification" else
                                                   "progression")
    assert params["mlflow"]["tracking_uri"] == answers["mlflow_tracking_uri"]
    assert params["gate"]["max_drop"] == float(answers["gate_max_drop"])
    assert params["drift"]["share_threshold"] == float(answers["drift_share_threshold"])
    header = (project / params["data"]["path"]).read_text().splitlines()[0]
    assert header.endswith("," + params["data"]["target"])


@pytest.mark.parametrize(("level", "task"), COMBOS)
def test_generated_python_passes_ruff(rendered, level, task):
    _, project = rendered(level, task)
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=project,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("level", "task"), COMBOS)
def test_answers_recorded_for_cruft(rendered, level, task):
    answers, project = rendered(level, task)
    state = json.loads((project / ".cruft.json").read_text())
    recorded = state["context"]["cookiecutter"]
    assert {k: recorded[k] for k in answers} == answers
    assert set(state) >= {"template", "commit", "checkout", "context", "directory"}
    assert "_output_dir" not in recorded and "_repo_dir" not in recorded


@pytest.mark.parametrize(("level", "task"), COMBOS)
def test_readme_describes_the_level(rendered, level, task):
    answers, project = rendered(level, task)
    readme = (project / "README.md").read_text()
    assert f"MLOps level {level}" in readme
    assert ("retrain.yml" in readme) == (level >= "1")
    assert ("deploy.yml" in readme) == (level == "2")
    if level >= "1":
        assert answers["retrain_cron"] in readme and answers["drift_cron"] in readme


def test_dvc_remote_and_extras(rendered):
    for level, task in COMBOS:
        answers, project = rendered(level, task)
        config = (project / ".dvc/config").read_text()
        remote = answers["dvc_remote"]
        assert (f"url = {remote}" in config) == (remote != "none")
        # One pyproject.toml (and so one uv.lock) for every answer: the remote's plugin is an extra, and
        # the setup action's default extras name the one this project's remote needs.
        extras = tomllib.loads((project / "pyproject.toml").read_text())["project"]["optional-dependencies"]
        assert {name: extras[name] for name in ("s3", "gs", "azure", "ssh")} == {
            name: [f"dvc-{name}"] for name in ("s3", "gs", "azure", "ssh")}
        scheme = remote.split("://")[0] if "://" in remote else None
        setup = yaml.safe_load((project / ".github/actions/setup/action.yml").read_text())
        assert setup["inputs"]["extras"]["default"] == "pipeline,dev" + (f",{scheme}" if scheme else "")
