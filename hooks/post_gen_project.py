"""Remove what the chosen level and options do not use, and record the template and the answers for updates.

One table maps each optional path to the condition under which it stays. The hook asks only local git
(no network) and creates no git repository, so running it again (as cruft does) is safe.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

# tojson escapes quotes, so no answer can break out of this string literal.
ANSWERS = json.loads(r'''{{ cookiecutter | tojson }}''')
LEVEL = int(ANSWERS["mlops_level"])
TASK = ANSWERS["task"]
CLASSIFICATION = TASK == "classification"
TARGET = ANSWERS.get("deploy_target", "swarm") if LEVEL >= 2 else "none"
DEPLOYS = TARGET in ("swarm", "kubernetes")
SWARM = TARGET == "swarm"
KUBERNETES = TARGET == "kubernetes"

# path -> keep it?  Everything not listed here is kept for every level and option.
KEEP = {
    "data/raw/breast_cancer.csv": CLASSIFICATION,
    "data/raw/breast_cancer_current.csv": CLASSIFICATION,
    "data/raw/diabetes.csv": not CLASSIFICATION,
    "data/raw/diabetes_current.csv": not CLASSIFICATION,
    # Level 1, continuous training: scheduled and data-triggered retraining, drift monitoring.
    # A level ships the modules (and their tests) its workflows call; the CLI offers only the commands
    # whose modules are there. (Every level: promote, as level 0's README promotes by hand; the template
    # update, template-update.yml and ci/template.py; the serving app with its capture and metrics.)
    ".github/workflows/retrain.yml": LEVEL >= 1,
    "src/{{ cookiecutter.package_name }}/ci/alerts.py": LEVEL >= 1,
    "tests/test_alerts.py": LEVEL >= 1,
    "src/{{ cookiecutter.package_name }}/ci/registry.py": LEVEL >= 1,
    "tests/test_registry.py": LEVEL >= 1,
    ".github/workflows/monitor.yml": LEVEL >= 1,
    ".github/workflows/keepalive.yml": LEVEL >= 1,
    ".github/workflows/sync-registry.yml": LEVEL >= 1,
    # Batch scoring (`score`; batch.yml runs it on a schedule) and its job summary.
    ".github/workflows/batch.yml": LEVEL >= 1,
    "src/{{ cookiecutter.package_name }}/serving/batch.py": LEVEL >= 1,
    "src/{{ cookiecutter.package_name }}/ci/batch.py": LEVEL >= 1,
    "src/{{ cookiecutter.package_name }}/templates/batch_summary.j2": LEVEL >= 1,
    "src/{{ cookiecutter.package_name }}/templates/batch_skipped.md.j2": LEVEL >= 1,
    "src/{{ cookiecutter.package_name }}/templates/batch_published.md.j2": LEVEL >= 1,
    "tests/test_batch.py": LEVEL >= 1,
    # The monitoring loop (`collect`, `monitor`, its history; monitor.yml runs it): captures are read back here.
    "src/{{ cookiecutter.package_name }}/stages/collect.py": LEVEL >= 1,
    "src/{{ cookiecutter.package_name }}/stages/monitor.py": LEVEL >= 1,
    "src/{{ cookiecutter.package_name }}/stages/history.py": LEVEL >= 1,
    "src/{{ cookiecutter.package_name }}/monitoring.py": LEVEL >= 1,
    "src/{{ cookiecutter.package_name }}/templates/monitor.md.j2": LEVEL >= 1,
    "src/{{ cookiecutter.package_name }}/templates/monitor.html.j2": LEVEL >= 1,
    "src/{{ cookiecutter.package_name }}/templates/monitor_issue.md.j2": LEVEL >= 1,  # alerts.py's issue
    "src/{{ cookiecutter.package_name }}/templates/monitor_skipped.md.j2": LEVEL >= 1,
    "tests/test_monitor.py": LEVEL >= 1,
    # Signed champions: promotion (level 1+) signs, export and deploys verify; the module stays for export.
    "tests/test_signing.py": LEVEL >= 1,
    # Level 2, CI/CD automation: PR reports, image build and push, staged deploy, rollback.
    ".github/workflows/pr-report.yml": LEVEL >= 2,
    ".github/workflows/pr-comment.yml": LEVEL >= 2,
    ".github/workflows/deploy.yml": LEVEL >= 2,
    ".github/workflows/rollback.yml": LEVEL >= 2,
    "src/{{ cookiecutter.package_name }}/ci/rollback.py": LEVEL >= 2,
    "tests/test_rollback.py": LEVEL >= 2,
    "src/{{ cookiecutter.package_name }}/ci/comment.py": LEVEL >= 2,
    "tests/test_comment.py": LEVEL >= 2,
    ".github/workflows/cleanup-images.yml": LEVEL >= 2,
    "src/{{ cookiecutter.package_name }}/ci/images.py": LEVEL >= 2,
    "src/{{ cookiecutter.package_name }}/templates/images.md.j2": LEVEL >= 2,
    "tests/test_images.py": LEVEL >= 2,
    # deploy_target swarm or kubernetes: deploy-env.yml calls `deploy-settings`, then `deploy`.
    ".github/workflows/deploy-env.yml": DEPLOYS,
    "docs/deploy.md": DEPLOYS,
    "src/{{ cookiecutter.package_name }}/ci/deploy.py": DEPLOYS,
    "src/{{ cookiecutter.package_name }}/templates/deploy.md.j2": DEPLOYS,
    "src/{{ cookiecutter.package_name }}/templates/deploy_settings.md.j2": DEPLOYS,
    "tests/test_deploy.py": DEPLOYS,
    # swarm: the stack (app, proxy, Prometheus) that `docker stack deploy` runs.
    "deploy/stack.yml": SWARM,
    "deploy/nginx.conf": SWARM,
    "src/{{ cookiecutter.package_name }}/ci/swarm.py": SWARM,
    "src/{{ cookiecutter.package_name }}/ci/volumes.py": SWARM,  # collect --environment reads the capture volume
    "monitoring": SWARM,  # Prometheus' configuration and alert rules, run by the stack
    # kubernetes: the Kustomize base and overlays that `kubectl apply -k` runs.
    "deploy/k8s": KUBERNETES,
    "src/{{ cookiecutter.package_name }}/ci/kube.py": KUBERNETES,
    "deploy": DEPLOYS,  # after its files: gone with deploy_target none
}
# Parts of a workflow that only some options use, between the lines `# >>> NAME` and `# <<< NAME`: NAME -> keep
# it? A workflow keeps its GitHub expressions in one raw block, where Jinja cannot choose; this table does.
SECTIONS = {"deploys": DEPLOYS, "swarm": SWARM, "kubernetes": KUBERNETES}
MARKER = re.compile(r"\s*# (>>>|<<<) ([\w-]+)")
# What cookiecutter adds to the answers for this run only; cruft records `_template` and `_commit` instead.
RUN_ONLY = ("_template", "_output_dir", "_repo_dir", "_checkout")
HOW_TO_FIX = ("Generate from a git clone of the template (`git clone URL mlops-template && cookiecutter "
              "mlops-template`) or from its URL (`cookiecutter https://github.com/OWNER/mlops-template`).")


def stop(message: str) -> NoReturn:
    """Cookiecutter removes the half-made project when this hook fails."""
    print(f"ERROR: {message}", file=sys.stderr)
    sys.exit(1)


def git(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        stop("git is not installed: it is needed to record the template's commit for `cruft update`.")


def template_dir() -> Path:
    """The directory cookiecutter rendered, as an absolute path.

    Cookiecutter passes the location as typed and runs this hook from the new project, so a relative
    path is resolved against the directory it was typed in: the shell's $PWD.
    """
    path = Path(ANSWERS["_repo_dir"]).expanduser()
    if not path.is_absolute():
        path = Path(os.environ.get("PWD", "?"), path)
    if not path.is_absolute() or not (path / "cookiecutter.json").is_file():
        stop(f"cannot tell where the template path {ANSWERS['_repo_dir']!r} is (not found from $PWD). "
             "Run cookiecutter with the template's absolute path.")
    return Path(os.path.abspath(path))


def template_source(path: Path) -> tuple[str, str, str | None]:
    """(location, commit, directory) as `cruft check` and `cruft update` will need them later: an absolute
    path, or the URL cookiecutter cloned (with abbreviations such as gh: expanded, as cookiecutter did)."""
    top = git(path, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        stop(f"the template at {path} is not a git checkout ({top.stderr.strip()}), so `.cruft.json` could "
             f"record no commit and `cruft check`/`cruft update` would fail later. {HOW_TO_FIX}")
    top_dir = top.stdout.strip()
    if git(path, "ls-files", "--error-unmatch", "cookiecutter.json").returncode != 0:
        stop(f"the template at {path} is not committed in the git checkout {top_dir}, so `cruft update` "
             f"could not find it there later. {HOW_TO_FIX}")
    directory = os.path.relpath(os.path.realpath(path), top_dir)
    typed, rendered = ANSWERS["_template"], ANSWERS["_repo_dir"]
    if rendered == typed or rendered.startswith(os.path.join(typed, "")):  # a local path, used as it is
        location = str(path) if directory == "." else top_dir
    else:  # cookiecutter cloned it: the URL as stored (git applies insteadOf rewrites only when it uses it)
        location = git(path, "config", "--get", "remote.origin.url").stdout.strip()
        if not location:
            stop(f"the template clone at {path} has no origin URL. {HOW_TO_FIX}")
    if git(path, "status", "--porcelain", "--", ".").stdout.strip():
        print(f"WARNING: the template at {path} has uncommitted changes; .cruft.json records its last commit, "
              "so the first `cruft update` will treat those changes as edits of this project.", file=sys.stderr)
    return location, git(path, "rev-parse", "HEAD").stdout.strip(), None if directory == "." else directory


def ordered(value, like):
    """`value` with its keys in the order of `like` (tojson sorted them; cruft keeps cookiecutter.json's)."""
    if not (isinstance(value, dict) and isinstance(like, dict)):
        return value
    keys = [k for k in like if k in value] + [k for k in value if k not in like]
    return {k: ordered(value[k], like.get(k)) for k in keys}


def record_answers() -> None:
    """Write .cruft.json byte for byte as `cruft create` would, so both ways of generating agree."""
    path = template_dir()
    location, commit, directory = template_source(path)
    template_json = json.loads((path / "cookiecutter.json").read_text(encoding="utf-8"))
    answers = {k: v for k, v in ordered(ANSWERS, template_json).items() if k not in RUN_ONLY}
    state = {
        "template": location,
        "commit": commit,
        "checkout": ANSWERS.get("_checkout"),
        "context": {"cookiecutter": {**answers, "_template": location, "_commit": commit}},
        "directory": directory,
    }
    # cruft's own layout (cruft/_commands/utils/cruft.py: json_dumps).
    Path(".cruft.json").write_text(json.dumps(state, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def keep_sections(path: Path) -> None:
    """Drop the section markers, and the sections whose option is off."""
    kept, dropping = [], False
    for line in path.read_text().splitlines(keepends=True):
        marker = MARKER.match(line)
        if marker and marker[2] in SECTIONS:
            dropping = marker[1] == ">>>" and not SECTIONS[marker[2]]
        elif not dropping:
            kept.append(line)
    path.write_text("".join(kept))


def main() -> None:
    for path, keep in KEEP.items():
        target = Path(path)
        if keep or not target.exists():
            continue
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    for workflow in sorted(Path(".github/workflows").glob("*.yml")):
        keep_sections(workflow)
    # cruft's renders (create, update, diff) carry `_commit`, and cruft writes .cruft.json itself. One written
    # here would sit in both renders that `cruft update` diffs and turn its three-way merge into .rej files.
    if "_commit" not in ANSWERS:
        record_answers()


if __name__ == "__main__":
    main()
