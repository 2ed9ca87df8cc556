"""reports/data_check.html: the data-check summary (reports/data_check.json) as one self-contained page.

Every rule checked with its result, rows, class balance and a per-column summary for each file;
failures and findings with their CSV line numbers. Inline CSS only: it opens offline, as an
artifact or from MLflow.
"""

from __future__ import annotations

from html import escape

STYLE = """
:root{--ok:#1a7f37;--bad:#cf222e;--warn:#9a6700;--muted:#57606a;--line:#d0d7de;--soft:#f6f8fa}
*{box-sizing:border-box}
body{font:14px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1f2328;margin:0}
main{max-width:1200px;margin:0 auto;padding:24px}
h1{font-size:26px;margin:0 0 4px}h3{font-size:15px;margin:20px 0 6px}
h2{font-size:20px;margin:32px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
.meta{color:var(--muted);margin:0}.note{color:var(--muted);font-size:13px}
.badge{display:inline-block;border-radius:12px;padding:1px 10px;font-size:13px;font-weight:600;color:#fff;
vertical-align:middle}
.pass{background:var(--ok)}.fail{background:var(--bad)}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.card{border:1px solid var(--line);border-radius:8px;padding:12px 16px;min-width:260px}.card b{font-size:15px}
.card dl{display:grid;grid-template-columns:auto auto;gap:0 16px;margin:8px 0 0}.card dt{color:var(--muted)}
.card dd{margin:0;text-align:right;font-variant-numeric:tabular-nums}
table{border-collapse:collapse;width:100%;margin:6px 0}
th,td{border:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}th{background:var(--soft)}
td.n{text-align:right;font-variant-numeric:tabular-nums}code{font-size:12.5px}
.chip{display:inline-block;border-radius:4px;padding:0 6px;margin:1px 2px;font-size:12px;border:1px solid}
.chip.passed{color:var(--ok);border-color:#aceebb;background:#dafbe1}
.chip.failed{color:var(--bad);border-color:#ffcecb;background:#ffebe9}
.chip.finding{color:var(--warn);border-color:#f5e0a0;background:#fff8c5}
.bar{background:var(--soft);border-radius:3px;height:14px;min-width:160px}
.bar span{display:block;height:14px;border-radius:3px;background:#0969da}
"""
ICON = {"passed": "✓", "failed": "✗", "finding": "!"}


def _badge(passed: bool, text: str | None = None) -> str:
    text = text or ("passed" if passed else "failed")
    return f"<span class='badge {'pass' if passed else 'fail'}'>{escape(text)}</span>"


def _problems(title: str, rows: list[dict], note: str) -> str:
    if not rows:
        return ""
    body = "".join(
        f"<tr><td><code>{escape(r['file'])}</code></td><td><code>{escape(r['column'] or '(dataset)')}</code></td>"
        f"<td><code>{escape(r['rule'])}</code></td><td class=n>{r['count']}</td>"
        f"<td>{escape(_lines(r))}</td><td>{escape(', '.join(repr(e) for e in r.get('examples') or []))}"
        f"{'<br>' if r.get('examples') and r.get('detail') else ''}{escape(r.get('detail') or '')}</td></tr>"
        for r in rows)
    return (f"<h2>{escape(title)} ({len(rows)})</h2><p class=note>{escape(note)}</p><table><tr><th>file</th>"
            "<th>column</th><th>rule</th><th>count</th><th>CSV lines</th><th>values</th></tr>" + body + "</table>")


def _lines(row: dict) -> str:
    lines = row.get("lines") or []
    if not lines:
        return "—"
    shown = ", ".join(map(str, lines[:20]))
    return shown + (f" … ({row['count'] - 20} more)" if row["count"] > 20 else "")


def _chips(rules: list[dict]) -> str:
    return "".join(
        f"<span class='chip {r['result']}' title='{escape(r['kind'])}: {escape(r['result'])}"
        f"{' (' + str(r['count']) + ')' if r['count'] else ''}'>{ICON[r['result']]} {escape(r['rule'])}"
        f"{' ' + str(r['count']) if r['count'] else ''}</span>"
        for r in rules)


def _summary(entry: dict) -> str:
    if "min" in entry:
        return " · ".join(f"{k} {entry[k]:.4g}" for k in ("min", "median", "mean", "max"))
    top = entry.get("top") or {}
    more = " …" if entry.get("distinct", 0) > len(top) else ""
    return ", ".join(f"{escape(k)} ({v})" for k, v in top.items()) + more


def _balance(counts: dict) -> str:
    total = sum(counts.values()) or 1
    rows = "".join(
        f"<tr><td><code>{escape(label)}</code></td><td class=n>{n}</td><td class=n>{n / total:.1%}</td>"
        f"<td><div class=bar><span style='width:{100 * n / total:.1f}%'></span></div></td></tr>"
        for label, n in counts.items())
    header = "<tr><th>label</th><th>rows</th><th>share</th><th></th></tr>"
    return f"<h3>Class balance</h3><table>{header}{rows}</table>"


def _file(name: str, entry: dict) -> str:
    role = "training data" if entry.get("role") == "training" else "current batch"
    parts = [f"<h2><code>{escape(name)}</code> · {role} {_badge(entry['passed'])}</h2>"]
    if entry.get("note"):
        parts.append(f"<p class=note>Distribution {escape(entry['note'])}.</p>")
    if entry.get("class_balance"):
        parts.append(_balance(entry["class_balance"]))
    rules = entry.get("rules") or []
    dataset = [r for r in rules if not r["column"]]
    parts.append("<h3>Rules on the whole file</h3><p>" + _chips(dataset) + "</p>")
    summary = entry.get("column_summary") or {}
    columns = list(summary) + [c for c in dict.fromkeys(r["column"] for r in rules if r["column"]) if c not in summary]
    body = []
    for column in columns:
        stats = summary.get(column, {})
        body.append(
            f"<tr><td><code>{escape(column)}</code></td><td>{escape(stats.get('dtype', '—'))}</td>"
            f"<td class=n>{stats.get('missing', '—')}</td><td class=n>{stats.get('distinct', '—')}</td>"
            f"<td>{_summary(stats) if stats else 'not in the file'}</td>"
            f"<td>{_chips([r for r in rules if r['column'] == column])}</td></tr>")
    parts.append("<h3>Columns</h3><table><tr><th>column</th><th>dtype</th><th>missing</th><th>distinct</th>"
                 "<th>summary</th><th>rules (✓ passed, ✗ failed, ! finding)</th></tr>" + "".join(body) + "</table>")
    return "".join(parts)


def render(summary: dict) -> str:
    passed = summary["passed"]
    files = summary["files"]
    verdict = "passed" if passed else f"failed ({len(summary['failures'])} rule(s))"
    cards = "".join(
        f"<div class=card><b><code>{escape(name)}</code></b> {_badge(entry['passed'])}<dl>"
        f"<dt>role</dt><dd>{escape(entry.get('role', ''))}</dd><dt>rows</dt><dd>{entry.get('rows', '—')}</dd>"
        f"<dt>columns</dt><dd>{entry.get('columns', '—')}</dd>"
        f"<dt>rules checked</dt><dd>{sum(r['kind'] == 'contract' for r in entry.get('rules', []))}</dd>"
        f"<dt>failed</dt><dd>{entry['failures']}</dd><dt>findings</dt><dd>{entry.get('findings', 0)}</dd></dl></div>"
        for name, entry in files.items())
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width, initial-scale=1'>"
        f"<title>Data checks {escape(verdict)}</title><style>{STYLE}</style></head><body><main>"
        f"<h1>Data checks {_badge(passed, verdict)}</h1>"
        f"<p class=meta>Contract: <code>{escape(summary.get('schema', ''))}</code> · {len(files)} file(s) · "
        "line numbers count the CSV header as line 1</p>"
        f"<div class=cards>{cards}</div>"
        + _problems("Failures", summary["failures"], "Contract violations: they stop the pipeline until fixed.")
        + _problems("Findings", summary.get("findings", []),
                    "The data's distribution, compared with the training data: reported, never a failure. "
                    "The drift report measures the same shift.")
        + "".join(_file(name, entry) for name, entry in files.items())
        + "</main></body></html>\n"
    )
