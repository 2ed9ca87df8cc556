"""Monitoring alerts: on a monitoring alert, one open issue; with new labelled production rows, retraining.

`monitor-alert` acts on the monitor summary (reports/monitor.json) through GitHub's REST API with $GITHUB_TOKEN:
when production has labelled rows that the training data lacks it starts the retraining workflow
(workflow_dispatch), which adds them; without labels a retrain would learn nothing new, so the issue asks for
them instead. On an alert it opens the monitoring issue, or comments on the one already open, so repeated
alerts stay in one place. Only the standard library; HTTP goes through the one GitHub client (github.py), and
the issue's wording is templates/monitor_issue.md.j2.
"""

from __future__ import annotations

import os
import re

from .. import reporting
from ..errors import PipelineError
from ..paths import RETRAIN_WORKFLOW
from .github import GitHub
from .markdown import PACKAGE, code, plain, run_links

WORKFLOW = RETRAIN_WORKFLOW
WORKFLOW_FILE = re.compile(r"[A-Za-z0-9_.-]+\.ya?ml")
REF = re.compile(r"[A-Za-z0-9_./-]+")
MARKER = f"<!-- {PACKAGE}-monitor -->"  # hidden first line of the issue: finds it again
LABEL = "monitoring"
TITLE = "Production monitoring: drift or accuracy drop"


def monitor_body(summary: dict, verdict_text: str, dispatched: str | None, env: dict | None = None) -> str:
    """The issue's (or its comment's) text: what was found, by which run, and whether retraining started."""
    return reporting.render("monitor_issue.md", marker=MARKER, links=run_links(env), verdict=verdict_text,
                            dispatched=dispatched, code=code, plain=plain)


def monitor_alert(summary: dict, verdict_text: str, *, new_labelled_rows: int, workflow: str = WORKFLOW,
                  ref: str | None = None, label: str = LABEL, env: dict | None = None) -> dict:
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
                  if str(i.get("body") or "").lstrip().startswith(MARKER)), None)
    if issue is not None:
        number_ = int(issue["number"])
        client.create_comment(number_, body)
        action = "updated"
    else:
        number_ = int(client.create_issue(TITLE, body, [label]).get("number", 0))
        action = "opened"
    return {"action": action, "issue": number_, "dispatched": dispatched}
