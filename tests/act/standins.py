"""Local work behind the stand-in actions in tests/act/actions/.

Each stand-in's action.yml is a thin shim that calls `python standins.py <command>`;
the logic lives here so it is plain, testable Python instead of shell inside YAML.

Contract with the shims:
  * inputs arrive as INPUT_<NAME> env vars (act's node convention keeps hyphens,
    the composite shims use underscores; `inp()` accepts both),
  * outputs go to $GITHUB_OUTPUT, env to $GITHUB_ENV, PATH to $GITHUB_PATH,
  * everything the real action would send to GitHub or a registry is written under
    $ACT_STANDIN_STORE (default /tmp/act-standin-store) so tests can assert on it.

Nothing here opens a network connection.
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

# --------------------------------------------------------------------------- plumbing


def inp(name: str, default: str = "") -> str:
    raw = os.environ.get("INPUTS_JSON")  # composite shims pass ${{ toJSON(inputs) }}
    if raw is not None:
        val = json.loads(raw).get(name)
    else:  # node shims: act's INPUT_<NAME> convention (upper-cased, hyphens kept)
        val = os.environ.get("INPUT_" + name.upper().replace(" ", "_"))
    val = "" if val is None else str(val).strip()
    return val or default


def inp_bool(name: str, default: bool = False) -> bool:
    val = inp(name, "true" if default else "false").strip().lower()
    return val in ("true", "1", "yes")


def inp_lines(name: str, *, commas: bool = False) -> list[str]:
    """Multiline (and optionally comma-separated) list input, like @actions/core getMultilineInput."""
    out: list[str] = []
    for line in inp(name).splitlines():
        parts = line.split(",") if commas else [line]
        out += [p.strip() for p in parts if p.strip() and not p.strip().startswith("#")]
    return out


def _append(env_file: str, text: str) -> None:
    path = os.environ.get(env_file)
    if not path:  # run outside act (unit tests): just show it
        print(f"[{env_file}] {text}", end="")
        return
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)


def _kv(name: str, value: str) -> str:
    # heredoc form so multi-line values (tags, labels) survive
    delim = f"ghadelim_{uuid.uuid4().hex}"
    return f"{name}<<{delim}\n{value}\n{delim}\n"


def set_output(name: str, value) -> None:
    _append("GITHUB_OUTPUT", _kv(name, str(value)))


def set_env(name: str, value: str) -> None:
    os.environ[name] = value
    _append("GITHUB_ENV", _kv(name, value))


def add_path(directory: str) -> None:
    os.environ["PATH"] = directory + os.pathsep + os.environ.get("PATH", "")
    _append("GITHUB_PATH", directory + "\n")


def save_state(name: str, value: str) -> None:
    _append("GITHUB_STATE", _kv(name, value))


def warn(msg: str) -> None:
    print(f"::warning::{msg}", flush=True)


class Fail(Exception):
    """Raised for an error the real action would also fail the step with."""


def store(*parts: str) -> Path:
    root = Path(os.environ.get("ACT_STANDIN_STORE") or "/tmp/act-standin-store")
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def workspace() -> Path:
    return Path(os.environ.get("GITHUB_WORKSPACE") or os.getcwd())


def run_id() -> str:
    return os.environ.get("GITHUB_RUN_ID", "1")


def next_number(directory: Path, suffix: str = ".json") -> int:
    nums = [int(p.name[: -len(suffix)]) for p in directory.glob("*" + suffix) if p.name[: -len(suffix)].isdigit()]
    return max(nums, default=0) + 1


def write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def event() -> dict:
    try:
        return json.loads(Path(os.environ["GITHUB_EVENT_PATH"]).read_text())
    except (KeyError, OSError, ValueError):
        return {}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tree_digest(root: Path) -> str:
    """Content digest of a directory tree (relative names + file hashes)."""
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(f"{f.relative_to(root).as_posix()}\0{sha256_file(f)}\n".encode())
    return h.hexdigest()


# --------------------------------------------------------------------------- paths & globs

GLOB_CHARS = re.compile(r"[*?\[]")


def _abs(pattern: str) -> str:
    pattern = os.path.expanduser(pattern)
    return pattern if os.path.isabs(pattern) else str(workspace() / pattern)


def search_path(pattern: str) -> str:
    """Path up to the first segment holding a glob character (@actions/glob semantics)."""
    parts = Path(_abs(pattern)).parts
    keep = []
    for part in parts:
        if GLOB_CHARS.search(part):
            break
        keep.append(part)
    return str(Path(*keep))


def expand(patterns: list[str]) -> list[Path]:
    """Files matched by include patterns minus `!exclude` patterns; directories expand recursively."""
    files: dict[str, Path] = {}
    excludes = [_abs(p[1:]) for p in patterns if p.startswith("!")]
    for pat in (p for p in patterns if not p.startswith("!")):
        for hit in glob.glob(_abs(pat), recursive=True, include_hidden=True):
            p = Path(hit)
            for f in [p] if p.is_file() else [q for q in p.rglob("*") if q.is_file()] if p.is_dir() else []:
                files[str(f)] = f
    for ex in excludes:
        files = {k: v for k, v in files.items() if not (fnmatch.fnmatch(k, ex) or k.startswith(ex.rstrip("/") + "/"))}
    return sorted(files.values())


# --------------------------------------------------------------------------- artifacts
# Layout: $STORE/artifacts/<run_id>/<name>/<files, relative to the upload root>


def upload_artifact() -> None:
    name = inp("name", "artifact")
    patterns = inp_lines("path")
    if not patterns:
        raise Fail("Input required and not supplied: path")
    files = expand(patterns)
    roots = [search_path(p) for p in patterns if not p.startswith("!")]
    if len(roots) == 1 and len(files) == 1 and str(files[0]) == roots[0]:
        root = files[0].parent  # single literal file: keep only its basename
    else:
        root = Path(os.path.commonpath(roots)) if len(roots) > 1 else Path(roots[0])
    if not inp_bool("include-hidden-files"):
        files = [f for f in files if not any(part.startswith(".") for part in f.relative_to(root).parts)]
    if not files:
        mode = inp("if-no-files-found", "warn")
        msg = f"No files were found with the provided path: {' '.join(patterns)}. No artifacts will be uploaded."
        if mode == "error":
            raise Fail(msg)
        if mode == "warn":
            warn(msg)
        else:
            print(msg)
        return
    if not inp_bool("archive", True):
        if len(files) != 1:
            raise Fail("archive: false supports exactly one file")
        name = files[0].name
    dest = store("artifacts", run_id()) / name
    if dest.exists():
        if not inp_bool("overwrite"):
            raise Fail(
                f"Failed to CreateArtifact: an artifact with this name already exists on the workflow run: {name}"
            )
        shutil.rmtree(dest)
    for f in files:
        target = dest / f.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, target)
    digest = tree_digest(dest)
    artifact_id = int(digest[:8], 16)
    print(f"Stored {len(files)} file(s) as artifact '{name}' in {dest}")
    set_output("artifact-id", artifact_id)
    set_output("artifact-url", dest.as_uri())
    set_output("artifact-digest", digest)


def download_artifact() -> None:
    current = run_id()
    wanted_run = inp("run-id", current)
    if wanted_run != current and not inp("github-token"):
        # the real action ignores run-id/repository unless github-token is given
        print(f"run-id {wanted_run} ignored: no github-token given (as the real action does)")
        wanted_run = current
    runs_dir = store("artifacts", wanted_run)
    dest = Path(os.path.expanduser(inp("path") or str(workspace())))
    if not dest.is_absolute():
        dest = workspace() / dest
    name = inp("name")
    ids = set(inp_lines("artifact-ids", commas=True))
    if ids and not name:  # our artifact ids are derived from content digests (see upload_artifact)
        for d in (p for p in runs_dir.iterdir() if p.is_dir()):
            if str(int(tree_digest(d)[:8], 16)) in ids:
                shutil.copytree(d, dest / d.name, dirs_exist_ok=True)
        set_output("download-path", str(dest))
        return
    if name:
        src = runs_dir / name
        if not src.is_dir():
            if inp_bool("allow-not-found"):
                warn(f"Artifact not found for name: {name}")
                return
            raise Fail(f"Unable to download artifact(s): Artifact not found for name: {name} (run {wanted_run})")
        shutil.copytree(src, dest, dirs_exist_ok=True)
    else:
        pattern = inp("pattern") or "*"
        found = sorted(p for p in runs_dir.iterdir() if p.is_dir() and fnmatch.fnmatch(p.name, pattern))
        for src in found:
            shutil.copytree(src, dest if inp_bool("merge-multiple") else dest / src.name, dirs_exist_ok=True)
        print(f"Downloaded {len(found)} artifact(s) from run {wanted_run}")
    set_output("download-path", str(dest))


# --------------------------------------------------------------------------- cache
# Layout: $STORE/cache/<sha256(key)>/{key, ws.tar, abs.tar}. Paths inside the workspace are
# stored relative to it (act gives every run a new workspace dir), others absolute.


def _cache_entries() -> list[tuple[str, Path]]:
    root = store("cache")
    out = []
    for d in root.iterdir():
        if (d / "key").is_file():
            out.append(((d / "key").read_text(), d))
    return sorted(out, key=lambda e: e[1].stat().st_mtime, reverse=True)


def _cache_lookup(key: str, restore_keys: list[str]) -> tuple[str, Path] | None:
    entries = _cache_entries()
    for k, d in entries:
        if k == key:
            return k, d
    for prefix in [key, *restore_keys]:  # the primary key is tried as a prefix too
        for k, d in entries:  # newest first, like the real service
            if k.startswith(prefix):
                return k, d
    return None


def cache_restore(*, outputs_for_restore_action: bool = False) -> None:
    key = inp("key")
    if not key:
        raise Fail("Input required and not supplied: key")
    hit = _cache_lookup(key, inp_lines("restore-keys"))
    exact = bool(hit and hit[0] == key)
    save_state("PRIMARY_KEY", key)
    save_state("EXACT_HIT", "true" if exact else "false")
    if outputs_for_restore_action:
        set_output("cache-primary-key", key)
        set_output("cache-matched-key", hit[0] if hit else "")
    if not hit:
        if inp_bool("fail-on-cache-miss"):
            raise Fail(f"Failed to restore cache entry. Exiting as fail-on-cache-miss is set. Input key: {key}")
        print(f"Cache not found for input keys: {key}")
        set_output("cache-hit", "")  # v4+: empty on a complete miss
        return
    matched, entry = hit
    if not inp_bool("lookup-only"):
        for tar_name, target in (("ws.tar", workspace()), ("abs.tar", Path("/"))):
            if (entry / tar_name).exists():
                with tarfile.open(entry / tar_name) as tar:
                    tar.extractall(target, filter="tar")
    print(f"Cache restored from key: {matched}")
    set_output("cache-hit", "true" if exact else "false")


def cache_save(*, from_post: bool = True) -> None:
    key = os.environ.get("STATE_PRIMARY_KEY") if from_post else None
    key = key or inp("key")
    if from_post and os.environ.get("STATE_EXACT_HIT") == "true":
        print(f"Cache hit occurred on the primary key {key}, not saving cache.")
        return
    files = expand(inp_lines("path"))
    if not files:
        warn("Path Validation Error: Path(s) specified in the action for caching do(es) not exist, no cache saved.")
        return
    entry = store("cache", hashlib.sha256(key.encode()).hexdigest())
    if (entry / "key").exists():
        warn(f"Failed to save: Unable to reserve cache with key {key}, another job may be creating this cache.")
        return
    ws = workspace().resolve()
    with tarfile.open(entry / "ws.tar", "w") as wtar, tarfile.open(entry / "abs.tar", "w") as atar:
        for f in files:
            rf = f.resolve()
            if rf.is_relative_to(ws):
                wtar.add(rf, arcname=str(rf.relative_to(ws)))
            else:
                atar.add(rf, arcname=str(rf).lstrip("/"))
    (entry / "key").write_text(key)
    print(f"Cache saved with key: {key} ({len(files)} file(s))")


# --------------------------------------------------------------------------- setup-python


def _version_of(exe: str) -> tuple[int, ...] | None:
    try:
        out = subprocess.run(
            [exe, "-c", "import sys;print('.'.join(map(str,sys.version_info[:3])),sys.implementation.name)"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    return tuple(int(x) for x in out[0].split(".")) if out[1:] == ["cpython"] else None


def local_pythons() -> dict[tuple[int, ...], str]:
    """Local CPython interpreters by version: $ACT_STANDIN_PYTHONS, pyenv versions, pythonX.Y on PATH."""
    if os.environ.get("ACT_STANDIN_PYTHONS"):
        candidates = os.environ["ACT_STANDIN_PYTHONS"].split(os.pathsep)
    else:
        pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
        candidates = sorted(glob.glob(str(pyenv / "versions" / "*" / "bin" / "python3")))
        candidates += [shutil.which(f"python3.{m}") or "" for m in range(6, 20)]
        candidates += ["/usr/bin/python3", "/usr/local/bin/python3"]
    found: dict[tuple[int, ...], str] = {}
    for exe in candidates:
        if exe and os.path.exists(exe) and "/shims/" not in exe:
            ver = _version_of(exe)
            if ver and ver not in found:
                found[ver] = exe
    return found


def _matches(ver: tuple[int, ...], spec: str) -> bool:
    spec = spec.strip()
    if re.fullmatch(r"\d+(\.(\d+|x))*", spec):  # 3, 3.11, 3.11.x, 3.11.7
        want = [p for p in spec.split(".") if p != "x"]
        return all(int(w) == v for w, v in zip(want, ver, strict=False))
    for clause in re.split(r"[,\s]+(?=[<>=!~^])", spec):  # ">=3.10 <3.13", ">=3.10,<3.13"
        m = re.fullmatch(r"(>=|<=|>|<|==|!=|~=|\^|~)?\s*v?(\d+(?:\.\d+)*)(?:\.x)?", clause.strip())
        if not m:
            raise Fail(f"stand-in cannot parse python-version spec {spec!r}")
        op, target = m.group(1) or "==", tuple(int(x) for x in m.group(2).split("."))
        head = ver[: len(target)]
        ok = {
            ">=": ver >= target,
            "<=": head <= target,
            ">": head > target,
            "<": ver < target,
            "==": head == target,
            "!=": head != target,
            "~=": head[:-1] == target[:-1] and ver >= target if len(target) > 1 else ver >= target,
            "~": ver[:2] == target[:2] and ver >= target,
            "^": ver[0] == target[0] and ver >= target,
        }[op]
        if not ok:
            return False
    return True


def _versions_from_file(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    if path.name == "pyproject.toml":
        import tomllib

        req = tomllib.loads(text).get("project", {}).get("requires-python", "")
        return [req] if req else []
    if path.name == ".tool-versions":
        return [line.split()[1] for line in text.splitlines() if line.startswith("python ")]
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def setup_python() -> None:
    specs = inp_lines("python-version")
    if not specs:
        vfile = inp("python-version-file") or (".python-version" if (workspace() / ".python-version").exists() else "")
        if vfile:
            p = workspace() / vfile
            if not p.exists():
                raise Fail(f"The specified python version file at: {p} doesn't exist.")
            specs = _versions_from_file(p)
    if not specs:
        warn("Neither 'python-version' nor 'python-version-file' input was provided; using the python on PATH.")
        specs = [".".join(map(str, sys.version_info[:2]))]
    if inp("cache"):
        print(f"cache: {inp('cache')} ignored by the stand-in (no remote cache)")
    pythons = local_pythons()
    chosen = None
    for spec in specs:  # like the real action, the last version listed becomes the default
        if spec.startswith(("pypy", "graalpy")) or spec.endswith("t"):
            raise Fail(f"stand-in supports local CPython only, not {spec!r}")
        hits = sorted(v for v in pythons if _matches(v, spec))
        if not hits:
            have = ", ".join(".".join(map(str, v)) for v in sorted(pythons))
            raise Fail(f"The version '{spec}' with architecture 'x64' was not found locally. Available: {have}")
        chosen = hits[-1]
        # A throwaway venv per job: `pip install` in the workflow must not touch the host interpreter.
        venv = Path(os.environ.get("RUNNER_TEMP") or "/tmp") / "act-standin-python" / ".".join(map(str, chosen))
        if not (venv / "bin" / "python").exists():
            subprocess.run([pythons[chosen], "-m", "venv", str(venv)], check=True)
        version = ".".join(map(str, chosen))
        print(f"Using local CPython {version} ({pythons[chosen]}) via venv {venv}")
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
        if inp("pip-version"):
            subprocess.run(pip + [f"pip=={inp('pip-version')}"], check=True)
        if inp("pip-install"):
            subprocess.run(pip + inp("pip-install").split(), check=True, cwd=workspace())
        if inp_bool("update-environment", True):
            add_path(str(venv / "bin"))
            for var in ("pythonLocation", "Python_ROOT_DIR", "Python2_ROOT_DIR", "Python3_ROOT_DIR"):
                set_env(var, str(venv))
            set_env("PKG_CONFIG_PATH", str(venv / "lib" / "pkgconfig"))
    set_output("python-version", version)
    set_output("python-path", str(venv / "bin" / "python"))
    set_output("cache-hit", "false")


# --------------------------------------------------------------------------- setup-uv


def setup_uv() -> None:
    uv = shutil.which("uv")
    if not uv:
        try:  # the PyPI package `uv` ships the binary; look beside the harness's interpreter
            out = subprocess.run(
                [sys.executable, "-c", "import uv;print(uv.find_uv_bin())"], capture_output=True, text=True, check=True
            )
            uv = out.stdout.strip()
        except subprocess.CalledProcessError:
            tools = store("tools", "uv")
            subprocess.run([sys.executable, "-m", "venv", str(tools)], check=True)
            subprocess.run([str(tools / "bin" / "pip"), "install", "-q", "uv"], check=True)
            uv = str(tools / "bin" / "uv")
    # Link only uv/uvx into a private dir: adding uv's own bin dir could expose a venv's python.
    bindir = Path(os.environ.get("RUNNER_TEMP") or "/tmp") / "act-standin-uv" / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    for tool in ("uv", "uvx"):
        src = Path(uv).with_name(tool)
        if src.exists() and not (bindir / tool).exists():
            (bindir / tool).symlink_to(src)
    add_path(str(bindir))
    version = subprocess.run(
        [str(bindir / "uv"), "--version"], capture_output=True, text=True, check=True
    ).stdout.split()[1]
    want = inp("version")
    if want and want not in ("latest", version) and not version.startswith(want):
        warn(f"uv {want} requested; the stand-in cannot download it and provides local uv {version}")
    print(f"Using local uv {version}")
    set_output("uv-version", version)
    set_output("uv-path", str(bindir / "uv"))
    set_output("uvx-path", str(bindir / "uvx"))
    set_output("cache-hit", "false")
    if inp("python-version"):
        set_env("UV_PYTHON", inp("python-version"))
        set_output("python-version", inp("python-version"))
    if inp_bool("activate-environment"):
        wd = Path(inp("working-directory") or str(workspace()))
        venv = Path(inp("venv-path") or str(wd / ".venv"))
        cmd = [str(bindir / "uv"), "venv", str(venv)] + (
            ["--python", inp("python-version")] if inp("python-version") else []
        )
        subprocess.run(cmd, check=True, cwd=wd)
        add_path(str(venv / "bin"))
        set_env("VIRTUAL_ENV", str(venv))
        set_output("venv", str(venv))


# --------------------------------------------------------------------------- create-pull-request
# Layout: $STORE/pulls/<number>.json (+ <number>.patch): the PRs that would have been opened.

BOT = "github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>"


def _git(repo: Path, *args: str, check: bool = True) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=check).stdout.strip()


def _ident(value: str) -> tuple[str, str]:
    m = re.fullmatch(r"\s*(.*?)\s*<(.+)>\s*", value)
    if not m:
        raise Fail(f"Invalid name/email: {value!r}")
    return m.group(1), m.group(2)


def create_pull_request() -> None:
    if not inp("token"):
        raise Fail("Input required and not supplied: token (the harness passes a dummy GITHUB_TOKEN secret)")
    repo = workspace() / inp("path") if inp("path") else workspace()
    if not (repo / ".git").exists():
        raise Fail(f"{repo} is not a git checkout; run actions/checkout first")
    actor = os.environ.get("GITHUB_ACTOR", "github-actions")
    author = _ident(inp("author") or f"{actor} <{actor}@users.noreply.github.com>")
    committer = _ident(inp("committer") or BOT)
    add_paths = inp_lines("add-paths", commas=True)
    start = _git(repo, "rev-parse", "--abbrev-ref", "HEAD")
    base = inp("base") or (
        start if start != "HEAD" else os.environ.get("GITHUB_HEAD_REF") or os.environ.get("GITHUB_REF_NAME", "main")
    )
    branch = inp("branch", "create-pull-request/patch")
    suffix = inp("branch-suffix")
    if suffix == "short-commit-hash":
        branch += "-" + _git(repo, "rev-parse", "--short=7", "HEAD")
    elif suffix == "timestamp":
        branch += "-" + str(int(_dt.datetime.now().timestamp()))
    elif suffix == "random":
        branch += "-" + uuid.uuid4().hex[:7]
    status = _git(repo, "status", "--porcelain", "--", *(add_paths or ["."]))
    if not status:
        print("Branch is unchanged: no changes to commit, no pull request")
        set_output("pull-request-operation", "none")
        return
    env = dict(
        os.environ,
        GIT_AUTHOR_NAME=author[0],
        GIT_AUTHOR_EMAIL=author[1],
        GIT_COMMITTER_NAME=committer[0],
        GIT_COMMITTER_EMAIL=committer[1],
    )
    git = lambda *a: subprocess.run(["git", "-C", str(repo), *a], check=True, env=env, capture_output=True, text=True)  # noqa: E731
    git("checkout", "-B", branch)
    git("add", "-A", "--", *(add_paths or ["."]))
    msg = inp("commit-message", "[create-pull-request] automated change")
    git("commit", "-m", msg, *(["--signoff"] if inp_bool("signoff") else []))
    head = _git(repo, "rev-parse", "HEAD")
    files = _git(repo, "diff-tree", "--no-commit-id", "--name-only", "-r", "HEAD").splitlines()
    patch = _git(repo, "format-patch", "-1", "--stdout", "HEAD")
    git("checkout", start if start != "HEAD" else head + "~1")  # the real action leaves the base checked out
    if os.environ.get("ACT_STANDIN_PR_FORBIDDEN") == "true":  # a new repo's default: the branch is pushed, no PR
        raise Fail("GitHub Actions is not permitted to create or approve pull requests.")

    pulls = store("pulls")
    repository = os.environ.get("GITHUB_REPOSITORY", "")
    number, operation = None, "created"
    for f in pulls.glob("*.json"):
        pr = json.loads(f.read_text())
        if pr["repository"] == repository and pr["head"] == branch and pr["base"] == base and pr["state"] == "open":
            number, operation = pr["number"], "updated"
    number = number or next_number(pulls)
    body = (
        Path(repo / inp("body-path")).read_text()
        if inp("body-path")
        else inp("body", "Automated changes by create-pull-request")
    )
    record = {
        "number": number,
        "operation": operation,
        "state": "open",
        "repository": repository,
        "title": inp("title", "Changes by create-pull-request action"),
        "body": body,
        "head": branch,
        "base": base,
        "head_sha": head,
        "commit_message": msg,
        "files": files,
        "author": f"{author[0]} <{author[1]}>",
        "committer": f"{committer[0]} <{committer[1]}>",
        "labels": inp_lines("labels", commas=True),
        "assignees": inp_lines("assignees", commas=True),
        "reviewers": inp_lines("reviewers", commas=True),
        "draft": inp("draft", "false"),
        "run_id": run_id(),
        "workflow": os.environ.get("GITHUB_WORKFLOW", ""),
    }
    write_json(pulls / f"{number}.json", record)
    (pulls / f"{number}.patch").write_text(patch + "\n")
    print(f"Pull request #{number} {operation}: {branch} -> {base} ({len(files)} file(s)); recorded in {pulls}")
    set_output("pull-request-number", number)
    set_output("pull-request-url", f"https://github.com/{repository}/pull/{number}")
    set_output("pull-request-operation", operation)
    set_output("pull-request-head-sha", head)
    set_output("pull-request-branch", branch)
    set_output("pull-request-commits-verified", "false")


def sticky_comment() -> None:
    """marocchino/sticky-pull-request-comment: one comment per (PR, header), replaced or appended."""
    number = inp("number") or str(event().get("pull_request", {}).get("number") or event().get("number") or "")
    if not number:
        if inp_bool("ignore_empty"):
            return
        raise Fail("no pull request number: set `number` or run on pull_request")
    body = (workspace() / inp("path")).read_text() if inp("path") else inp("message")
    target = store("comments", f"pr-{number}") / f"{inp('header') or 'default'}.md"
    if inp_bool("delete"):
        target.unlink(missing_ok=True)
        return
    if inp_bool("append") and target.exists():
        body = target.read_text() + "\n" + body
    existed = target.exists()
    target.write_text(body)
    print(f"Comment {'updated' if existed else 'created'} in {target}")
    set_output("previous_comment_id", "1" if existed else "")
    set_output("created_comment_id", "" if existed else "1")


# --------------------------------------------------------------------------- docker
# Layout: $STORE/registry/logins.jsonl, $STORE/registry/pushed.jsonl,
#         $STORE/registry/<image>/<tag>.json (one per pushed tag)


def docker_login() -> None:
    registry = inp("registry") or "docker.io"
    if not inp("username") or not inp("password"):
        raise Fail("Username and password required")
    rec = {"registry": registry, "username": inp("username"), "password_set": True, "run_id": run_id()}
    with open(store("registry") / "logins.jsonl", "a") as fh:
        fh.write(json.dumps(rec) + "\n")
    print(f"Login Succeeded (recorded, not performed): {registry}")


def _sanitize_tag(value: str) -> str:
    return re.sub(r"[^a-zA-Z0-9._-]+", "-", value).strip("-.")[:128]


def _attrs(line: str) -> dict[str, str]:
    out = {}
    for part in re.split(r",(?=\s*[\w-]+=)", line):
        k, _, v = part.partition("=")
        out[k.strip()] = v.strip()
    return out


SEMVER = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?=$|[-+])")


def metadata() -> None:
    """docker/metadata-action, the common subset of its `tags` DSL.

    Supported: type=raw,value=; type=sha (prefix, format=short|long); type=ref,event=branch|tag|pr;
    type=semver,pattern={{version}}|{{major}}.{{minor}}|{{major}}|{{raw}}; type=schedule,pattern=;
    type=edge,branch=; attributes enable=, prefix=, suffix=; flavor latest=auto|true|false, prefix, suffix.
    Anything else fails loudly rather than producing a plausible wrong tag.
    """
    ev_name = os.environ.get("GITHUB_EVENT_NAME", "push")
    ref = os.environ.get("GITHUB_REF", "")
    sha = os.environ.get("GITHUB_SHA", "0" * 40)
    ev = event()
    default_branch = ev.get("repository", {}).get("default_branch", "main")
    flavor = {"latest": "auto", "prefix": "", "suffix": ""}
    for line in inp_lines("flavor"):
        flavor.update(_attrs(line))
    images: list[str] = []
    for line in inp_lines("images"):  # "name=img,enable=false" lines, or plain comma/newline lists
        if "name=" in line:
            a = _attrs(line)
            images += [a["name"]] if a.get("enable", "true") != "false" else []
        else:
            images += [p.strip() for p in line.split(",") if p.strip()]
    specs = inp_lines("tags") or ["type=schedule", "type=ref,event=branch", "type=ref,event=tag", "type=ref,event=pr"]
    tags: list[str] = []
    semver_hit = False
    for line in specs:
        a = _attrs(line) if "type=" in line else {"type": "raw", "value": line}
        if a.get("enable", "true") == "false":
            continue
        kind, val = a["type"], None
        if kind == "raw":
            val = a.get("value", "")
        elif kind == "sha":
            val = a.get("prefix", "sha-") + (sha if a.get("format") == "long" else sha[:7])
            a["prefix"] = ""
        elif kind == "ref":
            e = a.get("event")
            if e == "branch" and ref.startswith("refs/heads/"):
                val = _sanitize_tag(ref[len("refs/heads/") :])
            elif e == "tag" and ref.startswith("refs/tags/"):
                val = _sanitize_tag(ref[len("refs/tags/") :])
            elif e == "pr" and ev_name.startswith("pull_request"):
                val = "pr-" + str(ev.get("number") or ev.get("pull_request", {}).get("number"))
            elif e not in ("branch", "tag", "pr"):
                raise Fail(f"metadata stand-in: unsupported ref event in {line!r}")
        elif kind == "semver":
            name = ref[len("refs/tags/") :] if ref.startswith("refs/tags/") else ""
            m = SEMVER.match(name)
            pat = a.get("pattern", "{{version}}")
            pre = name.lstrip("v")[len(".".join(m.groups())) :] if m else ""  # "-rc.1" or ""
            # like the real action: a pre-release only yields the full-version patterns, and no `latest`
            if m and not (pre and "{{version}}" not in pat and "{{raw}}" not in pat):
                major, minor, patch = m.groups()
                val = (
                    pat.replace("{{version}}", f"{major}.{minor}.{patch}{pre}")
                    .replace("{{raw}}", name)
                    .replace("{{major}}", major)
                    .replace("{{minor}}", minor)
                    .replace("{{patch}}", patch)
                )
                semver_hit = semver_hit or not pre
        elif kind == "schedule":
            if ev_name == "schedule":
                val = a.get("pattern", "nightly").replace("{{date 'YYYYMMDD'}}", _dt.date.today().strftime("%Y%m%d"))
        elif kind == "edge":
            if ref == f"refs/heads/{a.get('branch', default_branch)}":
                val = "edge"
        else:
            raise Fail(f"metadata stand-in: unsupported tag type {kind!r}")
        if val:
            tags.append(a.get("prefix", flavor["prefix"]) + val + a.get("suffix", flavor["suffix"]))
    if flavor["latest"] == "true" or (flavor["latest"] == "auto" and semver_hit):
        tags.append(flavor["prefix"] + "latest" + flavor["suffix"])
    tags = list(dict.fromkeys(tags))
    full = [f"{img}:{t}" for img in images for t in tags] if images else tags
    repo = os.environ.get("GITHUB_REPOSITORY", "")
    labels = {
        "org.opencontainers.image.title": repo.split("/")[-1],
        "org.opencontainers.image.description": ev.get("repository", {}).get("description") or "",
        "org.opencontainers.image.url": f"https://github.com/{repo}",
        "org.opencontainers.image.source": f"https://github.com/{repo}",
        "org.opencontainers.image.version": tags[0] if tags else "",
        "org.opencontainers.image.created": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "org.opencontainers.image.revision": sha,
        "org.opencontainers.image.licenses": (ev.get("repository", {}).get("license") or {}).get("spdx_id", ""),
    }
    for line in inp_lines("labels"):
        k, _, v = line.partition("=")
        labels[k] = v
    label_lines = [f"{k}={v}" for k, v in labels.items()]
    sep_t = inp("sep-tags", "\n").replace("\\n", "\n")
    sep_l = inp("sep-labels", "\n").replace("\\n", "\n")
    set_output("version", tags[0] if tags else "")
    set_output("tags", sep_t.join(full))
    set_output("tag-names", sep_t.join(tags))
    set_output("labels", sep_l.join(label_lines))
    set_output("annotations", sep_l.join("manifest:" + line for line in label_lines))
    set_output(
        "json",
        json.dumps({"tags": full, "labels": labels, "annotations": ["manifest:" + line for line in label_lines]}),
    )
    set_env("DOCKER_METADATA_OUTPUT_TAGS", "\n".join(full))
    set_env("DOCKER_METADATA_OUTPUT_LABELS", "\n".join(label_lines))
    set_env("DOCKER_METADATA_OUTPUT_VERSION", tags[0] if tags else "")
    print("tags:\n  " + "\n  ".join(full))


def _docker_ok() -> bool:
    return (
        shutil.which("docker") is not None and subprocess.run(["docker", "info"], capture_output=True).returncode == 0
    )


def _base_images(dockerfile: Path, build_args: list[str]) -> list[str]:
    """FROM images of a Dockerfile, with ARG defaults and --build-arg values substituted."""
    args = dict(a.partition("=")[::2] for a in build_args)
    stages, images = set(), []
    for line in dockerfile.read_text().splitlines():
        words = line.split()
        if len(words) >= 2 and words[0].upper() == "ARG" and not images:
            name, _, default = words[1].partition("=")
            args.setdefault(name, default.strip("\"'"))
        elif len(words) >= 2 and words[0].upper() == "FROM":
            ref = next(w for w in words[1:] if not w.startswith("--"))
            ref = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), ""), ref)
            if ref.lower() != "scratch" and ref not in stages:
                images.append(ref)
            if len(words) >= 4 and words[-2].upper() == "AS":
                stages.add(words[-1])
    return images


def _require_local_images(images: list[str]) -> None:
    # The daemon runs outside the harness's network namespace: a missing image would make it
    # pull from a registry. Nothing may leave the machine, so fail instead.
    missing = [i for i in images if subprocess.run(["docker", "image", "inspect", i], capture_output=True).returncode]
    if missing:
        raise Fail(f"image(s) not present locally and the stand-in never pulls: {', '.join(missing)}")


def build_push() -> None:
    ws = workspace()
    context = Path(inp("context") or ".")
    context = context if context.is_absolute() else ws / context
    dockerfile = Path(inp("file")) if inp("file") else context / "Dockerfile"
    dockerfile = dockerfile if dockerfile.is_absolute() else ws / dockerfile
    tags = inp_lines("tags", commas=True)
    build_args = inp_lines("build-args")
    labels = inp_lines("labels")
    push = inp_bool("push")
    for unsupported in ("platforms", "cache-from", "cache-to", "outputs", "secrets", "ssh"):
        if inp(unsupported):
            print(f"{unsupported}: ignored by the stand-in (single-platform local build, no remote cache)")
    if _docker_ok():
        _require_local_images(_base_images(dockerfile, build_args))
        cmd = ["docker", "build", "--network", "host", "-f", str(dockerfile)]
        for t in tags:
            cmd += ["-t", t]
        for a in build_args:
            cmd += ["--build-arg", a]
        for label in labels:
            cmd += ["--label", label]
        for h in inp_lines("add-hosts", commas=True):
            cmd += ["--add-host", h]
        if inp("target"):
            cmd += ["--target", inp("target")]
        if inp_bool("no-cache"):
            cmd.append("--no-cache")
        iidfile = Path(os.environ.get("RUNNER_TEMP") or "/tmp") / f"iid-{uuid.uuid4().hex}"
        cmd += ["--iidfile", str(iidfile), str(context)]
        print("+ " + " ".join(cmd), flush=True)
        # Legacy builder: the engine here has no buildx plugin; BuildKit would need it.
        subprocess.run(cmd, check=True, env=dict(os.environ, DOCKER_BUILDKIT=os.environ.get("DOCKER_BUILDKIT", "0")))
        imageid = iidfile.read_text().strip()
        simulated = False
    elif os.environ.get("ACT_STANDIN_DOCKER") == "simulate":
        # No engine: digest the context instead, so downstream steps still get stable outputs.
        h = hashlib.sha256(dockerfile.read_bytes())
        h.update(tree_digest(context).encode())
        for a in build_args:
            h.update(a.encode())
        imageid = "sha256:" + h.hexdigest()
        simulated = True
        warn("no Docker engine: build SIMULATED (ACT_STANDIN_DOCKER=simulate); nothing was built")
    else:
        raise Fail(
            "docker build-push stand-in: no Docker engine reachable (docker info failed). "
            "Start one, or set ACT_STANDIN_DOCKER=simulate to record the build without running it."
        )
    # A local build has no registry manifest; its config digest (the image id) stands in for `digest`.
    digest = imageid
    record = {
        "tags": tags,
        "imageid": imageid,
        "digest": digest,
        "context": str(context.relative_to(ws) if context.is_relative_to(ws) else context),
        "file": str(dockerfile.relative_to(ws) if dockerfile.is_relative_to(ws) else dockerfile),
        "build_args": build_args,
        "labels": labels,
        "pushed": push,
        "simulated": simulated,
        "run_id": run_id(),
    }
    write_json(store("builds") / f"{next_number(store('builds'))}.json", record)
    if push:
        if not tags:
            raise Fail("push: true needs at least one tag")
        with open(store("registry") / "pushed.jsonl", "a") as fh:
            for t in tags:
                fh.write(json.dumps({"tag": t, "digest": digest, "run_id": run_id()}) + "\n")
                name, _, tag = t.rpartition(":") if ":" in t.split("/")[-1] else (t, "", "latest")
                write_json(store("registry", *name.split("/")) / f"{tag}.json", record)
        print(f"push recorded (not performed) for: {', '.join(tags)}")
    set_output("imageid", imageid)
    set_output("digest", digest)
    set_output(
        "metadata",
        json.dumps(
            {
                "containerimage.config.digest": imageid,
                "containerimage.digest": digest,
                "image.name": ",".join(tags),
                "act-standin.simulated": simulated,
            }
        ),
    )


# --------------------------------------------------------------------------- SBOM & attestation


LIST_DISTS = (
    "import json, importlib.metadata as m; print(json.dumps(sorted({(d.metadata['Name'], d.version)"
    " for d in m.distributions() if d.metadata['Name']})))"
)


def _packages_from_image(image: str) -> tuple[list[dict], str]:
    """Python distributions (importlib.metadata: works without pip) and, if present, dpkg packages."""
    if not _docker_ok():
        raise Fail(f"sbom stand-in: no Docker engine to inspect image {image}")
    _require_local_images([image])
    run = ["docker", "run", "--rm", "--network", "none", "--entrypoint"]
    pkgs, sources, err = [], [], ""
    for py in ("python3", "python"):
        r = subprocess.run(run + [py, image, "-c", LIST_DISTS], capture_output=True, text=True)
        if r.returncode == 0:
            pkgs += [{"name": n, "version": v, "type": "pypi"} for n, v in json.loads(r.stdout)]
            sources.append(f"{py} importlib.metadata")
            break
        err = r.stderr.strip()
    else:
        raise Fail(f"sbom stand-in: no python in {image}: {err}")
    r = subprocess.run(
        run + ["dpkg-query", image, "-W", "-f", "${Package}\t${Version}\n"], capture_output=True, text=True
    )
    if r.returncode == 0:
        pkgs += [
            {"name": n, "version": v, "type": "deb"}
            for n, v in (line.split("\t") for line in r.stdout.splitlines() if "\t" in line)
        ]
        sources.append("dpkg-query")
    return pkgs, f"{' + '.join(sources)} in image {image}"


def _packages_from_dir(path: Path) -> tuple[list[dict], str]:
    """Installed distributions (*.dist-info) under path, e.g. a venv or a wheel install dir."""
    from importlib.metadata import distributions

    dirs = sorted({str(p.parent) for p in path.rglob("*.dist-info")})
    pkgs = {(d.metadata["Name"], d.version) for d in distributions(path=dirs)}
    return [{"name": n, "version": v, "type": "pypi"} for n, v in sorted(pkgs)], f"dist-info under {path}"


def _purl(p: dict) -> str:
    return (
        f"pkg:pypi/{p['name'].lower()}@{p['version']}"
        if p["type"] == "pypi"
        else f"pkg:deb/debian/{p['name']}@{p['version']}"
    )


def sbom() -> None:
    image = inp("image")
    target = image or inp("path") or inp("file") or "."
    if image:
        pkgs, source = _packages_from_image(image)
    else:
        p = Path(target) if Path(target).is_absolute() else workspace() / target
        pkgs, source = _packages_from_dir(p if p.is_dir() else p.parent)
    fmt = inp("format", "spdx-json")
    ns = uuid.uuid4().hex
    if fmt == "spdx-json":
        doc = {
            "spdxVersion": "SPDX-2.3",
            "dataLicense": "CC0-1.0",
            "SPDXID": "SPDXRef-DOCUMENT",
            "name": target,
            "documentNamespace": f"https://act-standin.invalid/sbom/{ns}",
            "creationInfo": {
                "created": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "creators": ["Tool: act-standin-sbom"],
                "comment": f"packages from {source}",
            },
            "packages": [
                {
                    "name": p["name"],
                    "SPDXID": f"SPDXRef-Package-{i}",
                    "versionInfo": p["version"],
                    "downloadLocation": "NOASSERTION",
                    "externalRefs": [
                        {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": _purl(p)}
                    ],
                }
                for i, p in enumerate(pkgs)
            ],
        }
    elif fmt == "cyclonedx-json":
        doc = {
            "bomFormat": "CycloneDX",
            "specVersion": "1.5",
            "serialNumber": f"urn:uuid:{uuid.UUID(ns)}",
            "metadata": {"tools": [{"name": "act-standin-sbom"}], "component": {"name": target, "type": "container"}},
            "components": [
                {"type": "library", "name": p["name"], "version": p["version"], "purl": _purl(p)} for p in pkgs
            ],
        }
    else:
        raise Fail(f"sbom stand-in supports spdx-json and cyclonedx-json, not {fmt}")
    out_dir = store("sbom")
    out = out_dir / f"{next_number(out_dir)}.{fmt.replace('-json', '')}.json"
    write_json(out, doc)
    if inp("output-file"):
        dest = Path(inp("output-file"))
        dest = dest if dest.is_absolute() else workspace() / dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(out, dest)
    if inp_bool("upload-artifact", True):  # the real action uploads the SBOM as a workflow artifact
        repo = os.environ.get("GITHUB_REPOSITORY", "repo").split("/")[-1]
        name = inp("artifact-name") or f"{repo}-{os.environ.get('GITHUB_JOB', 'job')}.{fmt.replace('-json', '')}.json"
        adir = store("artifacts", run_id()) / name
        adir.mkdir(parents=True, exist_ok=True)
        shutil.copy(out, adir / name)
    print(f"SBOM with {len(pkgs)} package(s) ({source}) written to {out}")
    set_output("sbom-path", str(dest if inp("output-file") else out))


def attest() -> None:
    subjects = []
    if inp("subject-path"):
        for f in expand(inp_lines("subject-path", commas=True)):
            subjects.append({"name": f.name, "digest": {"sha256": sha256_file(f)}})
    elif inp("subject-checksums"):
        for line in (workspace() / inp("subject-checksums")).read_text().splitlines():
            digest, _, name = line.partition("  ")
            subjects.append({"name": name.strip(), "digest": {"sha256": digest.strip()}})
    else:
        name, digest = inp("subject-name"), inp("subject-digest")
        if not name or not digest:
            raise Fail("One of subject-path, subject-checksums or subject-name + subject-digest must be provided")
        algo, _, hexd = digest.partition(":")
        if algo != "sha256" or not re.fullmatch(r"[0-9a-f]{64}", hexd):
            raise Fail(f"subject-digest must be sha256:<64 hex>, got {digest!r}")
        subjects.append({"name": name, "digest": {"sha256": hexd}})
    if not subjects:
        raise Fail("Could not find subject at path(s)")
    env = os.environ
    repo = env.get("GITHUB_REPOSITORY", "")
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": subjects,
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "buildDefinition": {
                "buildType": "https://actions.github.io/buildtypes/workflow/v1",
                "externalParameters": {
                    "workflow": {
                        "ref": env.get("GITHUB_REF", ""),
                        "repository": f"https://github.com/{repo}",
                        "path": env.get("GITHUB_WORKFLOW_REF", env.get("GITHUB_WORKFLOW", "")),
                    }
                },
                "internalParameters": {
                    "github": {
                        "event_name": env.get("GITHUB_EVENT_NAME", ""),
                        "repository_id": "",
                        "runner_environment": "act-standin",
                    }
                },
                "resolvedDependencies": [
                    {
                        "uri": f"git+https://github.com/{repo}@{env.get('GITHUB_REF', '')}",
                        "digest": {"gitCommit": env.get("GITHUB_SHA", "")},
                    }
                ],
            },
            "runDetails": {
                "builder": {"id": "act-standin (unsigned)"},
                "metadata": {"invocationId": f"https://github.com/{repo}/actions/runs/{run_id()}/attempts/1"},
            },
        },
    }
    out_dir = store("attestations")
    number = next_number(out_dir)
    bundle = {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "act_standin": "NOT SIGNED",
        "statement": statement,
        "push_to_registry": inp_bool("push-to-registry"),
    }
    write_json(out_dir / f"{number}.json", bundle)
    print(
        f"Attestation #{number} (unsigned) for {', '.join(s['name'] for s in subjects)} -> {out_dir / f'{number}.json'}"
    )
    set_output("bundle-path", str(out_dir / f"{number}.json"))
    set_output("attestation-id", str(number))
    set_output("attestation-url", f"https://github.com/{repo}/attestations/{number}")


COMMANDS = {
    "upload-artifact": upload_artifact,
    "download-artifact": download_artifact,
    "cache-restore": cache_restore,
    "cache-save": cache_save,
    "cache-restore-only": lambda: cache_restore(outputs_for_restore_action=True),
    "cache-save-only": lambda: cache_save(from_post=False),
    "setup-python": setup_python,
    "setup-uv": setup_uv,
    "create-pull-request": create_pull_request,
    "sticky-comment": sticky_comment,
    "docker-login": docker_login,
    "docker-metadata": metadata,
    "build-push": build_push,
    "sbom": sbom,
    "attest": attest,
}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] not in COMMANDS:
        print(f"usage: standins.py {{{','.join(COMMANDS)}}}", file=sys.stderr)
        return 2
    try:
        COMMANDS[argv[1]]()
    except Fail as exc:
        print(f"::error::{exc}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
