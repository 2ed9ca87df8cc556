"""Monitoring history: a folder that outlives runs (monitoring.history), kept on the DVC remote.

- `workspace/`: an Evidently workspace. Each `monitor` run adds its snapshots (drift; performance when
  there are labels) to one project, whose dashboard, made with the project, draws them over time in
  `evidently ui --workspace <folder>/workspace`: rows, drift share, drifted columns, accuracy or error,
  label coverage.
- `watermark.json`: where the last monitored collection ended, so the next one starts there.
- `labelled.csv`: every captured record that has a label (`collect --labelled`), which retraining adds
  to the training data (`add-current`) in its own fresh clone.
In CI the folder is pulled from and pushed to the DVC remote (`monitor-history pull|push`), so it
survives fresh clones; on a host it can live on a volume.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import PipelineError
from ..paths import LABELLED_FILE as LABELLED
from ..paths import REMOTE_HISTORY as REMOTE_FOLDER
from ..paths import WATERMARK_FILE as WATERMARK
from ..paths import WORKSPACE_DIR as WORKSPACE

PROJECT = "{{ cookiecutter.project_slug }}: production monitoring"


def _panels(task: str) -> list:
    from evidently.sdk.models import PanelMetric
    from evidently.sdk.panels import counter_panel, line_plot_panel, text_panel

    drift = "evidently:metric_v2:DriftedColumnsCount"
    quality = ([PanelMetric(legend="accuracy", metric="Accuracy", tags=["performance"]),
                PanelMetric(legend="F1", metric="F1Score", tags=["performance"])]
               if task == "classification" else
               [PanelMetric(legend="RMSE", metric="RMSE", tags=["performance"]),
                PanelMetric(legend="MAE", metric="MAE", metric_labels={"value_type": "mean"}, tags=["performance"])])
    return [
        text_panel(title=PROJECT, description="One point per `monitor` run (docs/monitoring.md)"),
        counter_panel(title="Records in the last window", values=[PanelMetric(legend="rows", metric="RowCount",
                                                                              tags=["drift"])], size="half"),
        counter_panel(title="Drift share, last window", size="half",
                      values=[PanelMetric(legend="share", metric=drift, metric_labels={"value_type": "share"})]),
        line_plot_panel(title="Drift share", size="half",
                        values=[PanelMetric(legend="share of drifted columns", metric=drift,
                                            metric_labels={"value_type": "share"})]),
        line_plot_panel(title="Drifted columns", size="half",
                        values=[PanelMetric(legend="drifted columns", metric=drift,
                                            metric_labels={"value_type": "count"})]),
        line_plot_panel(title="Accuracy" if task == "classification" else "Error", size="half", values=quality),
        line_plot_panel(title="Rows", size="half",
                        values=[PanelMetric(legend="rows", metric="RowCount", tags=["drift"])]),
        line_plot_panel(title="Label coverage", size="half",
                        values=[PanelMetric(legend="share of records with a label", metric="MeanValue",
                                            metric_labels={"column": "labelled"})]),
    ]


def open_project(folder: str | Path, task: str):
    """(workspace, project): the monitoring project, created with its dashboard on first use."""
    from evidently.sdk.models import ProjectModel
    from evidently.ui.workspace import Workspace

    path = Path(folder) / WORKSPACE
    path.mkdir(parents=True, exist_ok=True)
    workspace = Workspace(str(path))
    found = [p for p in workspace.list_projects() if p.name == PROJECT]
    if found:
        return workspace, found[0]
    project = workspace.add_project(ProjectModel(name=PROJECT, description="drift and performance per window"))
    for panel in _panels(task):
        project.dashboard.add_panel(panel)
    return workspace, project


def store(folder: str | Path, task: str, snapshots: list, until: str | None) -> dict:
    """Add the run's snapshots to the workspace, then move the watermark to the window's end."""
    workspace, project = open_project(folder, task)
    for snapshot in snapshots:
        workspace.add_run(project.id, snapshot)
    count = len(workspace.list_runs(project.id))
    if until:
        (Path(folder) / WATERMARK).write_text(json.dumps({"until": until}) + "\n")
    return {"workspace": str(Path(folder) / WORKSPACE), "project": str(project.id), "snapshots": count}


def watermark(folder: str | Path) -> str | None:
    """Where the last collection ended, or None before the first."""
    path = Path(folder) / WATERMARK
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())["until"]
    except (ValueError, KeyError, TypeError):
        raise PipelineError(f"{path}: not a watermark (a JSON object with \"until\"); "
                            "delete it to collect everything") from None


def describe(folder: str | Path) -> dict:
    return {"workspace": str(Path(folder) / WORKSPACE), "watermark": watermark(folder)}


def labelled(folder: str | Path) -> Path:
    """The labelled production records (`collect --labelled` writes them)."""
    return Path(folder) / LABELLED


def _remote_url() -> str | None:
    from .. import remote

    name = remote.default()
    if name is None:
        return None
    url = remote.dvc("config", f"remote.{name}.url").stdout.strip()
    return f"{url.rstrip('/')}/{REMOTE_FOLDER}" if url else None


def sync(action: str, folder: str | Path) -> str:
    """Copy the workspace from (pull) or to (push) the DVC remote's storage, through fsspec."""
    import fsspec

    url = _remote_url()
    if url is None:
        return (f"no DVC remote configured: the monitoring history stays in {folder} on this machine "
                "(README, 'Data and models in a DVC remote')")
    fs, root = fsspec.core.url_to_fs(url)
    folder = Path(folder)
    if action == "pull":
        if not fs.exists(root):
            return f"no monitoring history at {url} yet: starting one"
        folder.mkdir(parents=True, exist_ok=True)
        fs.get(root.rstrip("/") + "/", str(folder), recursive=True)
        return f"pulled the monitoring history from {url} to {folder}"
    if not folder.is_dir():
        return f"no monitoring history in {folder}: nothing to push"
    fs.makedirs(root, exist_ok=True)
    fs.put(str(folder).rstrip("/") + "/", root, recursive=True)
    return f"pushed the monitoring history in {folder} to {url}"
