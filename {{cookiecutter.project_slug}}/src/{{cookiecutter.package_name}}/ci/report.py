"""The pipeline report, for a pull-request comment and the job summary: data here, layout in templates/report*.md.j2.

It reads what the stages wrote (data checks; at level 1 and above metrics, the verdict, drift and the
plots' data), never reruns anything, and says what is missing. Values from the data or the PR go
through markdown.py (as code: no Markdown, HTML or @-mentions). A comment cannot embed files, so the
plots' key numbers are tables and the PNGs sit in the report's folder (artifact.py).
"""

from __future__ import annotations

import math
from pathlib import Path

from .. import paths, reporting
from ..config import DIRECTION
from ..errors import PipelineError
from . import plot_tables
from .artifact import bundle, own_folder, read_json
from .markdown import (
    COMMENT_LIMIT,
    MARKER,
    PACKAGE,
    SUMMARY_LIMIT,
    code,
    icon,
    number,
    parse_pr_number,
    plain,
    run_links,
    truncate,
)

LEVEL = int("{{ cookiecutter.mlops_level }}")
MAX_FAILURES = 30  # data-check failure rows in the table; the HTML report has them all
MAX_DRIFT_ROWS = 10
MAX_CLASSES = 12  # a larger confusion matrix or per-class table is left to the PNG and plots/per_class.json
MAX_FEATURES = 10
FORMAT = {"code": code, "number": number, "icon": icon, "plain": plain, "paths": paths}  # what templates call


# --------------------------------------------------------------------------- the sections' data


def data_check(summary: dict | None) -> dict | None:
    """reports/data_check.json: per file, passed and the failed rules; the first failures."""
    if summary is None:
        return None
    files = [{"name": name, "passed": bool(r.get("passed")) if isinstance(r, dict) else False,
              "failures": r.get("failures", 0) if isinstance(r, dict) else "?"}
             for name, r in (summary.get("files") or {}).items()]
    failures = [{**(f if isinstance(f, dict) else {"rule": f}),
                 "examples_text": ", ".join(str(e) for e in ((f.get("examples") if isinstance(f, dict) else None)
                                                            or [])[:5])}
                for f in summary.get("failures") or []]
    return {"passed": bool(summary.get("passed")), "files": files, "failures": failures[:MAX_FAILURES],
            "failed": len(failures), "more": max(0, len(failures) - MAX_FAILURES)}


def _champions_of(gate: dict | None, base_ref: str | None, params: dict) -> list[tuple[str, dict]]:
    if gate is not None:
        return [(str(c.get("source", "champion")), c.get("metrics") or {}) for c in gate.get("champions") or []
                if isinstance(c, dict)]
    if not base_ref:
        return []
    from ..stages.gate import champions_at  # the gate did not run: find the base branch's champion ourselves

    try:
        return champions_at(params, base_ref)[0]
    except PipelineError:  # no such ref: the report says there is no champion rather than failing
        return []


def _delta(metric: str, candidate: object, champion: object) -> dict | None:
    """candidate minus champion, and whether that is better (None: not two numbers)."""
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (candidate, champion)):
        return None
    diff = candidate - champion
    return {"diff": diff, "same": abs(diff) < 5e-5, "better": diff * DIRECTION.get(metric, 1) > 0}


def metrics(metrics: dict | None, gate: dict | None, params: dict, base_ref: str | None) -> dict:
    """The candidate against each champion, each metric's bounds, and the gate's verdict."""
    if metrics is None and gate is not None:
        metrics = gate.get("candidate")
    settings = params.get("gate", {})
    thresholds = (gate or {}).get("thresholds") or settings.get("thresholds") or {}
    max_drop = (gate or {}).get("max_drop", settings.get("max_drop"))
    champions = [] if metrics is None else _champions_of(gate, base_ref or settings.get("base_ref"), params)
    rows = []
    for metric in [m for m in thresholds if m in (metrics or {})] + sorted(m for m in metrics or {}
                                                                           if m not in thresholds):
        bounds = thresholds.get(metric)
        limits = [f"{key} {bounds[key]}" for key in ("min", "max") if isinstance(bounds, dict) and key in bounds]
        rows.append({"metric": metric, "gated": metric in thresholds, "value": metrics[metric],
                     "champions": [{"value": c.get(metric), "delta": _delta(metric, metrics[metric], c.get(metric))}
                                   for _, c in champions],
                     "bounds": ", ".join(limits + ([f"max drop {max_drop}"] if isinstance(bounds, dict)
                                                   and max_drop is not None else []))})
    stale = gate is not None and isinstance(gate.get("candidate"), dict) and gate["candidate"] != metrics
    return {"ran": metrics is not None, "rows": rows, "champions": [source for source, _ in champions],
            "incomparable": [i for i in (gate or {}).get("incomparable") or [] if isinstance(i, dict)],
            "gate": gate, "stale": stale}


def _severity(column: dict) -> float:
    """How far past (or short of) its threshold a column's drift score is; larger is more drift."""
    score, threshold = column.get("score"), column.get("threshold")
    if not isinstance(score, (int, float)) or not isinstance(threshold, (int, float)) or threshold <= 0:
        return 0.0
    if "p_value" in str(column.get("method", "")):
        return threshold / score if score > 0 else math.inf
    return score / threshold


def drift(summary: dict | None) -> dict | None:
    """reports/drift.json: the verdict and the columns that drifted most (or came closest)."""
    if summary is None:
        return None
    columns = [c for c in summary.get("columns") or [] if isinstance(c, dict)]
    drifted = sum(bool(c.get("drifted")) for c in columns)
    rows = summary.get("sampled_rows") or {}
    return {"detected": bool(summary.get("dataset_drift")), "drifted": drifted, "columns": len(columns),
            "share": summary.get("drift_share", 0), "threshold": summary.get("share_threshold"),
            "current": summary.get("current", "?"),
            "current_rows": rows.get("current", summary.get("current_rows", "?")),
            "reference_rows": rows.get("reference", summary.get("reference_rows", "?")),
            "stand_in": str(summary.get("note", "")).startswith("no current batch"),
            "top": sorted(columns, key=lambda c: (not c.get("drifted"), -_severity(c)))[:MAX_DRIFT_ROWS]}


def _drift_headline(data: dict | None) -> str:
    if data is None:
        return "drift ⚠️ not run"
    return f"drift {'⚠️ detected' if data['detected'] else '✅ none'} ({data['drifted']}/{data['columns']} columns)"


def added(summary: dict | None) -> dict | None:
    """reports/added.json: the labelled rows `add-current` appended, production's apart (None: none added)."""
    if not summary or not summary.get("added"):
        return None
    return {key: int(summary.get(key) or 0) for key in ("added", "from_production", "from_current")}


def model_card(text: str | None) -> str | None:
    """The candidate's model card without its title, its headings one level down, to fold into the report."""
    if not text:
        return None
    return "\n".join(("##" + line) if line.startswith("#") else line for line in text.strip().splitlines()[1:]).strip()


# --------------------------------------------------------------------------- the whole report


def gather(params: dict, *, level: int = LEVEL, out_dir: Path | None = None, pr_number: int | None = None,
           base_ref: str | None = None, artifact: str = "pr-report", env: dict | None = None) -> dict:
    """Everything the report says, as plain data. With out_dir, also copies the files worth opening there."""
    bundled = bundle(out_dir, level) if out_dir is not None else []
    check = data_check(read_json(paths.DATA_CHECK))
    verdict = "not run" if check is None else "passed" if check["passed"] else f"failed ({check['failed']} rule(s))"
    headline = f"data checks {'⚠️' if check is None else icon(check['passed'])} {verdict}"
    data = {"marker": MARKER, "model_name": params.get("mlflow", {}).get("model_name") or PACKAGE,
            "pr_number": pr_number,
            "links": run_links(env), "level": level, "check": check, "artifact": artifact,
            "listed": [n for n in bundled if not n.startswith("plots/")],
            "plot_count": sum(n.startswith("plots/") for n in bundled), "headlines": [headline],
            "registration": None, "run_info": None, "max_classes": MAX_CLASSES, "max_features": MAX_FEATURES}
    if level >= 1:
        data["metrics"] = metrics(read_json(paths.METRICS), read_json(paths.VERDICT), params, base_ref)
        data["drift"] = drift(read_json(paths.DRIFT))
        gate = data["metrics"]["gate"]
        data["headlines"] = [("gate ⚠️ not run" if gate is None else
                              f"gate {icon(bool(gate.get('passed')))} {'passed' if gate.get('passed') else 'failed'}"),
                             headline, _drift_headline(data["drift"])]
        data["plots"] = plot_tables.tables(params["task"], MAX_CLASSES)
        data["images"] = ([p.as_posix() for p in sorted(paths.PLOTS.glob("*.png"))] if out_dir is None else
                          [n for n in bundled if n.startswith("plots/") and n.endswith(".png")])
        data["in_folder"] = out_dir is not None
        data["added"] = added(read_json(paths.ADDED))
        data["card"] = model_card(paths.MODEL_CARD.read_text() if paths.MODEL_CARD.is_file() else None)
        data["registration"] = read_json(paths.REGISTRATION)
        data["run_info"] = read_json(paths.RUN_INFO) if data["registration"] is None else None
    data["headlines"] = [h[:1].upper() + h[1:] for h in data["headlines"]]
    return data


def build(params: dict, **options: object) -> str:
    """The whole report as Markdown (untruncated); options as for `gather`."""
    return reporting.render("report.md", **gather(params, **options), **FORMAT)


def write(params: dict, out: Path = paths.REPORT_DIR, *, pr_number: object = None, summary_path: str | None = None,
          base_ref: str | None = None, level: int = LEVEL, env: dict | None = None) -> dict:
    """The `report` command: into the folder `out`, report.md (cut to the comment limit), pr-number, the
    files worth opening; and the job summary."""
    pr = parse_pr_number(pr_number, "--pr-number") if pr_number not in (None, "") else None
    folder = Path(out)
    own_folder(folder)
    full = build(params, level=level, out_dir=folder, pr_number=pr, base_ref=base_ref, artifact=folder.name,
                 env=env)
    comment, cut = truncate(full, COMMENT_LIMIT, "characters", "comment")
    (folder / paths.REPORT).write_text(comment)
    if cut:
        (folder / paths.FULL_REPORT).write_text(full)
    if pr is not None:
        (folder / paths.PR_NUMBER_FILE).write_text(f"{pr}\n")
    summary_written = False
    if summary_path:
        summary = Path(summary_path)
        room = SUMMARY_LIMIT - (summary.stat().st_size if summary.is_file() else 0)
        if room > 1024:
            text, _ = truncate(full + "\n", room, "bytes", "job summary")
            with summary.open("a", encoding="utf-8") as handle:
                handle.write(text)
            summary_written = True
    return {"out": str(folder / paths.REPORT), "characters": len(comment), "truncated": cut, "pr_number": pr,
            "summary": summary_written}
