"""reports/data_check.html: the data-check summary (reports/data_check.json) as one self-contained page.

Every rule checked with its result, rows, class balance and a per-column summary for each file;
failures and findings with their CSV line numbers. `page` gathers the data and
templates/data_check.html.j2 lays it out, with inline CSS only: it opens offline, as an artifact or
from MLflow.
"""

from __future__ import annotations

from .. import reporting

ICONS = {"passed": "✓", "failed": "✗", "finding": "!"}


def _problem(row: dict) -> dict:
    return {**row, "examples_text": ", ".join(repr(e) for e in row.get("examples") or [])}


def page(summary: dict) -> dict:
    """What the page shows, from the summary `write_report` wrote: per file its cards, balance, rules and columns."""
    files = []
    for name, entry in summary["files"].items():
        rules = entry.get("rules") or []
        stats = entry.get("column_summary") or {}
        named = list(stats) + [c for c in dict.fromkeys(r["column"] for r in rules if r["column"]) if c not in stats]
        counts = entry.get("class_balance") or {}
        total = sum(counts.values()) or 1
        files.append({**entry, "name": name, "role": entry.get("role", ""), "rows": entry.get("rows", "—"),
                      "columns": entry.get("columns", "—"), "findings": entry.get("findings", 0),
                      "note": entry.get("note"), "contract_rules": sum(r["kind"] == "contract" for r in rules),
                      "balance": [(label, n, n / total) for label, n in counts.items()],
                      "dataset_rules": [r for r in rules if not r["column"]],
                      "column_rows": [{"name": c, "stats": stats.get(c, {}),
                                       "rules": [r for r in rules if r["column"] == c]} for c in named]})
    passed = summary["passed"]
    return {"passed": passed, "verdict": "passed" if passed else f"failed ({len(summary['failures'])} rule(s))",
            "schema": summary.get("schema", ""), "files": files, "icons": ICONS,
            "failures": [_problem(r) for r in summary["failures"]],
            "findings": [_problem(r) for r in summary.get("findings", [])]}


def render(summary: dict) -> str:
    return reporting.render("data_check.html", **page(summary))
