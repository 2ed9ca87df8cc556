"""The monitoring loop's history, as a person looks at it: Evidently's own UI over the workspace that
`monitor` fills, in headless Chromium (offline: no host name resolves, only loopback answers).

A level-2 classification project monitors three windows of captured predictions (tests/capture_files.py
writes them as the app does): two steady, then a shifted one whose labels say the model is wrong. Each
`monitor` run adds its snapshots; `evidently ui` (the tracking stack's `evidently` service runs the same)
then serves one project with 4 snapshots, and its dashboard draws the panels over time. Set
MLOPS_SCREENSHOTS=DIR to keep the screenshot.

`collect --environment` reads the capture volume of an environment's swarm over the deploy's SSH access,
against the deploy tests' loopback sshd and one-node swarm on the local engine.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from act.loopback import free_port
from capture_files import UTC, write_capture
from PIL import Image
from test_deploy import ssh_host, swarm  # noqa: F401 (fixtures: the loopback sshd, the one-node swarm behind it)

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
        message = "no chromium (Debian package `chromium`; .ci/run installs it)"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
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


def test_collect_reads_the_capture_volume_of_an_environments_swarm(rendered, tmp_path, ssh_host,  # noqa: F811
                                                                    swarm, docker_base):  # noqa: F811
    """`collect --environment` over the deploy's SSH access to the swarm manager: the environment's stack's
    named volume, streamed by a short-lived container of the app's image that mounts it read-only, against
    the loopback sshd and one-node swarm of the deploy tests. Another stack's capture volume is not read."""
    _, rendered_project = rendered("2", "classification")
    project = tmp_path / rendered_project.name
    shutil.copytree(rendered_project, project)
    environment = f"mtmon{os.urandom(3).hex()}"
    stack = f"{project.name}-{environment}"  # deploy.name(environment)
    volume, app = f"{stack}_capture", f"{environment}-app"  # a stack's volume is <stack>_capture
    data = pd.read_csv(project / "data/raw/breast_cancer.csv")
    files = tmp_path / "written"
    start = dt.datetime(2026, 11, 2, 10, tzinfo=UTC)
    rows = data.drop(columns=["diagnosis"]).head(80)
    write_capture(files, rows, list(data["diagnosis"].head(80)), start, "req", pid=7)
    try:
        subprocess.run(["docker", "volume", "create", volume], check=True, capture_output=True)
        # "The app": a container of the base image with the capture volume where the image's CAPTURE_DIR points.
        subprocess.run(["docker", "run", "-d", "--name", app, "--network", "none", "-v", f"{volume}:/var/lib/capture",
                        docker_base, "sleep", "600"], check=True, capture_output=True)
        subprocess.run(["docker", "cp", f"{files}/.", f"{app}:/var/lib/capture/"], check=True, capture_output=True)
        # Another environment's stack on the same swarm, with a captured record of its own: not read.
        subprocess.run(["docker", "run", "-d", "--name", f"{app}-other", "--network", "none", "-v",
                        f"{stack}x_capture:/var/lib/capture", docker_base, "sh", "-c",
                        "mkdir -p /var/lib/capture/2026-11-02 && echo '{}' > /var/lib/capture/2026-11-02/p.jsonl"
                        " && sleep 600"], check=True, capture_output=True)
        env = {**os.environ, "PYTHONPATH": "src", "DO_NOT_TRACK": "1", "DEPLOY_HOST": "127.0.0.1",
               "DEPLOY_USER": ssh_host.user, "DEPLOY_SSH_PORT": str(ssh_host.port),
               "DEPLOY_KNOWN_HOSTS": ssh_host.known_hosts, "DEPLOY_SSH_KEY": ssh_host.key}
        result = subprocess.run([sys.executable, "-m", project.name.replace("-", "_"), "collect", "--environment",
                                 environment, "--since", "2026-11-02T00:00:00Z"], cwd=project, env=env,
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stdout + result.stderr
        collected = json.loads((project / "reports/collect.json").read_text())
        assert collected["rows"] == 80 and collected["broken"] == 0 and collected["unparsable_lines"] == 0
        assert collected["source"].startswith(f"capture volumes of {environment}:") and volume in collected["source"]
        batch = pd.read_csv(project / "data/production/current.csv")
        assert list(batch["record_id"]) == [f"req-{i}" for i in range(80)]
        # The stream was read-only and short-lived: nothing left behind but the app itself.
        left = subprocess.run(["docker", "ps", "-a", "--filter", f"volume={volume}", "--format", "{{.Names}}"],
                              capture_output=True, text=True).stdout.split()
        assert left == [app]
    finally:
        subprocess.run(["docker", "rm", "--force", app, f"{app}-other"], capture_output=True)
        subprocess.run(["docker", "volume", "rm", "--force", volume, f"{stack}x_capture"], capture_output=True)
