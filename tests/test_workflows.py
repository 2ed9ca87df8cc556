"""The generated GitHub Actions workflows: hardened and lint-clean at every level, and green under act.

Static, for every level x task render (seconds): top-level `permissions: {}`; per-job permissions,
each with a why-comment; every action pinned to a full SHA from tests/act/action-pins.tsv with its
version comment; no pull_request_target; checkout never persists credentials; no `${{ }}` inside
`run:`; timeout-minutes on every job; concurrency everywhere (pull-request runs cancel superseded
ones, training and deploys never cancel); thin steps (one command each); Dependabot with a cooldown;
CODEOWNERS over .github/; actionlint (with shellcheck) and `zizmor --offline` find nothing at low
severity or above.

Under act (tests/act/harness.py: host mode, strict, offline in a private network namespace), each
scenario on its own fresh render, so `pytest -n 2` runs each once:
- level 0: ci.yml on push (lint, tests, data checks); train.yml by workflow_dispatch, with artifacts;
- level 0: container.yml builds the serving image for real (Docker);
- level 1: the schedule runs retrain.yml (gate passes; promotion PR with champion.json and metrics),
  batch.yml (skipped with a job summary: no champion yet),
  monitor.yml on drifted, labelled captured predictions (report; retrain.yml dispatched; one issue,
  commented on by a second run; without labels the issue asks for them; a window without records says
  "no traffic") and keepalive.yml; then an impossible gate threshold fails training and proposes nothing;
- level 2: pr-report.yml on pull_request, then pr-comment.yml on workflow_run posts the report;
- level 2: a history of promotions, every job in a fresh copy of the repo (test_level2_champion_history):
  deploy.yml builds and pushes exactly the image of the merged champion (commit and model-version
  tags), batch.yml scores a file with it (predictions, summary and capture records as the artifact), and its
  settings jobs, with nothing configured, name the missing settings and the deploy jobs never run; the real
  Swarm deploys and rollback.yml's deploy run in tests/test_deploy.py, over an sshd.

The GitHub API calls (dispatch, issues, comments, enable) go to a stand-in inside act's namespace,
and `docker run --network host` deployments are reached through a bridge (tests/act/loopback.py).
The workflows' setup action is skipped: this interpreter's environment already has every dependency
(CI_PREINSTALLED, PATH, PYTHONPATH); on GitHub it always installs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pandas as pd
import pytest
import yaml
from act.harness import act_binary, act_compatible, events, init_git_repo, read_pins, run_act
from act.loopback import Loopback
from capture_files import UTC, write_capture
from conftest import COMBOS, TEMPLATE, render, unavailable

REPO = "acme/demo"  # init_git_repo's origin: github.repository under act
REGISTRY = "127.0.0.1:5999"  # nothing listens there: an accidental pull stays on loopback and fails
RETRAIN_CRON = "0 4 * * 1"
PINS = {(action, sha): version for action, version, sha in read_pins()}
WORKFLOWS = ".github/workflows"
SHA_USES = re.compile(r"^\s*(?:-\s*)?uses:\s*([^@\s]+)@(\S+)(.*)$")
PERMISSION = re.compile(r"^\s+(?:actions|attestations|checks|contents|deployments|id-token|issues|packages|pages|"
                        r"pull-requests|security-events|statuses):\s*(?:read|write|none)\s*(#.*)?$")
PR_WORKFLOWS = {"ci.yml", "container.yml", "pr-report.yml"}  # superseded runs are cancelled
PR_OPENERS = {("retrain.yml", "propose"), ("rollback.yml", "record"),
              ("template-update.yml", "update")}  # push a branch, open a pull request
NEVER_CANCELLED = {"train.yml", "retrain.yml", "monitor.yml", "deploy.yml", "deploy-env.yml", "rollback.yml",
                   "batch.yml"}


def tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if not found:
        pytest.fail(f"{name} not found: make setup (requirements-test.txt)")
    return found


def load(path: Path) -> dict:
    doc = yaml.safe_load(path.read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as True
    return doc


def workflows(project: Path) -> dict[str, dict]:
    return {p.name: load(p) for p in sorted((project / WORKFLOWS).glob("*.yml"))}


def steps_of(project: Path):
    """(file name, job id, step) for every step of every workflow and of the setup action."""
    for name, doc in workflows(project).items():
        for job_id, job in doc["jobs"].items():
            for step in job.get("steps", []):
                yield name, job_id, step
    for step in yaml.safe_load((project / ".github/actions/setup/action.yml").read_text())["runs"]["steps"]:
        yield "actions/setup", "(composite)", step


# --------------------------------------------------------------------------- static checks, every render


@pytest.mark.parametrize(("level", "task"), COMBOS)
def test_permissions_are_least_privilege_and_explained(rendered, level, task):
    answers, project = rendered(level, task)
    for name, doc in workflows(project).items():
        assert doc["permissions"] == {}, f"{name}: top-level permissions must be {{}}"
        assert "pull_request_target" not in doc["on"], name
        for job_id, job in doc["jobs"].items():
            assert isinstance(job.get("permissions"), dict), f"{name}: job {job_id} declares no permissions"
            assert job["permissions"].get("contents") in (None, "read") or (name, job_id) in PR_OPENERS, (name, job_id)
        for line in (project / WORKFLOWS / name).read_text().splitlines():
            match = PERMISSION.match(line)
            assert not match or match.group(1), f"{name}: permission without a why-comment: {line.strip()}"
    writers = {(n, j): set(k for k, v in job["permissions"].items() if v == "write")
               for n, doc in workflows(project).items() for j, job in doc["jobs"].items()}
    expected = {**{key: {"contents", "pull-requests"} for key in PR_OPENERS},
                ("monitor.yml", "alert"): {"actions", "issues"},
                ("keepalive.yml", "enable"): {"actions"},
                ("pr-comment.yml", "comment"): {"pull-requests"},
                ("deploy.yml", "build"): {"packages", "id-token", "attestations"},
                ("retrain.yml", "propose"): {"contents", "pull-requests", "id-token"},  # keyless model signing
                ("cleanup-images.yml", "cleanup"): {"packages"}}
    if answers.get("deploy_target", "swarm") != "none":  # each deploy records a GitHub deployment
        expected |= {key: {"deployments"} for key in (("deploy-env.yml", "deploy"), ("deploy.yml", "staging"),
                                                      ("deploy.yml", "production"), ("rollback.yml", "production"))}
    assert {key: value for key, value in writers.items() if value} == {
        key: value for key, value in expected.items() if key[0] in {n for n, _ in writers}}


@pytest.mark.parametrize(("level", "task"), COMBOS)
def test_actions_are_pinned_and_steps_are_safe(rendered, level, task):
    _, project = rendered(level, task)
    files = [*sorted((project / WORKFLOWS).glob("*.yml")), project / ".github/actions/setup/action.yml"]
    for path in files:
        for line in path.read_text().splitlines():
            match = SHA_USES.match(line)
            if match:
                action, ref, comment = match.groups()
                version = PINS.get(("/".join(action.split("/")[:2]), ref))
                assert version, f"{path.name}: {action}@{ref} is not a full SHA from action-pins.tsv"
                assert comment.strip() == f"# {version}", f"{path.name}: {action} needs the comment '# {version}'"
            elif re.match(r"^\s*(?:-\s*)?uses:", line):
                assert re.search(r"uses: \./\.github/", line), f"{path.name}: {line.strip()}"
    for name, job_id, step in steps_of(project):
        where = f"{name} {job_id}: {step.get('name')}"
        if "actions/checkout" in step.get("uses", ""):
            assert step["with"]["persist-credentials"] is False, where
        if "run" in step:
            run = step["run"].strip()
            assert "${{" not in run, f"{where}: expressions reach the shell only through env:"
            assert "\n" not in run and not re.search(r"&&|\|\||;|\|", run), f"{where}: one command per step"


@pytest.mark.parametrize(("level", "task"), COMBOS)
def test_timeouts_and_concurrency(rendered, level, task):
    _, project = rendered(level, task)
    docs = workflows(project)
    for name, doc in docs.items():
        for job_id, job in doc["jobs"].items():
            assert "uses" in job or isinstance(job.get("timeout-minutes"), int), f"{name}: {job_id} has no timeout"
        groups = [doc.get("concurrency")] + [job.get("concurrency") for job in doc["jobs"].values()]
        groups = [g for g in groups if g]
        assert groups, f"{name}: no concurrency group"
        if name in PR_WORKFLOWS:
            cancel = str(doc["concurrency"]["cancel-in-progress"])
            assert cancel in ("True", "${{ github.event_name == 'pull_request' }}"), (name, cancel)
        if name in NEVER_CANCELLED:
            assert all(g["cancel-in-progress"] is False for g in groups), name
    if "retrain.yml" in docs:  # manual and continuous training queue in one group
        assert docs["retrain.yml"]["concurrency"]["group"] == docs["train.yml"]["concurrency"]["group"]


@pytest.mark.parametrize(("level", "task"), COMBOS)
def test_dependabot_and_codeowners(rendered, level, task):
    answers, project = rendered(level, task)
    updates = yaml.safe_load((project / ".github/dependabot.yml").read_text())["updates"]
    assert {u["package-ecosystem"] for u in updates} == {"github-actions", "uv", "docker"}
    assert all(u["cooldown"]["default-days"] >= 3 for u in updates)
    actions = next(u for u in updates if u["package-ecosystem"] == "github-actions")
    assert "/.github/actions/*" in actions["directories"]  # the composite setup action's pins too
    owners = (project / ".github/CODEOWNERS").read_text()
    assert f"/.github/ @{answers.get('github_owner', 'your-org')}" in owners.splitlines()


@pytest.mark.parametrize(("level", "task"), COMBOS)
def test_files_match_github_schemas(rendered, level, task):
    _, project = rendered(level, task)
    checks = [("vendor.github-workflows", sorted((project / WORKFLOWS).glob("*.yml"))),
              ("vendor.github-actions", [project / ".github/actions/setup/action.yml"]),
              ("vendor.dependabot", [project / ".github/dependabot.yml"])]
    for schema, files in checks:
        result = subprocess.run([tool("check-jsonschema"), "--builtin-schema", schema, *map(str, files)],
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("level", "task"), COMBOS)
def test_actionlint_with_shellcheck(rendered, level, task):
    _, project = rendered(level, task)
    files = sorted(str(p.relative_to(project)) for p in (project / WORKFLOWS).glob("*.yml"))
    result = subprocess.run([tool("actionlint"), f"-shellcheck={tool('shellcheck')}", *files], cwd=project,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("level", "task"), COMBOS)
def test_zizmor_auditor_finds_nothing(rendered, level, task):
    """The auditor persona, every severity: e.g. secrets read only in jobs bound to an environment."""
    _, project = rendered(level, task)
    result = subprocess.run([tool("zizmor"), "--offline", "--persona", "auditor", "--format", "plain", "."],
                            cwd=project, capture_output=True, text=True)
    assert result.returncode == 0 and "No findings" in result.stdout, result.stdout + result.stderr
    for _name, _job, step in steps_of(project):
        if "attest-build-provenance" in step.get("uses", ""):  # fails on private repos outside Enterprise Cloud
            assert step["if"] == "github.event.repository.visibility == 'public' || vars.ATTEST_PROVENANCE == 'true'"


# --------------------------------------------------------------------------- under act: fixtures


@pytest.fixture(scope="session")
def wheelhouse(request, tmp_path_factory) -> Path:
    """Wheels of the generated project's runtime dependencies at the versions its uv.lock pins, plus the
    build backend: the workflows' `pip wheel --constraint <uv.lock's pins>` runs offline against it
    (PIP_NO_INDEX). Built once (from the package index) and kept in pytest's cache, keyed on the lock."""
    if (sys.implementation.name, sys.version_info[:2]) != ("cpython", (3, 11)):
        unavailable("the wheels must match the base image's CPython 3.11")
    generated = TEMPLATE / "{{cookiecutter.project_slug}}"
    key = hashlib.sha256((generated / "uv.lock").read_bytes() + (generated / "pyproject.toml").read_bytes())
    cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    final = (Path(cache.mkdir("act-wheelhouse")) if cache else tmp_path_factory.getbasetemp()) / (
        f"wheels-{key.hexdigest()[:16]}")
    if final.is_dir():
        return final
    work = tmp_path_factory.mktemp("wheelhouse")
    project = render(work / "render", project_name="Wheelhouse Probe", python_version="3.11")
    subprocess.run([shutil.which("uv") or "uv", "export", "--frozen", "--all-extras", "--no-emit-project",
                    "--no-hashes", "--quiet", "--output-file", str(work / "constraints.txt")], cwd=project, check=True)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(work / "wheels"),
                    "--constraint", str(work / "constraints.txt"), "setuptools>=69", "wheel",
                    f"{project}[onnx,sklearn]"],  # either runtime export may choose
                   check=True, timeout=900)
    try:
        (work / "wheels").rename(final)  # atomic: a parallel worker's finished copy wins
    except OSError:
        shutil.rmtree(work / "wheels", ignore_errors=True)
    return final


class Scenario:
    """One fresh render in a git repo, its act store and loopback services, and the env act runs with."""

    def __init__(self, tmp_path: Path, monkeypatch, *, level: str, task: str, bridges: tuple[int, ...] = (),
                 **answers: str):
        self.suffix = uuid.uuid4().hex[:6]
        name = f"{answers.pop('project_name', 'Act')} {self.suffix}"
        self.project = render(tmp_path / "render", mlops_level=level, task=task, project_name=name,
                              python_version="3.11", github_owner="acme", container_registry=REGISTRY,
                              retrain_cron=RETRAIN_CRON, **answers)
        act_compatible(self.project)
        self.slug = self.project.name
        self.package = self.slug.replace("-", "_")
        self.store = tmp_path / "store"
        self.loop = Loopback(tmp_path / "loopback", repo=REPO, bridges=bridges)
        self.loop.install(monkeypatch, act_binary())
        self.env = {
            "CI_PREINSTALLED": "true",  # the setup action skips installing: this venv has it all
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": "src",
            "MLFLOW_TRACKING_URI": "",
            "DO_NOT_TRACK": "1",
            "GITHUB_API_URL": self.loop.api_url,
            "PYTEST_ADDOPTS": "-p no:cacheprovider tests/test_ci.py",  # the full suite has its own test
        }
        self.variables: dict[str, str] = {}

    def git(self, *args: str) -> str:
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C",
                               str(self.project), *args], check=True, capture_output=True, text=True).stdout.strip()

    def commit(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "-qm", message)
        return self.git("rev-parse", "HEAD")

    def act(self, event: str, payload: dict, workflow: str | None = None, *, ok: bool = True, **kwargs):
        result = run_act(self.project, event, payload, workflow=f"{WORKFLOWS}/{workflow}" if workflow else None,
                         env=self.env, variables=self.variables, store_dir=self.store, timeout=1800, **kwargs)
        if ok:
            assert result.ok, f"{workflow or event}: {result.jobs}\n{result.log[-8000:]}"
        return result

    def artifact(self, result, name: str) -> Path:
        folder = self.store / "artifacts" / str(result.run_id) / name
        assert folder.is_dir(), f"run {result.run_id} uploaded no artifact {name!r}"
        return folder

    def pulls(self) -> list[dict]:
        return [json.loads(p.read_text()) for p in sorted((self.store / "pulls").glob("*.json"))]


@pytest.fixture
def scenario(tmp_path, monkeypatch):
    def make(**kwargs) -> Scenario:
        return Scenario(tmp_path, monkeypatch, **kwargs)

    return make


def drifted_batch(project: Path, task: str, labelled: bool = True) -> None:
    """A current batch that really drifted: new rows like the training rows of one class only (or the
    highest targets), so values stay inside the schema while most columns' distributions move."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    frame = pd.read_csv(project / params["data"]["path"])
    target = params["data"]["target"]
    if task == "classification":
        picked = frame[frame[target] == frame[target].value_counts().index[-1]].copy()
    else:
        picked = frame[frame[target] >= frame[target].quantile(0.7)].copy()
    features = [c for c in picked.columns if c != target]
    picked[features] = (picked[features] * 0.999).clip(frame[features].min(), frame[features].max(), axis=1)
    picked = picked.drop_duplicates()
    (picked if labelled else picked.drop(columns=[target])).to_csv(project / params["drift"]["current"], index=False)


def docker_cleanup(*, images: str, package: str, containers: tuple[str, ...] = ()) -> None:
    """Remove what a scenario left in the engine: its containers, the images of its repository, and
    the untagged builder stage, recognised by the scenario's unique package name in its RUN line."""
    for name in containers:
        subprocess.run(["docker", "rm", "--force", name], capture_output=True)
    listed = subprocess.run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}", images],
                            capture_output=True, text=True).stdout.split()
    dangling = subprocess.run(["docker", "images", "--quiet", "--filter", "dangling=true"], capture_output=True,
                              text=True).stdout.split()
    for image in dangling:
        history = subprocess.run(["docker", "history", "--no-trunc", "--format", "{{.CreatedBy}}", image],
                                 capture_output=True, text=True).stdout
        if f"/wheels/{package}-" in history:
            listed.append(image)
    if listed:
        subprocess.run(["docker", "rmi", "--force", *listed], capture_output=True)


# --------------------------------------------------------------------------- under act: level 0


def test_level0_ci_and_manual_training(scenario):
    s = scenario(level="0", task="regression", project_name="Act Zero")
    init_git_repo(s.project)

    ci = s.act("push", events.push(), "ci.yml")
    assert ci.jobs == {"lint": "success", "test": "success", "data": "success"}
    assert "passed" in ci.job_log("test") and "data checks passed" in ci.job_log("data")
    assert {p.name for p in s.artifact(ci, "data-check").iterdir()} == {"data_check.html", "data_check.json"}

    train = s.act("workflow_dispatch", events.workflow_dispatch(), "train.yml")
    assert train.jobs == {"train": "success"}
    run = s.artifact(train, "training-run")
    for produced in ("models/model.joblib", "metrics/metrics.json", "plots/predictions.csv", "reports/gate.json",
                     "reports/drift.html", "reports/registration.json", "dvc.lock", "mlflow.db"):
        assert (run / produced).is_file(), produced
    assert json.loads((run / "reports/gate.json").read_text())["passed"] is True
    assert s.loop.requests() == []  # level 0 never talks to the GitHub API


def test_level0_container_build_check(scenario, docker_base, wheelhouse):
    s = scenario(level="0", task="classification", project_name="Act Container")
    s.env |= {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheelhouse)}
    s.variables["BASE_IMAGE"] = docker_base
    init_git_repo(s.project)
    try:
        result = s.act("pull_request", events.pull_request(3), "container.yml")
        assert result.jobs == {"build": "success"}
        (build,) = [json.loads(p.read_text()) for p in (s.store / "builds").glob("*.json")]
        assert build["tags"] == [f"{s.slug}:ci"] and build["pushed"] is False and build["simulated"] is False
        assert f"BASE_IMAGE={docker_base}" in build["build_args"]
        assert not (s.store / "registry" / "pushed.jsonl").exists()
    finally:
        docker_cleanup(images=s.slug, package=s.package)


# --------------------------------------------------------------------------- under act: level 1


def test_level1_retrain_promote_monitor_and_keepalive(scenario, tmp_path):
    s = scenario(level="1", task="classification", project_name="Act One", gate_min_score="0.9")
    drifted_batch(s.project, "classification")
    # Production's captured predictions: the drifted rows, all predicted as one class, and labels for them.
    capture, batch = tmp_path / "capture", pd.read_csv(s.project / "data/raw/breast_cancer_current.csv")
    ids = write_capture(capture, batch.drop(columns=["diagnosis"]), ["benign"] * len(batch),
                        dt.datetime(2026, 11, 2, 10, tzinfo=UTC), "prod")
    (s.project / "data/labels").mkdir(parents=True)
    (s.project / "data/labels/week45.csv").write_text("record_id,diagnosis\n" + "".join(
        f"{i},{v}\n" for i, v in zip(ids, batch["diagnosis"], strict=True)))
    s.variables["MONITOR_SOURCE"] = str(capture)
    init_git_repo(s.project)

    # The weekly schedule: retrain.yml, monitor.yml, keepalive.yml and template-update.yml all run, as on GitHub
    # (act ignores the cron values). The last compares with this template checkout: tests/test_upgrade.py
    # follows it through a template commit.
    scheduled = s.act("schedule", events.schedule(RETRAIN_CRON))
    # batch.yml's schedule too: no champion yet, so its scoring job is skipped and the summary says what to do.
    assert scheduled.jobs == {"train": "success", "propose": "success", "settings": "success", "monitor": "success",
                              "alert": "success", "enable": "success", "update": "success", "plan": "success"}
    assert scheduled.summaries["update"].startswith("**Template:** ")
    assert "No champion yet" in scheduled.summaries["plan"] and scheduled.outputs["plan"]["plan"]["ready"] == "false"
    candidate = s.artifact(scheduled, "candidate")
    assert json.loads((candidate / "reports/gate.json").read_text())["passed"] is True
    assert (candidate / "mlflow.db").is_file() and (candidate / "models/model.joblib").is_file()
    assert "Gate" in scheduled.summaries["train"]  # the report in the job summary
    (pull,) = [p for p in s.pulls() if p["head"] != "template/update"]
    assert pull["head"] == "promote/champion" and pull["base"] == "main" and pull["operation"] == "created"
    # The drifted batch is labelled: its rows joined the training data, in the same pull request.
    assert {"champion.json", "champion/model.joblib", "metrics/metrics.json", "data/raw/breast_cancer.csv",
            "reports/model_card.md"} <= set(pull["files"])
    assert "<summary><b>Model card</b>" in pull["body"]
    # No signing set up: the champion is unsigned, and the job summary says so once.
    assert "champion/model.joblib.sig" not in pull["files"]
    assert scheduled.summaries["propose"].count("no model signing set up") == 1
    assert pull["body"].startswith(f"<!-- {s.package}-report -->") and "promotion" in pull["labels"]
    patch = (s.store / "pulls/1.patch").read_text(errors="replace")
    assert '"version": 1' in patch and "f1_macro" in patch
    data_diff = patch.split("diff --git a/data/raw/breast_cancer.csv", 1)[1].split("\ndiff --git", 1)[0]
    changed = [line for line in data_diff.splitlines()[4:] if line[:1] in "+-"]
    assert changed and all(line.startswith("+") for line in changed)  # the training data: only added lines

    monitored = s.artifact(scheduled, "monitoring-report")
    report = json.loads((monitored / "monitor.json").read_text())
    assert report["status"] == "ok" and report["rows"] == len(batch) and report["drift"]["dataset_drift"] is True
    assert report["labelled"] == len(batch) and report["performance"]["below"] is True
    assert (monitored / "monitor.html").is_file() and "data drift" in scheduled.summaries["monitor"]
    state = s.loop.state()
    (dispatch,) = state["dispatches"]
    assert dispatch["workflow"] == "retrain.yml" and dispatch["ref"] == "main"
    assert dispatch["inputs"]["reason"] == f"monitoring: {len(batch)} new labelled production row(s)"
    (issue,) = state["issues"]
    assert issue["title"] == "Production monitoring: drift or accuracy drop"
    assert issue["labels"] == [{"name": "monitoring"}] and issue["body"].startswith(f"<!-- {s.package}-monitor -->")
    assert "under the gate's threshold" in issue["body"] and "Retraining was requested" in issue["body"]
    assert sorted(state["enabled"]) == ["keepalive.yml", "monitor.yml", "retrain.yml", "template-update.yml"]

    # Still drifting on the next run: retraining is requested again, the same issue gets a comment.
    since = {"since": "2026-11-01T00:00:00Z"}  # act keeps no history between runs: the window is explicit
    again = s.act("workflow_dispatch", events.workflow_dispatch(since), "monitor.yml")
    assert again.jobs == {"settings": "success", "monitor": "success", "alert": "success"}
    state = s.loop.state()
    assert len(state["dispatches"]) == 2 and len(state["issues"]) == 1
    (comment,) = state["comments"]
    assert comment["issue"] == 1 and comment["body"].startswith(f"<!-- {s.package}-monitor -->")
    assert all(r["authorized"] for r in s.loop.requests())

    # Drifting, but no labels: a retrain would learn nothing, so none starts and the issue asks for labels.
    s.git("rm", "-q", "data/labels/week45.csv")
    s.commit("No labels yet")
    unlabelled = s.act("workflow_dispatch", events.workflow_dispatch(since), "monitor.yml")
    assert unlabelled.jobs == {"settings": "success", "monitor": "success", "alert": "success"}
    state = s.loop.state()
    assert len(state["dispatches"]) == 2 and "No retraining was started" in state["comments"][-1]["body"]

    # A window without traffic says so, and alerts nobody.
    quiet = s.act("workflow_dispatch", events.workflow_dispatch({"since": "2026-11-20T00:00:00Z"}), "monitor.yml")
    assert quiet.jobs == {"settings": "success", "monitor": "success"}
    assert "No traffic" in quiet.summaries["monitor"] and len(s.loop.state()["comments"]) == 2

    # A deliberately failing candidate: the gate's bar is out of reach, so training fails and
    # nothing is promoted (no new pull request, no champion.json).
    params = (s.project / "params.yaml").read_text().replace("f1_macro: {min: 0.9}", "f1_macro: {min: 1.01}")
    assert "f1_macro: {min: 1.01}" in params
    (s.project / "params.yaml").write_text(params)
    s.commit("Raise the gate above what any model can reach")
    failed = s.act("push", events.push(), "retrain.yml", ok=False)
    assert failed.returncode != 0 and failed.jobs == {"train": "failure"}  # propose never ran
    verdict = json.loads((s.artifact(failed, "candidate") / "reports/gate.json").read_text())
    assert verdict["passed"] is False and "below the minimum 1.01" in verdict["reasons"][0]
    assert not (s.artifact(failed, "candidate") / "reports/registration.json").exists()
    assert [p["head"] for p in s.pulls() if p["head"] != "template/update"] == ["promote/champion"]
    assert "gate failed" in failed.job_log("train")


# --------------------------------------------------------------------------- under act: level 2


def test_level2_pull_request_report_and_comment(scenario):
    s = scenario(level="2", task="classification", project_name="Act Review")
    champion = {"accuracy": 0.93, "f1_macro": 0.92, "precision_macro": 0.92, "recall_macro": 0.92, "roc_auc": 0.97}
    (s.project / "metrics").mkdir(exist_ok=True)
    (s.project / "metrics/metrics.json").write_text(json.dumps(champion, indent=2) + "\n")
    init_git_repo(s.project)
    s.git("update-ref", "refs/remotes/origin/main", "HEAD")  # what checkout's fetch-depth: 0 gives on GitHub
    s.git("checkout", "-q", "-b", "feature")
    with (s.project / "README.md").open("a") as readme:
        readme.write("\nA change under review.\n")
    head = s.commit("A change under review")
    s.loop.add_pull(7, head)

    report = s.act("pull_request", events.pull_request(7, head="feature"), "pr-report.yml")
    assert report.jobs == {"report": "success"}
    folder = s.artifact(report, "pr-report")
    assert (folder / "pr-number").read_text().strip() == "7"
    body = (folder / "report.md").read_text()
    assert body.startswith(f"<!-- {s.package}-report -->") and "git origin/main" in body
    assert s.loop.requests() == []  # the PR's own run never talks to the API

    s.git("checkout", "-q", "main")  # workflow_run runs the default branch's workflow and code
    event = events.workflow_run("PR report", report.run_id, event="pull_request", head_branch="feature")
    event["workflow_run"].update({"head_sha": head, "pull_requests": [{"number": 7}],
                                  "head_repository": {"full_name": REPO}})
    posted = s.act("workflow_run", event, "pr-comment.yml")
    assert posted.jobs == {"comment": "success"}
    assert s.loop.writes() == [("POST", f"/repos/{REPO}/issues/7/comments")]
    (comment,) = s.loop.state()["comments"]
    assert comment["issue"] == 7 and comment["body"].strip() == body.strip()


def close_pull(s: Scenario, number: int, merge: bool) -> str:
    """Merge (or reject) a pull request the act stand-in opened, as GitHub's buttons would; its commit
    lands on main only when merged. Returns main's head."""
    record = s.store / "pulls" / f"{number}.json"
    pull = json.loads(record.read_text())
    assert pull["state"] == "open", pull
    if merge:
        s.git("am", "-q", str(s.store / "pulls" / f"{number}.patch"))
    record.write_text(json.dumps({**pull, "state": "closed", "merged": merge}))
    return s.git("rev-parse", "HEAD")


def path_filter_matches(patterns: list[str], path: str) -> bool:
    """GitHub's `paths:` filter for one file: `*` stays within a directory, `**` crosses them."""
    for pattern in patterns:
        regex = re.escape(pattern).replace(r"\*\*", "\0").replace(r"\*", "[^/]*").replace("\0", ".*")
        if re.fullmatch(regex, path):
            return True
    return False


def new_labelled_rows(project: Path, count: int) -> None:
    """Production saw `count` new rows and they were labelled: they arrive in the current batch."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    frame = pd.read_csv(project / params["data"]["path"])
    rows = frame.sample(count, random_state=7)
    numeric = [c for c in rows.columns if c != params["data"]["target"]]
    for column in numeric:  # new values, still inside what the data contract allows
        rows[column] = (rows[column] * 0.997).clip(frame[column].min(), frame[column].max()).round(5)
    rows.to_csv(project / params["drift"]["current"], index=False)


def champion_of(project: Path) -> dict:
    return json.loads((project / "champion.json").read_text())


def test_level2_champion_history(scenario, docker_base, wheelhouse):
    """Git decides the champion, from review to production, over a history of promotions: every job
    in a fresh copy of the repo, as on GitHub, with only git and the registry surviving between runs."""
    # A loose regression bar: new rows reshuffle a small test split, and the gate is not what this follows.
    s = scenario(level="2", task="classification", project_name="Act History", deploy_target="swarm",
                 gate_max_drop="0.1")
    s.env |= {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheelhouse)}
    s.variables |= {"BASE_IMAGE": docker_base, "ATTEST_PROVENANCE": "true"}
    init_git_repo(s.project)
    image = f"{REGISTRY}/{REPO}"  # named after the repository at run time (github.repository, lowercased)
    deploy_paths = load(s.project / WORKFLOWS / "deploy.yml")["on"]["push"]["paths"]
    # Deploying to a swarm is tests/test_deploy.py's; here the environments have no settings, so each
    # settings job names what is missing and the deploy job never runs (grey on GitHub). What this test
    # follows is which model gets built and tagged.
    skipped = "skipped: DEPLOY_HOST, DEPLOY_USER, DEPLOY_KNOWN_HOSTS, DEPLOY_SSH_KEY not set"
    staged = [f"deploy to {environment} {skipped}" for environment in ("staging", "production")]

    def pushed() -> list[str]:
        log = s.store / "registry/pushed.jsonl"
        return [json.loads(line)["tag"] for line in log.read_text().splitlines()] if log.exists() else []

    try:
        # 1. Retrain: the labelled current batch joins the training data; the candidate is proposed, v1.
        first = s.act("workflow_dispatch", events.workflow_dispatch({"reason": "first model"}), "retrain.yml")
        assert first.jobs == {"train": "success", "propose": "success"}
        (pull,) = s.pulls()
        assert pull["title"] == "Promote the retrained model to champion v1" and "promotion" in pull["labels"]
        assert {"champion.json", "champion/model.joblib", "metrics/metrics.json",
                "data/raw/breast_cancer.csv"} <= set(pull["files"])
        merged = close_pull(s, 1, merge=True)
        v1 = champion_of(s.project)
        assert v1["version"] == 1 and v1["trained_from"] != merged
        assert v1["model_sha256"] == hashlib.sha256((s.project / "champion/model.joblib").read_bytes()).hexdigest()
        assert all(path_filter_matches(deploy_paths, f) for f in ("champion.json", "champion/model.joblib"))

        # 2. The merge deploys exactly that model: built from champion.json, never retrained.
        deploy = s.act("push", events.push(), "deploy.yml")
        assert deploy.jobs == {"champion": "success", "build": "success", "settings": "success"}
        assert "Running stage" not in deploy.job_log("build") and all(s in deploy.job_log("settings") for s in staged)
        assert sorted(pushed()) == sorted([f"{image}:model-v1", f"{image}:sha-{merged}"])
        sbom = json.loads(next((s.store / "sbom").glob("*.spdx.json")).read_text())
        assert {"onnxruntime", "fastapi", "uvicorn"} <= {p["name"] for p in sbom["packages"]}  # ONNX: no sklearn
        assert "scikit-learn" not in {p["name"] for p in sbom["packages"]}
        (attestation,) = [json.loads(p.read_text()) for p in (s.store / "attestations").glob("*.json")]
        assert attestation["statement"]["subject"][0]["name"] == image

        # Batch scoring by hand with that champion: no DVC remote, so the predictions are the run's artifact.
        current = yaml.safe_load((s.project / "params.yaml").read_text())["drift"]["current"]
        rows = len(pd.read_csv(s.project / current))
        scored = s.act("workflow_dispatch", events.workflow_dispatch({"input": current}), "batch.yml")
        assert scored.jobs == {"plan": "success", "score": "success"}
        predictions = s.artifact(scored, "predictions")
        frame = pd.read_parquet(predictions / "predictions.parquet")
        assert len(frame) == rows and set(frame["model_version"]) == {1}
        assert set(frame["model_sha256"]) == {v1["model_sha256"]}
        assert json.loads((predictions / "predictions.summary.json").read_text())["scored"] == rows
        assert len(list((predictions / "capture").rglob("predictions-*.jsonl"))) == 1
        summary = scored.summaries["score"]
        assert f"| Scored | {rows} |" in summary and "v1" in summary and "Training share" in summary

        # 3. New labelled data: retrained on it, proposed and merged as v2, deployed under a new tag.
        new_labelled_rows(s.project, 40)
        s.commit("New labelled rows in the current batch")
        second = s.act("push", events.push(), "retrain.yml")
        assert second.jobs == {"train": "success", "propose": "success"}
        assert "added 40 labelled row(s)" in second.job_log("train")
        close_pull(s, 2, merge=True)
        v2 = champion_of(s.project)
        assert (v2["version"], v2["highest_version"]) == (2, 2) and v2["model_sha256"] != v1["model_sha256"]
        assert v2["training_rows"] > v1["training_rows"]
        redeploy = s.act("push", events.push(), "deploy.yml")
        assert redeploy.jobs == {"champion": "success", "build": "success", "settings": "success"}
        assert f"{image}:model-v2" in pushed()

        # 4. Nothing new since v2: no pull request, and the job summary says why.
        idle = s.act("workflow_dispatch", events.workflow_dispatch({"reason": "weekly"}), "retrain.yml")
        assert idle.jobs == {"train": "success"}  # propose was skipped
        assert "Nothing to promote" in idle.summaries["train"] and "byte-identical to champion v2" in idle.summaries[
            "train"]
        assert len(s.pulls()) == 2

        # 5. A promotion that review rejects: main and production stay on v2.
        params = (s.project / "params.yaml").read_text().replace("n_estimators: 200", "n_estimators: 150")
        (s.project / "params.yaml").write_text(params)
        changed = s.commit("Fewer trees")
        files = s.git("diff-tree", "--no-commit-id", "--name-only", "-r", changed).splitlines()
        assert files == ["params.yaml"] and not any(path_filter_matches(deploy_paths, f) for f in files)
        rejected = s.act("push", events.push(), "retrain.yml")
        assert rejected.jobs == {"train": "success", "propose": "success"} and len(s.pulls()) == 3
        assert s.pulls()[2]["title"].endswith("champion v3")
        close_pull(s, 3, merge=False)
        assert champion_of(s.project)["version"] == 2 and f"{image}:model-v3" not in pushed()

        # 6. Roll back to v1: production serves v1 at once, and git records it for every later deploy.
        back = s.act("workflow_dispatch", events.workflow_dispatch({"version": "1"}), "rollback.yml")
        assert back.jobs == {"record": "success", "settings": "success"} and staged[1] in back.job_log("settings")
        assert s.pulls()[3]["title"] == "Roll back the champion to v1" and "rollback" in s.pulls()[3]["labels"]
        close_pull(s, 4, merge=True)
        restored = champion_of(s.project)
        assert (restored["version"], restored["highest_version"], restored["rolled_back_from"]) == (1, 2, 2)
        assert restored["model_sha256"] == v1["model_sha256"]
        export = subprocess.run([sys.executable, "-m", s.package, "export", "--out", "build/after-rollback"],
                                cwd=s.project, env={**os.environ, "PYTHONPATH": "src"}, capture_output=True, text=True)
        assert export.returncode == 0, export.stderr
        assert json.loads((s.project / "build/after-rollback/metadata.json").read_text())["version"] == 1
    finally:
        docker_cleanup(images=image, package=s.package)
