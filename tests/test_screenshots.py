"""What a person opens, as headless Chromium renders it offline: the `dvc plots show` page and
reports/data_check.html of a generated project, neither of them blank.

One level-2 classification project runs `dvc repro evaluate` (check, prepare, train, evaluate) once.
Chromium resolves no host name, so a page that needs a CDN stays empty: the test shows that with DVC's
own CDN page as a control, then shows the generated page (Vega inlined, .dvc/plots/offline.html) drawing
every plot of dvc.yaml. `dvc plots diff main` runs on the same project, reading main's plot data from git.
Screenshots are kept in the test's tmp folder; set MLOPS_SCREENSHOTS=DIR to keep copies.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import unavailable
from PIL import Image

CHROMIUM = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run",
            "--host-resolver-rules=MAP * ~NOTFOUND",  # offline: no host name resolves, so no CDN either
            "--window-size=1280,1800", "--virtual-time-budget=15000"]  # let the page's scripts finish
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
# A page template like DVC's own: its {scripts} are the CDN's <script> tags.
CDN_PAGE = "<!DOCTYPE html><html><head>{scripts}</head><body>{plot_divs}</body></html>"


def chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    binary = shutil.which("chromium")
    if binary is None:
        unavailable("no chromium (Debian package `chromium`; .ci/run installs it)")
    profile.mkdir(parents=True, exist_ok=True)  # a fresh profile per page: nothing cached between them
    result = subprocess.run([binary, *CHROMIUM, f"--user-data-dir={profile}", *args, page.as_uri()],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def drawn(page: Path, profile: Path) -> int:
    """How many Vega views the page drew (Vega-Embed renders each into an element of class `marks`)."""
    return chromium(page, profile, "--dump-dom").stdout.count('class="marks"')


def screenshot(page: Path, out: Path, profile: Path) -> float:
    """Take a screenshot of the page; return the share of its pixels that are not white."""
    chromium(page, profile, f"--screenshot={out}")
    with Image.open(out) as image:
        grey = image.convert("L").histogram()  # pixels per grey level, 0 (black) to 255 (white)
    inked = sum(grey[:245]) / sum(grey)
    if os.environ.get("MLOPS_SCREENSHOTS"):
        Path(os.environ["MLOPS_SCREENSHOTS"]).mkdir(parents=True, exist_ok=True)
        shutil.copy2(out, Path(os.environ["MLOPS_SCREENSHOTS"]) / out.name)
    return inked


def test_plots_page_and_data_check_render_offline(rendered, tmp_path):
    _, template_render = rendered("2", "classification")
    project = tmp_path / "project"
    shutil.copytree(template_render, project)  # the shared render stays as generated
    env = {**os.environ, "PYTHONPATH": "src"}

    def run(*command: str) -> str:
        result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        return result.stdout

    run("git", "init", "-q", "-b", "main")
    run(*GIT, "add", "-A")
    run(*GIT, "commit", "-qm", "generated")
    run(sys.executable, "-m", "dvc", "repro", "evaluate")
    plots = yaml.safe_load((project / "dvc.yaml").read_text())["plots"]

    run(sys.executable, "-m", "dvc", "plots", "show")
    page = project / "dvc_plots/index.html"
    assert "cdn.jsdelivr" not in page.read_text()
    assert drawn(page, tmp_path / "p1") == len(plots)
    assert screenshot(page, tmp_path / "dvc-plots.png", tmp_path / "p2") > 0.05

    # The control: DVC's CDN page, same plots, same offline browser, draws nothing.
    (tmp_path / "cdn.html").write_text(CDN_PAGE)
    run(sys.executable, "-m", "dvc", "plots", "show", "--html-template", str(tmp_path / "cdn.html"),
        "--out", str(tmp_path / "cdn"))
    assert "cdn.jsdelivr" in (tmp_path / "cdn/index.html").read_text()
    assert drawn(tmp_path / "cdn/index.html", tmp_path / "p3") == 0

    # `dvc plots diff main` reads main's plot data from git (it is git-tracked) beside the workspace's.
    run(*GIT, "add", "-A")
    run(*GIT, "commit", "-qm", "pipeline run")
    run(sys.executable, "-m", "dvc", "plots", "diff", "main", "--out", "dvc_plots/diff")
    diff = (project / "dvc_plots/diff/index.html").read_text()
    assert '"rev": "main"' in diff and '"rev": "workspace"' in diff

    data_check = project / "reports/data_check.html"
    assert screenshot(data_check, tmp_path / "data-check.png", tmp_path / "p4") > 0.002
