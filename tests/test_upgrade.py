"""Moving a generated repo between levels and taking template updates with cruft, on a git checkout of the
template: clean three-way merges (no .rej files), the user's edits kept, real conflicts as inline markers;
`cruft create` and `cookiecutter` agree; the template location is recorded so that it works later."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import TEMPLATE
from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
ANSWERS = {"project_name": "Upgrade Probe", "mlops_level": "0", "task": "classification"}
FALLBACK = "Retrying again with a different update strategy"  # cruft gave up the three-way merge: .rej files


def sh(argv: list[str], cwd: Path, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, cwd=cwd, env={**os.environ, **GIT_ENV, **(env or {})}, stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"{argv} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def cruft(*args: str, cwd: Path, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    return sh([sys.executable, "-m", "cruft", *args], cwd, env, check)


def commit(repo: Path, message: str) -> str:
    sh(["git", "add", "-A"], repo)
    sh(["git", "commit", "-qm", message], repo)
    return sh(["git", "rev-parse", "HEAD"], repo).stdout.strip()


def copy_template(dest: Path) -> Path:
    """The template's files as they are in the working tree (tracked or new, not ignored), without git."""
    listed = sh(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], TEMPLATE).stdout
    for name in filter(None, listed.split("\0")):
        source = TEMPLATE / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


@pytest.fixture(scope="module")
def template_repo(tmp_path_factory) -> Path:
    """A git checkout of the template, with one commit."""
    repo = copy_template(tmp_path_factory.mktemp("template") / "mlops-template")
    sh(["git", "init", "-q", "-b", "main"], repo)
    commit(repo, "Template")
    return repo


def render(template: Path, out: Path, **answers: str) -> Path:
    return Path(cookiecutter(str(template), no_input=True, extra_context={**ANSWERS, **answers}, output_dir=str(out)))


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and ".git" not in p.relative_to(root).parts}


def replace_once(pattern: str, replacement: str, text: str) -> str:
    changed, count = re.subn(pattern, replacement, text, count=1, flags=re.M)
    assert count == 1, f"no line matches {pattern!r}"
    return changed


Edits = dict[str, Callable[[str], str]]


def user_edits(package: str) -> Edits:
    """What a user changes after generating: a parameter, a source file, a README paragraph."""
    return {
        "params.yaml": lambda t: replace_once(r"^(\s*test_size:) [0-9.]+", r"\1 0.3", t),
        f"src/{package}/stages/train.py": lambda t: t + "\n# Team note: tuned on our data.\n",
        "README.md": lambda t: replace_once(r"^## Your own data$", "Team notes: we retrain weekly.\n\n\\g<0>", t),
    }


def apply_edits(files: dict[str, bytes], edits: Edits) -> dict[str, bytes]:
    return {**files, **{name: edit(files[name].decode()).encode() for name, edit in edits.items()}}


def assert_matches_fresh_render(project: Path, fresh: Path, edits: Edits, keep: dict[str, bytes] | None = None):
    """The project is a fresh render of its recorded answers, plus the user's edits (and skipped files as they were)."""
    actual, expected = tree(project), {**apply_edits(tree(fresh), edits), **(keep or {})}
    assert not [name for name in actual if name.endswith(".rej")]
    workflows = ".github/workflows/"
    assert {n for n in actual if n.startswith(workflows)} == {n for n in expected if n.startswith(workflows)}
    assert set(actual) == set(expected)
    assert [name for name in expected if actual[name] != expected[name]] == []


def update(project: Path, *args: str) -> subprocess.CompletedProcess:
    result = cruft("update", "--project-dir", str(project), "--skip-apply-ask", *args, cwd=project)
    assert FALLBACK not in result.stdout + result.stderr, result.stdout + result.stderr
    return result


def generate_and_edit(template: Path, out: Path, **answers: str) -> tuple[Path, Edits]:
    project = render(template, out, **answers)
    sh(["git", "init", "-q", "-b", "main"], project)
    commit(project, "Generated project")  # first, so that the generated files are the merge base
    package = json.loads((project / ".cruft.json").read_text())["context"]["cookiecutter"]["package_name"]
    edits = user_edits(package)
    for name, edit in edits.items():
        (project / name).write_text(edit((project / name).read_text()))
    commit(project, "User edits")
    return project, edits


# What a level adds to the package and its tests (the hook's table): file -> the lowest level that ships it.
LEVEL_FILES = {**{f"src/PKG/ci/{m}.py": 1 for m in ("alerts", "registry", "batch")},
               **{f"src/PKG/stages/{m}.py": 1 for m in ("collect", "monitor", "history")},
               "src/PKG/serving/batch.py": 1, "src/PKG/monitoring.py": 1,
               **{f"src/PKG/templates/{t}.j2": 1 for t in ("batch_summary", "monitor.md", "monitor_issue.md")},
               **{f"tests/test_{m}.py": 1 for m in ("alerts", "registry", "batch", "monitor", "signing")},
               **{f"src/PKG/ci/{m}.py": 2 for m in ("rollback", "comment", "images")},
               **{f"tests/test_{m}.py": 2 for m in ("rollback", "comment", "images")}}


def test_moving_between_levels_merges_cleanly_and_keeps_user_edits(template_repo, tmp_path):
    project, edits = generate_and_edit(template_repo, tmp_path / "project")
    package = json.loads((project / ".cruft.json").read_text())["context"]["cookiecutter"]["package_name"]
    for level in ("1", "2", "0"):
        update(project, "--variables-to-update", json.dumps({"mlops_level": level}))
        fresh = render(template_repo, tmp_path / f"fresh-{level}", mlops_level=level)
        assert_matches_fresh_render(project, fresh, edits)  # .cruft.json included: cruft's and the hook's agree
        # The update added or removed the level's modules and tests, and the CLI offers just their commands.
        shipped = {name for name in LEVEL_FILES if (project / name.replace("PKG", package)).is_file()}
        assert shipped == {name for name, lowest in LEVEL_FILES.items() if int(level) >= lowest}, level
        help_text = sh([sys.executable, "-m", package, "--help"], project, env={"PYTHONPATH": "src"})
        offered = set(re.findall(r"^    ([a-z][a-z-]+)(?:\s|$)", help_text.stdout, re.M))
        assert {c for c in ("sync-registry", "score", "collect", "monitor", "monitor-alert") if c in offered} == (
            set() if level == "0" else {"sync-registry", "score", "collect", "monitor", "monitor-alert"}), offered
        assert {c for c in ("rollback", "cleanup-images") if c in offered} == (
            {"rollback", "cleanup-images"} if level == "2" else set()), offered
        commit(project, f"Level {level}")

    # A line the user changed and the template changes too: inline conflict markers, no .rej file.
    readme = project / "README.md"
    readme.write_text(replace_once(r"^(.*MLOps level 0.*)$", r"\1 (our note)", readme.read_text()))
    commit(project, "Conflicting edit")
    update(project, "--variables-to-update", json.dumps({"mlops_level": "1"}))
    text = readme.read_text()
    assert re.search(r"^<<<<<<< .*\n.*MLOps level 0.*\(our note\)\n(.*\n)*?=======\n(.*\n)*?.*MLOps level 1.*\n"
                     r"(.*\n)*?>>>>>>> ", text, re.M), text
    assert sh(["git", "ls-files", "--unmerged", "README.md"], project).stdout.strip()
    assert not list(project.rglob("*.rej"))


def change_first_line(path: Path, pattern: str, suffix: str) -> str:
    """Append `suffix` to the first line matching `pattern`; returns the new line."""
    text = path.read_text()
    line = re.search(pattern, text, re.M).group(0)
    path.write_text(text.replace(line, line + suffix, 1))
    return line + suffix


def test_template_commit_reaches_the_repo(template_repo, tmp_path):
    template = tmp_path / "mlops-template"
    sh(["git", "clone", "-q", str(template_repo), str(template)], tmp_path)
    project, edits = generate_and_edit(template, tmp_path / "project", mlops_level="1")
    assert "up to date" in cruft("check", "--project-dir", str(project), cwd=project).stdout

    slug = template / "{{cookiecutter.project_slug}}"
    workflow_line = change_first_line(slug / ".github/workflows/ci.yml", r"^name: .*$", " (template v2)")
    make_line = change_first_line(slug / "Makefile", r"^#.*$", " (template v2)")
    # params.yaml is merged (the user's value stays); schema.yaml is the user's (skipped), as the README says.
    params_line = change_first_line(slug / "params.yaml", r"^#.*$", " (template v2)")
    change_first_line(slug / "schema.yaml", r"^#.*$", " (template v2)")
    schema_before = (project / "schema.yaml").read_bytes()
    new_commit = commit(template, "Template v2")

    outdated = cruft("check", "--project-dir", str(project), cwd=project, check=False)
    assert outdated.returncode == 1 and "out of date" in outdated.stdout
    update(project)
    fresh = render(template, tmp_path / "fresh", mlops_level="1")
    assert_matches_fresh_render(project, fresh, edits, keep={"schema.yaml": schema_before})
    assert workflow_line in (project / ".github/workflows/ci.yml").read_text()
    assert make_line in (project / "Makefile").read_text()
    assert params_line in (project / "params.yaml").read_text()
    assert "test_size: 0.3" in (project / "params.yaml").read_text()
    assert json.loads((project / ".cruft.json").read_text())["commit"] == new_commit
    commit(project, "Template v2")
    assert cruft("check", "--project-dir", str(project), cwd=project).returncode == 0


def test_docker_host_repo_moves_to_swarm(tmp_path):
    """A level-2 repo generated when deploy_target had `docker-host` (blue/green, deploy/compose.yml) takes
    the template commit that replaced it: `cruft update` with the new answer `swarm` gives a fresh swarm
    render plus the user's edits. Without a new answer cruft stops, naming the choices, and changes nothing."""
    commits = sh(["git", "rev-list", "--max-count=200", "HEAD"], TEMPLATE).stdout.split()  # newest first
    old = next((c for c in commits
                if '"docker-host"' in sh(["git", "show", f"{c}:cookiecutter.json"], TEMPLATE).stdout), None)
    assert old, "no template commit with deploy_target docker-host in this checkout's history"
    template = tmp_path / "mlops-template"
    template.mkdir()
    archive = subprocess.run(["git", "-C", str(TEMPLATE), "archive", old], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(template)], input=archive, check=True)
    sh(["git", "init", "-q", "-b", "main"], template)
    commit(template, "Template with docker-host")
    project, edits = generate_and_edit(template, tmp_path / "project", mlops_level="2", deploy_target="docker-host")
    assert (project / "deploy/compose.yml").is_file()

    for child in template.iterdir():
        if child.name != ".git":
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    copy_template(template)  # the working tree: deploy_target swarm, kubernetes or none
    sh(["git", "add", "-A"], template)
    sh(["git", "commit", "-qm", "Swarm"], template)
    refused = cruft("update", "--project-dir", str(project), "--skip-apply-ask", cwd=project, check=False)
    assert refused.returncode != 0 and "docker-host provided for choice variable deploy_target" in refused.stderr
    assert sh(["git", "status", "--porcelain"], project).stdout == ""  # nothing half-applied
    update(project, "--variables-to-update", json.dumps({"deploy_target": "swarm"}))
    fresh = render(template, tmp_path / "fresh", mlops_level="2", deploy_target="swarm")
    assert_matches_fresh_render(project, fresh, edits)
    assert not (project / "deploy/compose.yml").exists() and (project / "deploy/stack.yml").is_file()


def test_cruft_create_and_cookiecutter_make_the_same_repo(template_repo, tmp_path):
    answers = {"mlops_level": "2", "task": "regression"}
    made_by_cookiecutter = render(template_repo, tmp_path / "cookiecutter", **answers)
    cruft("create", "--no-input", "--output-dir", str(tmp_path / "cruft"),
          "--extra-context", json.dumps({**ANSWERS, **answers}), str(template_repo), cwd=tmp_path)
    made_by_cruft = tmp_path / "cruft" / made_by_cookiecutter.name
    assert tree(made_by_cruft) == tree(made_by_cookiecutter)
    modes = [{n: (root / n).stat().st_mode for n in tree(root)} for root in (made_by_cruft, made_by_cookiecutter)]
    assert modes[0] == modes[1]
    state = json.loads((made_by_cruft / ".cruft.json").read_text())
    head = sh(["git", "rev-parse", "HEAD"], template_repo).stdout.strip()
    assert (state["template"], state["commit"], state["directory"]) == (str(template_repo), head, None)


def test_relative_template_path_is_recorded_as_absolute(template_repo, tmp_path):
    template = tmp_path / "tpl"
    sh(["git", "clone", "-q", str(template_repo), str(template)], tmp_path)
    # As typed in a shell, which sets $PWD to the directory that the path is relative to.
    sh(["sh", "-c", f"{sys.executable} -m cookiecutter --no-input -o out ./tpl mlops_level=0"], tmp_path)
    project = next((tmp_path / "out").iterdir())
    state = json.loads((project / ".cruft.json").read_text())
    assert state["template"] == state["context"]["cookiecutter"]["_template"] == str(template)
    assert "up to date" in cruft("check", "--project-dir", str(project), cwd=project).stdout  # works from anywhere

    # Where the directory it was typed in cannot be known, generation stops and says what to do.
    stale = sh([sys.executable, "-m", "cookiecutter", "--no-input", "-o", str(tmp_path / "stale"), "./tpl"],
               tmp_path, env={"PWD": str(project)}, check=False)
    assert stale.returncode != 0
    assert "Run cookiecutter with the template's absolute path" in stale.stderr
    assert not (tmp_path / "stale").exists() or not any((tmp_path / "stale").iterdir())


def test_gh_abbreviation_is_recorded_as_the_url_cookiecutter_cloned(template_repo, tmp_path):
    hosted = tmp_path / "github" / "acme" / "mlops-template.git"
    sh(["git", "clone", "-q", "--bare", str(template_repo), str(hosted)], tmp_path)
    gitconfig, config = tmp_path / "gitconfig", tmp_path / "cookiecutter.yaml"
    # git serves github.com from the local bare repo and may use no other transport: nothing leaves the machine.
    gitconfig.write_text(f'[url "file://{tmp_path}/github/"]\n\tinsteadOf = https://github.com/\n')
    config.write_text(f"cookiecutters_dir: {tmp_path}/clones\nreplay_dir: {tmp_path}/replay\n")
    env = {"GIT_CONFIG_GLOBAL": str(gitconfig), "GIT_CONFIG_NOSYSTEM": "1", "GIT_ALLOW_PROTOCOL": "file",
           "COOKIECUTTER_CONFIG": str(config)}
    sh([sys.executable, "-m", "cookiecutter", "--no-input", "-o", str(tmp_path / "out"), "gh:acme/mlops-template",
        "mlops_level=0"], tmp_path, env=env)
    project = next((tmp_path / "out").iterdir())
    state = json.loads((project / ".cruft.json").read_text())
    assert state["template"] == "https://github.com/acme/mlops-template.git"
    assert state["commit"] == sh(["git", "rev-parse", "HEAD"], hosted).stdout.strip()
    assert "up to date" in cruft("check", "--project-dir", str(project), cwd=tmp_path, env=env).stdout


@pytest.mark.parametrize("repo", ["none", "uncommitted"])
def test_template_that_git_cannot_give_back_is_refused(tmp_path, capfd, repo):
    template = copy_template(tmp_path / "copy" / "mlops-template")
    if repo == "uncommitted":  # e.g. a downloaded copy unpacked inside another project's checkout
        sh(["git", "init", "-q"], tmp_path / "copy")
    out = tmp_path / "out"
    with pytest.raises(FailedHookException):
        cookiecutter(str(template), no_input=True, output_dir=str(out))
    err = capfd.readouterr().err
    why = "is not a git checkout" if repo == "none" else "is not committed in the git checkout"
    assert f"ERROR: the template at {template} {why}" in err, err
    assert "git clone" in err
    assert not out.exists() or not any(out.iterdir())


def test_scheduled_template_update_opens_one_pull_request_under_act(template_repo, tmp_path):
    """template-update.yml on its schedule, under act, against a local template commit: `cruft check`, then
    `cruft update`, and one pull request listing the changed files and the conflict."""
    sys.path.insert(0, str(TEMPLATE / "tests"))
    from act.harness import act_compatible, events, init_git_repo, run_act

    template = tmp_path / "mlops-template"
    sh(["git", "clone", "-q", str(template_repo), str(template)], tmp_path)
    project = render(template, tmp_path / "project", mlops_level="0")
    act_compatible(project)
    init_git_repo(project)
    package = json.loads((project / ".cruft.json").read_text())["context"]["cookiecutter"]["package_name"]
    env = {"PYTHONPATH": "src", "CI_PREINSTALLED": "true",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    params = project / "params.yaml"
    params.write_text(replace_once(r"^(\s*test_size:) [0-9.]+", r"\1 0.3", params.read_text()))  # the user's
    commit(project, "Our test split")

    # Nothing new in the template: the command says so and changes nothing.
    same = sh([sys.executable, "-m", package, "template-update"], project, env=env)
    assert same.stdout.startswith("up to date with the template") and not sh(["git", "status", "--porcelain"],
                                                                             project).stdout

    slug = template / "{{cookiecutter.project_slug}}"
    (slug / "params.yaml").write_text(replace_once(r"^(\s*test_size:) [0-9.]+", r"\1 0.2",
                                                   (slug / "params.yaml").read_text()))  # conflicts with the user's
    make_line = change_first_line(slug / "Makefile", r"^#.*$", " (template v2)")  # merges cleanly
    (slug / "docs/upgrading.md").write_text("# A new page\n")  # a new file
    new_commit = commit(template, "Template v2")

    run = run_act(project, "schedule", events.schedule("0 7 * * 1"), workflow=".github/workflows/template-update.yml",
                  env=env, store_dir=tmp_path / "store", timeout=600)
    assert run.ok and run.jobs == {"update": "success"}, run.log[-6000:]
    (pull,) = [json.loads(p.read_text()) for p in (tmp_path / "store/pulls").glob("*.json")]
    assert pull["head"] == "template/update" and pull["base"] == "main" and pull["labels"] == ["template-update"]
    assert pull["title"] == f"Template update to {new_commit[:12]} (conflicts to resolve)"
    assert set(pull["files"]) == {".cruft.json", "params.yaml", "Makefile", "docs/upgrading.md"}
    assert "### ⚠ 1 file(s) with conflicts to resolve before merging\n" in pull["body"]
    assert "- `params.yaml`\n" in pull["body"] and "- `Makefile`\n" in pull["body"]
    assert "- `docs/upgrading.md`\n" in pull["body"] and "- `params.yaml` (conflicts)\n" in pull["body"]
    patch = (tmp_path / "store/pulls" / f"{pull['number']}.patch").read_text()
    assert re.search(r"^\+<<<<<<< .*\n[ +]\s*test_size: 0\.3\n\+=======\n\+\s*test_size: 0\.2\n\+>>>>>>> ", patch, re.M)
    assert f"+{make_line}" in patch and f'"commit": "{new_commit}"' in patch
    assert f"the template moved from {template_repo_head(template_repo)[:12]} to {new_commit[:12]}" in \
        run.summaries["update"]


def template_repo_head(repo: Path) -> str:
    return sh(["git", "rev-parse", "HEAD"], repo).stdout.strip()
