"""The monitoring loop's history, as a person looks at it: Evidently's own UI over the workspace that
`monitor` fills, in headless Chromium (offline: no host name resolves, only loopback answers).

A level-2 classification project monitors three windows of captured predictions (tests/capture_files.py
writes them as the app does): two steady, then a shifted one whose labels say the model is wrong. Each
`monitor` run adds its snapshots; `evidently ui` (the tracking stack's `evidently` service runs the same)
then serves one project with 4 snapshots, and its dashboard draws the panels over time. Set
MLOPS_SCREENSHOTS=DIR to keep the screenshot.

The whole loop, end to end (one test, sharing tests/test_deploy.py's fixtures, images and swarm lock): a
level-2 project deploys to the loopback swarm; demo rows replayed through the proxy are captured by the app,
collected from the stack's volume over the deploy's SSH access (`collect --environment`: a short-lived container
streams the volume read-only; another stack's volume on the same swarm is not read) and monitored (no drift); a
shifted replay, monitored by monitor.yml itself under act (tests/act; the loopback sshd and the fake API reached
from act's network namespace through tests/act/loopback.py), drifts and opens one issue on the fake GitHub API;
labels for the shifted rows are committed and monitor.yml's next run finds the accuracy drop, updates the same
issue and dispatches retraining; retrain.yml runs under act as dispatched, pulls production's labelled rows from
the DVC remote, retrains, passes the gate and proposes a champion whose data diff is those rows; after the merge
the new champion's image deploys and answers the shifted rows right. (The steady window runs monitor.yml's steps
as CLI commands with its environment, repeating collect until the app's writers have flushed the window.)
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import yaml
from act.harness import act_binary, act_compatible, init_git_repo, run_act
from act.harness import events as act_events
from act.loopback import Loopback, free_port
from capture_files import UTC, write_capture
from conftest import unavailable
from PIL import Image
from test_deploy import (  # noqa: F401 (environment, images, ssh_host, stack_images, swarm: fixtures)
    ENVIRONMENT,
    FAST,
    REPO,
    TOKEN,
    environment,
    images,
    serving,
    sh,
    ssh_host,
    stack_images,
    swarm,
)
from test_workflows import wheelhouse  # noqa: F401 (a fixture of the images fixture)

CHROMIUM = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",  # offline, but the UI on loopback
            "--window-size=1280,1800", "--virtual-time-budget=20000"]
PANELS = ("Records in the last window", "Drift share", "Drifted columns", "Accuracy", "Rows", "Label coverage")


def cli(project: Path, *args: str) -> str:
    result = subprocess.run([sys.executable, "-m", project.name.replace("-", "_"), *args], cwd=project,
                            env={**os.environ, "PYTHONPATH": "src", "DO_NOT_TRACK": "1"},
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{args}: {result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def get(url: str):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def chromium(url: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    binary = shutil.which("chromium")
    if binary is None:
        unavailable("no chromium (Debian package `chromium`; .ci/run installs it)")
    result = subprocess.run([binary, *CHROMIUM, f"--user-data-dir={profile}", *args, url],
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def test_evidently_ui_shows_the_monitoring_history(rendered, tmp_path):
    _, rendered_project = rendered("2", "classification")
    project = tmp_path / rendered_project.name
    shutil.copytree(rendered_project, project)
    data = pd.read_csv(project / "data/raw/breast_cancer.csv")
    features, target = data.drop(columns=["diagnosis"]), data["diagnosis"]
    capture = tmp_path / "capture"
    start = dt.datetime(2026, 11, 2, 10, tzinfo=UTC)
    for hour, seed in ((0, 1), (1, 2)):  # steady traffic: the model's own classes, the training distribution
        rows = features.sample(150, random_state=seed)
        write_capture(capture, rows, list(target.loc[rows.index]), start + dt.timedelta(hours=hour), f"steady{hour}")
    moved = features.sample(150, random_state=3)
    shifted = moved * 1.5 + moved.std()
    ids = write_capture(capture, shifted, ["benign"] * len(moved), start + dt.timedelta(hours=2), "moved")
    (project / "data/labels").mkdir(parents=True)
    (project / "data/labels/moved.csv").write_text("record_id,diagnosis\n" + "".join(
        f"{i},{v}\n" for i, v in zip(ids, target.loc[moved.index], strict=True)))

    verdicts = []
    for hour in range(3):
        window = [f"--since={start + dt.timedelta(hours=hour):%Y-%m-%dT%H:%M:%SZ}",
                  f"--until={start + dt.timedelta(hours=hour + 1):%Y-%m-%dT%H:%M:%SZ}"]
        cli(project, "collect", f"--source={capture}", *window)
        verdicts.append(cli(project, "monitor").splitlines()[0])
    assert verdicts[0].startswith("no drift in 150 records") and verdicts[1].startswith("no drift in 150 records")
    assert verdicts[2].startswith("data drift") and "under the gate's threshold" in verdicts[2]
    summary = json.loads((project / "reports/monitor.json").read_text())
    assert summary["history"]["snapshots"] == 4  # drift per run, and performance for the labelled window
    workspace = project / "data/production/history/workspace"

    port = free_port()
    ui = subprocess.Popen([str(Path(sys.executable).parent / "evidently"), "ui", "--workspace", str(workspace),
                           "--host", "127.0.0.1", "--port", str(port)], env={**os.environ, "DO_NOT_TRACK": "1"},
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                projects = get(f"{base}/api/projects")
                break
            except OSError:
                assert ui.poll() is None and time.monotonic() < deadline, ui.stdout.read().decode()[-2000:]
                time.sleep(0.5)
        (monitoring,) = projects
        assert monitoring["name"] == f"{project.name}: production monitoring"
        snapshots = get(f"{base}/api/projects/{monitoring['id']}/snapshots")
        assert len(snapshots) == 4
        assert sorted(tuple(s["tags"]) for s in snapshots) == [("monitor", "drift")] * 3 + [("monitor", "performance")]
        assert {s["metadata"]["rows"] for s in snapshots} == {"150"}

        page = f"{base}/projects/{monitoring['id']}"
        dom = chromium(page, tmp_path / "profile-dom", "--dump-dom").stdout
        for title in PANELS:
            assert title in dom, f"dashboard panel {title!r} not drawn"
        shot = tmp_path / "evidently-dashboard.png"
        chromium(page, tmp_path / "profile-shot", f"--screenshot={shot}")
        with Image.open(shot) as image:
            grey = image.convert("L").histogram()
        assert sum(grey[:245]) / sum(grey) > 0.03  # panels, lines and text: not a blank page
        if os.environ.get("MLOPS_SCREENSHOTS"):
            Path(os.environ["MLOPS_SCREENSHOTS"]).mkdir(parents=True, exist_ok=True)
            shutil.copy2(shot, Path(os.environ["MLOPS_SCREENSHOTS"]) / shot.name)
    finally:
        ui.terminate()
        ui.wait(timeout=30)


# --------------------------------------------------------------------------- the loop, end to end

SHIFT_SCALE, SHIFT_SDS = 2.0, 2.0  # the shifted replay: every feature doubled and moved two standard deviations


def replay(port: int, rows: list[dict], request: str, batch: int = 10) -> list:
    """POST the rows to /predict through the proxy, `batch` rows per request with X-Request-ID
    `<request>n`; the predictions, in order. The app captures each row as `<request>n-<row index>`."""
    predictions = []
    for n, start in enumerate(range(0, len(rows), batch)):
        body = json.dumps({"records": rows[start:start + batch]}).encode()
        call = urllib.request.Request(f"http://127.0.0.1:{port}/predict", body, method="POST",
                                      headers={"Content-Type": "application/json", "X-Request-ID": f"{request}{n}"})
        with urllib.request.urlopen(call, timeout=30) as response:
            predictions += json.loads(response.read())["predictions"]
    return predictions


def record_ids(request: str, rows: int, batch: int = 10) -> list[str]:
    return [f"{request}{i // batch}-{i % batch}" for i in range(rows)]


def test_monitoring_loop_end_to_end(environment, images, docker_base, tmp_path, request, monkeypatch):  # noqa: F811
    env, project = environment, images.project
    params = yaml.safe_load((project / "params.yaml").read_text())
    target = params["data"]["target"]
    schema = json.loads((project / "build/model/input_schema.json").read_text())["columns"]
    names = [c["name"] for c in schema]
    data = pd.read_csv(project / params["data"]["path"])
    github = {"GITHUB_ACTIONS": "true", "GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": REPO, "GITHUB_API_URL": env.api_url,
              "GITHUB_REF_NAME": "main", "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}

    def run(*args: str) -> str:  # a workflow step: the CLI in the project, with the environment's settings
        variables = {**env.settings(), **github, "MONITOR_ENVIRONMENT": ENVIRONMENT,  # as monitor.yml sets them
                     "PYTHONPATH": "src", "DO_NOT_TRACK": "1", "MLFLOW_TRACKING_URI": ""}
        result = sh(sys.executable, "-m", images.package, *args, cwd=project, env=variables, check=False, timeout=600)
        assert result.returncode == 0, f"{args}: {result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        return result.stdout

    def collected(since: str, rows: int) -> dict:
        """`collect --environment` until the app's writers have flushed all `rows` records of the window."""
        deadline = time.monotonic() + 60
        while True:
            run("collect", "--environment", ENVIRONMENT, "--since", since)
            summary = json.loads((project / "reports/collect.json").read_text())
            if summary["rows"] >= rows or time.monotonic() > deadline:
                return summary
            time.sleep(2)

    def api() -> dict:
        return json.loads(env.api_state.read_text())

    result = env.deploy(images.tags["v1"], 1, **FAST)
    assert result.returncode == 0, result.stdout + result.stderr
    assert serving(env.listen) == 1
    # Another stack's capture volume on the same swarm, with a record of today: collect never reads it.
    other = f"{env.stack}x-capture"

    def remove_other() -> None:
        subprocess.run(["docker", "rm", "--force", other], capture_output=True)
        subprocess.run(["docker", "volume", "rm", "--force", f"{env.stack}x_capture"], capture_output=True)

    request.addfinalizer(remove_other)
    sh("docker", "run", "-d", "--name", other, "--network", "none", "-v", f"{env.stack}x_capture:/var/lib/capture",
       docker_base, "sh", "-c", "mkdir -p /var/lib/capture/$(date -u +%F) && echo '{}' > "
       "/var/lib/capture/$(date -u +%F)/predictions-x-1-0.jsonl && sleep 900")

    # 1. Demo rows through the proxy: captured, collected from the stack's volume, no drift.
    steady = data.sample(150, random_state=1)
    since = dt.datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    replay(env.listen, steady[names].to_dict("records"), "steady")
    summary = collected(since, len(steady))
    assert summary["rows"] == len(steady) and summary["broken"] == 0 and summary["duplicates"] == 0, summary
    assert summary["unparsable_lines"] == 0 and f"{env.stack}x_capture" not in summary["source"], summary
    assert f"capture volumes of {ENVIRONMENT}:" in summary["source"] and f"{env.stack}_capture" in summary["source"]
    # The volume was streamed by a short-lived container: nothing left behind but the app's own tasks.
    left = sh("docker", "ps", "-a", "--filter", f"volume={env.stack}_capture", "--format", "{{.Names}}").stdout.split()
    assert left and all(name.startswith(f"{env.stack}_app.") for name in left), left
    batch = pd.read_csv(project / "data/production/current.csv")
    assert sorted(batch["record_id"]) == sorted(record_ids("steady", len(steady)))
    assert set(batch["model_version"].astype(str)) == {"1"}
    run("monitor")
    report = json.loads((project / "reports/monitor.json").read_text())
    assert report["status"] == "ok" and report["rows"] == len(steady), report
    assert report["drift"]["dataset_drift"] is False, report["drift"]
    # monitor.yml's last step: the history (Evidently workspace, watermark) goes to the DVC remote (a team's bucket).
    sh("dvc", "remote", "add", "--default", "storage", str(tmp_path / "dvc-remote"), cwd=project)
    run("monitor-history", "push")

    # From here monitor.yml itself runs under act (tests/act), dispatched for the shifted window, in a copy of
    # the repository with only what git holds and the DVC remote: the settings job finds the environment's
    # Docker hosts; the monitor job pulls the history, collects the stack's capture volume over the deploy's SSH
    # access (the loopback sshd, bridged into act's network namespace), joins the labels, reports and pushes
    # the history; the alert job opens or updates the issue on the fake GitHub API (the environment stub's
    # state, which the Loopback shares) and dispatches retraining when there are new labelled rows.
    act_compatible(project)
    loop = Loopback(env.api_state.parent, repo=REPO, bridges=(env.host.port,))
    loop.install(monkeypatch, act_binary())
    store = tmp_path / "act-store"
    act_env = {"CI_PREINSTALLED": "true", "PYTHONPATH": "src", "MLFLOW_TRACKING_URI": "", "DO_NOT_TRACK": "1",
               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # the venv has it all
    variables = env.settings()  # the GitHub Environment's variables, and its secret
    secrets = {"DEPLOY_SSH_KEY": variables.pop("DEPLOY_SSH_KEY")}

    def monitor_yml(since: str, labelled: int):
        init_git_repo(project)
        done = run_act(project, "workflow_dispatch", act_events.workflow_dispatch({"since": since}),
                       workflow=".github/workflows/monitor.yml", store_dir=store, secrets=secrets,
                       variables=variables, timeout=900, env={**act_env, "GITHUB_API_URL": loop.api_url})
        assert done.ok and done.jobs == {"settings": "success", "monitor": "success", "alert": "success"}, \
            f"{done.jobs}\n{done.log[-8000:]}"
        assert done.outputs["settings"]["source"]["configured"] == "true"
        assert done.outputs["monitor"]["monitor"] == {
            "status": "ok", "traffic": "true", "alert": "true", "labelled-rows": str(labelled)}
        (found,) = (store / "artifacts" / str(done.run_id) / "monitoring-report").rglob("monitor.json")
        report = json.loads(found.read_text())
        assert report["rows"] == len(shifted) and report["labelled"] == report["new_labelled_rows"] == labelled
        assert f"capture volumes of {ENVIRONMENT}:" in report["source"] and f"{env.stack}_capture" in report["source"]
        assert report["drift"]["dataset_drift"] is True, report["drift"]
        assert "**data drift: share of drifted columns" in done.summaries["monitor"], done.summaries["monitor"]
        assert f"| with a label | {labelled} ({100 * labelled // len(shifted)} %) |" in done.summaries["monitor"]
        return done, report

    # 2. The shifted replay: mostly benign rows, every feature scaled and offset; drift, and one issue.
    shifted = pd.concat([data[data[target] == "benign"].sample(120, random_state=2),
                         data[data[target] == "malignant"].sample(30, random_state=2)])
    moved = shifted.copy()
    for column in names:
        moved[column] = shifted[column] * SHIFT_SCALE + SHIFT_SDS * data[column].std()
    since = dt.datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    predicted = replay(env.listen, moved[names].to_dict("records"), "shifted")
    wrong = sum(p != t for p, t in zip(predicted, shifted[target], strict=True))
    assert wrong >= len(shifted) // 2, f"the champion is wrong on only {wrong} of {len(shifted)} shifted rows"
    summary = collected(since, len(shifted))  # the app's writers have flushed the window
    assert summary["rows"] == len(shifted) and summary["broken"] == 0, summary
    monitored, report = monitor_yml(since, 0)
    assert report["history"]["snapshots"] == 2, report["history"]  # the first window's, from the remote, and this
    state = api()
    (issue,) = state["issues"]
    assert issue["title"] == "Production monitoring: drift or accuracy drop" and state.get("dispatches", []) == []
    alert_log = monitored.job_log("alert")
    assert f"; no retraining (no new labelled rows); opened issue #{issue['number']}" in alert_log, alert_log[-3000:]

    # 3. Labels for the shifted rows (their true classes; the champion is wrong on most), committed where a team
    #    drops them: monitor.yml finds the accuracy drop, updates the same issue and dispatches retraining.
    ids = record_ids("shifted", len(shifted))
    (project / "data/labels").mkdir(parents=True, exist_ok=True)
    (project / "data/labels/shifted.csv").write_text(f"record_id,{target}\n" + "".join(
        f"{i},{label}\n" for i, label in zip(ids, shifted[target], strict=True)))
    monitored, report = monitor_yml(since, len(shifted))
    assert report["performance"]["below"] is True, report["performance"]
    assert report["history"]["snapshots"] == 4, report["history"]  # and this run's drift and performance
    assert "under the gate's threshold" in monitored.summaries["monitor"]
    alert_log = monitored.job_log("alert")
    assert "; started retrain.yml on main; updated issue #" + str(issue["number"]) in alert_log, alert_log[-3000:]
    state = api()
    assert len(state["issues"]) == 1 and len(state["comments"]) == 1
    (dispatch,) = state["dispatches"]
    assert dispatch["workflow"] == "retrain.yml"
    assert dispatch["inputs"]["reason"] == f"monitoring: {len(shifted)} new labelled production row(s)"

    # 4. retrain.yml under act, dispatched as monitor.yml's alert job dispatched it, in the same copy: its
    #    monitor-history pull brings production's labelled rows (which monitor.yml's monitor-history push left
    #    on the DVC remote), add-current appends them, the pipeline and the gate run, and the candidate is
    #    proposed in a pull request whose data diff is those rows.
    before = (project / params["data"]["path"]).read_bytes()
    retrain = run_act(project, "workflow_dispatch", act_events.workflow_dispatch(dispatch["inputs"]),
                      workflow=".github/workflows/retrain.yml", store_dir=store, timeout=900, env=act_env)
    assert retrain.ok and retrain.jobs == {"train": "success", "propose": "success"}, \
        f"{retrain.jobs}\n{retrain.log[-8000:]}"
    added = json.loads((store / "artifacts" / str(retrain.run_id) / "candidate/reports/added.json").read_text())
    # The demo's labelled current batch (drift.current) joins too, before production's rows.
    assert added["from_production"] == len(shifted), added
    assert added["added"] == added["from_current"] + len(shifted), added
    (pull,) = [json.loads(p.read_text()) for p in sorted((store / "pulls").glob("*.json"))]
    assert pull["head"] == "promote/champion" and pull["base"] == "main" and "promotion" in pull["labels"]
    assert f"**+{added['added']} labelled row(s)** joined the training data: {len(shifted)} from production" \
        in pull["body"]
    patch = (store / "pulls/1.patch").read_text(errors="replace")
    data_diff = patch.split(f"diff --git a/{params['data']['path']}", 1)[1].split("\ndiff --git", 1)[0]
    changed = [line for line in data_diff.splitlines()[4:] if line[:1] in "+-" and not line.startswith("+++")]
    assert len(changed) == added["added"] and all(line.startswith("+") for line in changed)  # appended only
    appended = pd.read_csv(io.StringIO("\n".join(line[1:] for line in changed)), header=None,
                           names=list(data.columns)).tail(len(shifted))
    assert sorted(appended[target]) == sorted(shifted[target])
    pd.testing.assert_frame_equal(  # the shifted values, as captured, with their labels
        appended.sort_values(names[0]).reset_index(drop=True)[names],
        moved.sort_values(names[0]).reset_index(drop=True)[names], check_exact=False, rtol=1e-9)

    # 5. After the merge (the pull request's commit on main, as GitHub's button would): the new champion
    #    exported and built into the image as container.yml does (the project's Dockerfile, offline from the
    #    wheels the v1 image was built with), then deployed.
    git = ["git", "-C", str(project), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    sh(*git, "am", "-q", str(store / "pulls/1.patch"))
    assert (project / params["data"]["path"]).read_bytes().startswith(before)
    champion = json.loads((project / "champion.json").read_text())
    run("export")
    retrained = f"{images.repository}:model-retrained"
    sh("docker", "build", "--force-rm", "--network", "host", "--build-arg", f"BASE_IMAGE={docker_base}",
       "-t", retrained, str(project))
    try:
        result = env.deploy(retrained, champion["version"], **FAST)
        assert result.returncode == 0, result.stdout + result.stderr
        with urllib.request.urlopen(f"http://127.0.0.1:{env.listen}/metadata", timeout=10) as response:
            served = json.loads(response.read())
        assert served["run_id"] == champion["run_id"] != "deploy-test"
        right = sum(p == t for p, t in zip(replay(env.listen, moved[names].to_dict("records"), "after"),
                                            shifted[target], strict=True))
        assert right >= 0.9 * len(shifted), f"the new champion is right on {right} of {len(shifted)} shifted rows"
    finally:
        sh("docker", "image", "rm", "--force", retrained, check=False)
