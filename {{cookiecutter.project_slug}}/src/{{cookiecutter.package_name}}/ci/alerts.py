"""Drift alerts: the verdict from reports/drift.json, and on drift, retraining plus one open issue.

`drift-summary` only reads the report: it prints the verdict, sets the step outputs `drift` and
`share`, and puts the drift table in the job summary. `drift-alert` acts on it through GitHub's
REST API with $GITHUB_TOKEN: when the current batch carries new labelled rows it starts the retraining
workflow (workflow_dispatch), which adds them to the training data; without labels a retrain would
learn nothing new, so the issue asks for them instead. Either way it opens the drift issue, or
comments on the one already open, so repeated alerts stay in one place. Without drift it does
nothing. Only the standard library; HTTP goes through the one GitHub client (github.py).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from ..errors import PipelineError
from ..paths import DRIFT
from . import actions
from .github import GitHub
from .markdown import PACKAGE, code, number, plain, run_links
from .report import drift_section

MARKER = f"<!-- {PACKAGE}-drift -->"  # hidden first line of the issue: finds it again
LABEL = "drift"
TITLE = "Data drift detected"
WORKFLOW = "retrain.yml"
WORKFLOW_FILE = re.compile(r"[A-Za-z0-9_.-]+\.ya?ml")
REF = re.compile(r"[A-Za-z0-9_./-]+")


def read_summary(path: Path | str = DRIFT) -> dict:
    """The drift summary the `drift` command wrote."""
    path = Path(path)
    try:
        summary = json.loads(path.read_text())
    except FileNotFoundError:
        raise PipelineError(f"{path}: not found; run the drift stage first (`dvc repro drift`)") from None
    except json.JSONDecodeError as exc:
        raise PipelineError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(summary, dict) or not isinstance(summary.get("dataset_drift"), bool):
        raise PipelineError(f"{path}: expected the `drift` command's summary (no boolean dataset_drift)")
    return summary


def verdict(summary: dict) -> str:
    share, threshold = summary.get("drift_share"), summary.get("share_threshold")
    state = "dataset drift detected" if summary["dataset_drift"] else "no dataset drift"
    return f"{state}: share of drifted columns {number(share, 2)} (threshold {number(threshold, 2)})"


def summarize(path: Path | str = DRIFT, env: dict | None = None) -> dict:
    """The `drift-summary` command: the verdict as text, step outputs and a job-summary table."""
    summary = read_summary(path)
    actions.set_outputs({"drift": str(summary["dataset_drift"]).lower(), "share": summary.get("drift_share", "")}, env)
    actions.add_summary(drift_section(summary)[1], env)
    return summary


NEEDS_LABELS = ("No retraining was started: the current batch has no labelled rows that the training data "
                "lacks, so a retrain would learn nothing new. Fill in the target column of the current batch "
                "(README, \"Retraining on new data\") and retraining starts on the next drift run.")


def _requested(dispatched: str | None, again: bool = False) -> str:
    if not dispatched:
        return NEEDS_LABELS
    return (f"Retraining was requested{' again' if again else ''}: {code(dispatched)}. It adds the current "
            "batch's labelled rows to the training data; a candidate that passes the gate is proposed for "
            "promotion in a pull request.")


def issue_body(summary: dict, dispatched: str | None, env: dict | None = None) -> str:
    links = run_links(env)
    where = f"[the drift run]({links['run']})" if links else "the drift run"
    lines = [MARKER, f"{verdict(summary).capitalize()}, found by {where}.", "", _requested(dispatched), "",
             drift_section(summary)[1],
             "Close this issue once the drift is understood; the next alert opens a new one."]
    return "\n".join(lines)


def comment_body(summary: dict, dispatched: str | None, env: dict | None = None) -> str:
    links = run_links(env)
    where = f"[this run]({links['run']})" if links else "a later run"
    return (f"{MARKER}\nStill drifting according to {where}: {verdict(summary)}. "
            f"{_requested(dispatched, again=True)}\n\n{drift_section(summary)[1]}")


def find_issue(client: GitHub, label: str = LABEL) -> dict | None:
    """The open drift issue: it carries the label and starts with our marker (pull requests excluded)."""
    for issue in client.open_issues(label):
        if str(issue.get("body") or "").lstrip().startswith(MARKER):
            return issue
    return None


def alert(
    path: Path | str = DRIFT,
    *,
    workflow: str = WORKFLOW,
    ref: str | None = None,
    label: str = LABEL,
    labelled_rows: int | None = None,
    env: dict | None = None,
) -> dict:
    """The `drift-alert` command. Returns what was done: action none, or the dispatch and the issue."""
    env = os.environ if env is None else env
    summary = read_summary(path)
    if not summary["dataset_drift"]:
        return {"action": "none", "verdict": verdict(summary)}
    ref = ref or env.get("GITHUB_REF_NAME") or "main"
    if not WORKFLOW_FILE.fullmatch(workflow):
        raise PipelineError(f"--workflow: expected a workflow file name such as {WORKFLOW}, got {workflow!r}")
    if not REF.fullmatch(ref) or ".." in ref:
        raise PipelineError(f"--ref: not a branch name: {ref!r}")
    client = GitHub.from_env(env, "a token with actions: write and issues: write")
    links = run_links(env)
    reason = f"drift: share {number(summary.get('drift_share'), 2)}" + (f" ({links['run']})" if links else "")
    dispatched = None
    if labelled_rows is None or labelled_rows > 0:  # None: not counted, so let the retrain decide
        client.dispatch(workflow, ref, {"reason": reason})
        dispatched = f"{workflow} on {ref}"
    issue = find_issue(client, label)
    if issue is not None:
        number_ = int(issue["number"])
        client.create_comment(number_, comment_body(summary, dispatched, env))
        action = "updated"
    else:
        created = client.create_issue(TITLE, issue_body(summary, dispatched, env), [label])
        number_ = int(created.get("number", 0))
        action = "opened"
    return {"action": action, "issue": number_, "dispatched": dispatched, "verdict": verdict(summary)}


# --------------------------------------------------------------------------- production monitoring

MONITOR_MARKER = f"<!-- {PACKAGE}-monitor -->"
MONITOR_LABEL = "monitoring"
MONITOR_TITLE = "Production monitoring: drift or accuracy drop"
ASK_LABELS = ("No retraining was started: production has no labelled records that the training data lacks, so "
              "a retrain would learn nothing new. Add labels for the captured records (a `record_id,<target>` "
              "file in the labels folder, docs/monitoring.md); the next run adds them and retrains.")


def monitor_body(summary: dict, verdict_text: str, dispatched: str | None, env: dict | None = None) -> str:
    links = run_links(env)
    where = f"[the monitoring run]({links['run']})" if links else "the monitoring run"
    requested = (f"Retraining was requested: {code(dispatched)}, with the labelled production rows."
                 if dispatched else ASK_LABELS)
    return f"{MONITOR_MARKER}\nFound by {where}: {plain(verdict_text)}.\n\n{requested}\n"


def monitor_alert(summary: dict, verdict_text: str, *, new_labelled_rows: int, workflow: str = WORKFLOW,
                  ref: str | None = None, label: str = MONITOR_LABEL, env: dict | None = None) -> dict:
    """The `monitor-alert` command: on an alert, open the monitoring issue or comment on the open one; with
    new labelled production rows, start retraining. No alert and no new labels: nothing to do."""
    env = os.environ if env is None else env
    alerting = bool(summary.get("alerts"))
    if not alerting and new_labelled_rows <= 0:
        return {"action": "none", "issue": None, "dispatched": None}
    ref = ref or env.get("GITHUB_REF_NAME") or "main"
    if not WORKFLOW_FILE.fullmatch(workflow):
        raise PipelineError(f"--workflow: expected a workflow file name such as {WORKFLOW}, got {workflow!r}")
    if not REF.fullmatch(ref) or ".." in ref:
        raise PipelineError(f"--ref: not a branch name: {ref!r}")
    client = GitHub.from_env(env, "a token with actions: write and issues: write")
    dispatched = None
    if new_labelled_rows > 0:
        client.dispatch(workflow, ref, {"reason": f"monitoring: {new_labelled_rows} new labelled production row(s)"})
        dispatched = f"{workflow} on {ref}"
    if not alerting:
        return {"action": "none", "issue": None, "dispatched": dispatched}
    body = monitor_body(summary, verdict_text, dispatched, env)
    issue = next((i for i in client.open_issues(label)
                  if str(i.get("body") or "").lstrip().startswith(MONITOR_MARKER)), None)
    if issue is not None:
        number_ = int(issue["number"])
        client.create_comment(number_, body)
        action = "updated"
    else:
        number_ = int(client.create_issue(MONITOR_TITLE, body, [label]).get("number", 0))
        action = "opened"
    return {"action": action, "issue": number_, "dispatched": dispatched}
