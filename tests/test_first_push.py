"""A new user's first push (and, at level 2, first pull request), at each level: every workflow it
triggers is green, or skipped with a job summary saying what to do next (docs: the generated README's
"Running it on GitHub").

Each test renders a level with the defaults a new user keeps, commits everything, and works out which
workflows GitHub would start for that push (branch and `paths:` filters, which act ignores), then runs
each of them under act (tests/act/harness.py: host mode, strict, offline). Nothing is configured: no
variables, no secrets, and Actions may not open pull requests (a new repository's default).

To stay cheap, a workflow file that is byte-identical at a lower level runs there only (the test checks
that it is identical): ci.yml at every level (it lints and tests each level's code), retrain.yml at
level 1, deploy.yml at level 2. container.yml's one job runs the same on push as on a pull request (no
`if:`), and test_level0_container_build_check (tests/test_workflows.py) runs it with a real image build,
so here it is only checked to be triggered and unconditional: a build here would need the base image
from Docker Hub, which this machine cannot reach.
"""

from __future__ import annotations

import json
import os

from act.harness import events, init_git_repo
from conftest import render
from test_workflows import WORKFLOWS, load, path_filter_matches, scenario  # noqa: F401 (scenario: a fixture)

SHARED = {"container.yml": None, "retrain.yml": "1"}  # run at this level only (None: elsewhere), the same file at all


def triggered(project, files: list[str]) -> list[str]:
    """The workflows GitHub starts for a push of these files to main."""
    started = []
    for path in sorted((project / WORKFLOWS).glob("*.yml")):
        push = load(path)["on"]
        push = push.get("push", False) if isinstance(push, dict) else ("push" in push)
        if push is False:
            continue
        push = push or {}
        if "main" not in push.get("branches", ["main"]):
            continue
        if "paths" in push and not any(path_filter_matches(push["paths"], f) for f in files):
            continue
        started.append(path.name)
    return started


def first_push(make, level: str, expected: set[str], env: dict | None = None):
    s = make(level=level, task="classification", project_name=f"First Push {level}")
    s.env |= {"ACT_STANDIN_PR_FORBIDDEN": "true", **(env or {})}
    init_git_repo(s.project)
    files = s.git("ls-files").splitlines()
    started = triggered(s.project, files)
    assert set(started) == expected, started
    results = {}
    for name in started:
        lowest = SHARED.get(name, level)
        if lowest != level:
            continue
        results[name] = s.act("push", events.push(), name, ok=False)
    return s, started, results


def test_first_push_level0(scenario):  # noqa: F811 (the fixture)
    s, started, results = first_push(scenario, "0", {"ci.yml", "container.yml"})
    ci = results["ci.yml"]
    assert ci.jobs == {"lint": "success", "test": "success", "data": "success"}, ci.log[-4000:]
    assert "data checks passed" in ci.job_log("data") and "passed" in ci.job_log("test")
    container = load(s.project / WORKFLOWS / "container.yml")
    assert "pull_request" in container["on"] and all("if" not in job for job in container["jobs"].values())
    _record_minutes(s, "0", results)


def test_first_push_level1(scenario):  # noqa: F811 (the fixture)
    s, started, results = first_push(scenario, "1", {"ci.yml", "container.yml", "retrain.yml"})
    assert results["ci.yml"].jobs == {"lint": "success", "test": "success", "data": "success"}
    retrain = results["retrain.yml"]
    # The first model passes the gate and is committed on promote/champion; Actions may not open the
    # pull request yet, so the job says how to allow it instead of failing.
    assert retrain.jobs == {"train": "success", "propose": "success"}, retrain.log[-6000:]
    assert "GitHub Actions is not permitted to create or approve pull requests." in retrain.job_log("propose")
    summary = retrain.summaries["propose"]
    assert "Promotion pull request: not opened" in summary and "`promote/champion`" in summary
    assert "Settings > Actions > General > Workflow permissions" in summary and "setup-github --apply" in summary
    assert s.pulls() == []
    assert "Gate" in retrain.summaries["train"]
    _record_minutes(s, "1", results)


def test_first_push_level2(scenario):  # noqa: F811 (the fixture)
    s, started, results = first_push(scenario, "2", {"ci.yml", "container.yml", "retrain.yml", "deploy.yml"})
    assert results["ci.yml"].jobs == {"lint": "success", "test": "success", "data": "success"}
    deploy = results["deploy.yml"]
    # No champion yet: the build and both deploys are skipped (absent: act reports no skipped job).
    assert deploy.ok and deploy.jobs == {"champion": "success"}, deploy.log[-4000:]
    assert deploy.outputs["champion"]["champion"]["found"] == "false"
    assert deploy.outputs["champion"]["image"]["image"] == f"127.0.0.1:5999/{s.loop.repo}"  # the repo, lowercased
    summary = deploy.summaries["champion"]
    assert "No champion yet" in summary and "merge the first promotion pull request" in summary
    assert not (s.store / "builds").exists() and s.loop.requests() == []

    # The first pull request: its pipeline report, with no champion to compare against yet.
    s.git("update-ref", "refs/remotes/origin/main", "HEAD")  # what checkout's fetch-depth: 0 gives on GitHub
    s.git("checkout", "-q", "-b", "first-change")
    (s.project / "README.md").write_text((s.project / "README.md").read_text() + "\nA first change.\n")
    s.commit("A first change")
    report = s.act("pull_request", events.pull_request(1, head="first-change"), "pr-report.yml")
    assert report.jobs == {"report": "success"}
    body = (s.artifact(report, "pr-report") / "report.md").read_text()
    assert "Gate ✅ passed" in body
    results["pr-report.yml"] = report
    _record_minutes(s, "2", results)


def _record_minutes(s, level: str, results: dict) -> None:
    """Each job's seconds under act (from act's log timestamps), for the generated README's cost estimate;
    written only when FIRST_PUSH_TIMES names a file."""
    target = os.environ.get("FIRST_PUSH_TIMES")
    if not target:
        return
    from datetime import datetime

    jobs: dict[str, list[datetime]] = {}
    for name, result in results.items():
        for record in result.records:
            if record.get("jobID") and record.get("time"):
                stamp = datetime.fromisoformat(record["time"].replace("Z", "+00:00"))
                jobs.setdefault(f"{name}:{record['jobID']}", []).append(stamp)
    seconds = {job: (max(t) - min(t)).total_seconds() for job, t in jobs.items()}
    with open(target, "a") as out:
        out.write(json.dumps({"level": level, "seconds": seconds}) + "\n")


def test_first_push_shared_workflows_are_identical(tmp_path):
    """The workflows run at one level only above are the same file at every level that has them."""
    projects = {level: render(tmp_path / level, mlops_level=level, project_name="Same Name") for level in "012"}
    for name, lowest in SHARED.items():
        lowest = lowest or "0"
        reference = (projects[lowest] / WORKFLOWS / name).read_text()
        for level in "012"[int(lowest):]:
            assert (projects[level] / WORKFLOWS / name).read_text() == reference, (name, level)
