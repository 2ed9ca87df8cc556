"""The monitor summary (reports/monitor.json): where it is, reading it back, and its one-line verdict.

Only the standard library: the alert job, which holds the write token, installs no pipeline extras.
"""

from __future__ import annotations

from pathlib import Path

from .errors import PipelineError
from .paths import MONITOR as JSON
from .paths import read


def read_summary(path: str | Path = JSON) -> dict:
    summary = read(path, "run `monitor` first")
    if not isinstance(summary, dict) or "status" not in summary:
        raise PipelineError(f"{path}: expected the `monitor` command's summary (no status)")
    return summary


def verdict(summary: dict) -> str:
    """One line: no traffic, alerts, or all well."""
    if summary["status"] == "no traffic":
        window = summary["window"]
        return f"no traffic: no captured records from {window['since'] or 'the start'} to {window['until']}"
    if summary["status"] == "too few rows":
        return f"too few records to judge: {summary['rows']} in the window"
    if summary["alerts"]:
        return "; ".join(summary["alerts"])
    perf = summary.get("performance")
    tail = f"; {perf['metric']} {perf['value']} on {perf['rows']} labelled rows" if perf else "; no labels yet"
    return f"no drift in {summary['rows']} records (share {summary['drift']['drift_share']:.2f}){tail}"
