"""The pipeline report: Markdown for a pull-request comment and the job summary, from the pipeline's outputs.

It reads what the stages wrote (data checks; at level 1 and above also metrics, the gate's verdict,
drift and the evaluation plots' data), never reruns anything, and says plainly what is missing. A
comment cannot embed files, so the plots' key numbers are tables here and the PNGs are in the report's
folder. Values that come from the data or the PR (column names, labels, file names) are shown as code,
so they cannot inject Markdown, HTML or @-mentions. The text is cut to GitHub's limits at a line
boundary, with a note.

Only the standard library is imported at module level: the comment poster (comment.py) reuses the
marker and the truncation without pulling in the pipeline's dependencies.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import shutil
from collections import Counter
from pathlib import Path

from ..errors import PipelineError

LEVEL = int("{{ cookiecutter.mlops_level }}")
PACKAGE = __name__.split(".")[0]
# Hidden first line of the comment: the poster finds its own comment by it and updates it in place.
MARKER = f"<!-- {PACKAGE}-report -->"
COMMENT_LIMIT = 65_536  # characters in an issue or PR comment body
SUMMARY_LIMIT = 1024 * 1024  # bytes of $GITHUB_STEP_SUMMARY per step
DEFAULT_OUT = Path("pr-report")  # the report's own folder: report.md and the files worth opening
REPORT = "report.md"
PR_NUMBER_FILE = "pr-number"  # beside the report: the PR the poster comments on
FULL_REPORT = "report-full.md"  # written beside the report when the comment had to be cut
OWNER = ".report-folder"  # marks a folder `report` made, which it may empty and rewrite

DATA_CHECK = Path("reports/data_check.json")
DATA_CHECK_HTML = Path("reports/data_check.html")
METRICS = Path("metrics/metrics.json")  # config.METRICS (not imported: this module imports the standard library only)
GATE = Path("reports/gate.json")
DRIFT = Path("reports/drift.json")
DRIFT_HTML = Path("reports/drift.html")
MODEL_CARD = Path("reports/model_card.md")  # config.MODEL_CARD; written by the card stage (stages/card.py)
REGISTRATION = Path("reports/registration.json")
MODEL = Path("models/model.joblib")
RUN_INFO = Path("models/run.json")
PLOTS = Path("plots")  # evaluate's PNGs and the data they draw (plots.py)
CONFUSION = PLOTS / "confusion.csv"
PREDICTIONS = PLOTS / "predictions.csv"
PER_CLASS = PLOTS / "per_class.json"
IMPORTANCE = PLOTS / "importance.csv"

MAX_FAILURES = 30  # data-check failure rows in the table; the HTML report has them all
MAX_DRIFT_ROWS = 10
MAX_CLASSES = 12  # a larger confusion matrix or per-class table is left to the PNG and plots/per_class.json
MAX_FEATURES = 10
CELL = 60  # characters of an untrusted value shown in a table cell
PR_NUMBER = re.compile(r"[1-9][0-9]{0,9}")
REPO = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


# --------------------------------------------------------------------------- small helpers


def parse_pr_number(value: object, source: str = "PR number") -> int:
    """A positive integer, or PipelineError. The value may come from an untrusted artifact."""
    text = str(value).strip() if value is not None else ""
    if not PR_NUMBER.fullmatch(text) or int(text) > 2**31 - 1:
        shown = text[:40] + ("..." if len(text) > 40 else "")
        raise PipelineError(f"{source}: expected a positive integer, got {shown!r}")
    return int(text)


def code(value: object, limit: int = CELL) -> str:
    """An untrusted value as inline code that is safe in a table cell."""
    text = " ".join(str(value).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    text = text.replace("`", "'").replace("|", "\\|")
    return f"`{text}`" if text else "` `"


def number(value: object, digits: int = 4) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return code(value) if value is not None else "–"
    return f"{value:.{digits}f}"


def _read_json(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PipelineError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PipelineError(f"{path}: expected a JSON object")
    return data


def _icon(ok: bool) -> str:
    return "✅" if ok else "❌"


def run_links(env: dict | None = None) -> dict[str, str]:
    """URLs of this workflow run and its artifacts, from the variables GitHub Actions sets."""
    env = os.environ if env is None else env
    server = env.get("GITHUB_SERVER_URL", "").rstrip("/")
    repo = env.get("GITHUB_REPOSITORY", "")
    run_id = env.get("GITHUB_RUN_ID", "")
    if not (re.fullmatch(r"https?://[^\s/]+", server) and REPO.fullmatch(repo) and run_id.isdigit()):
        return {}
    run = f"{server}/{repo}/actions/runs/{run_id}"
    return {"run": run, "artifacts": f"{run}#artifacts", "repo": f"{server}/{repo}"}


# --------------------------------------------------------------------------- truncation


def _size(text: str, unit: str) -> int:
    return len(text.encode()) if unit == "bytes" else len(text)


def truncate(text: str, limit: int, unit: str = "characters", what: str = "comment") -> tuple[str, bool]:
    """Cut `text` at a line boundary so that it, with a closing note, fits `limit`; (text, was_cut).

    The note says how much was left out and where the full report is, so a reader knows.
    """
    if _size(text, unit) <= limit:
        return text, False

    def note(left_out: int) -> str:
        return (
            f"\n\n> [!WARNING]\n> Truncated to fit GitHub's limit for a {what} ({limit:,} {unit}): "
            f"{left_out:,} {unit} left out. The full report is `{FULL_REPORT}` in the run's artifacts.\n"
        )

    total = _size(text, unit)
    budget = limit - _size(note(total), unit)
    if budget <= 0:
        raise ValueError(f"limit {limit} is too small for the truncation note")
    kept, used = [], 0
    for line in text.splitlines(keepends=True):
        size = _size(line, unit)
        if used + size > budget:
            if not kept:  # one huge first line: cut inside it
                kept.append(line.encode()[:budget].decode(errors="ignore") if unit == "bytes" else line[:budget])
            break
        kept.append(line)
        used += size
    body = "".join(kept).rstrip("\n")
    return body + note(total - _size(body, unit)), True


# --------------------------------------------------------------------------- sections


def data_check_section(summary: dict | None) -> tuple[str, str]:
    """(headline, section) for reports/data_check.json."""
    if summary is None:
        return "data checks ⚠️ not run", (
            f"### Data checks\n\n⚠️ No data-check report (`{DATA_CHECK}`): the `check` stage did not run.\n"
        )
    passed = bool(summary.get("passed"))
    files = summary.get("files") or {}
    failures = summary.get("failures") or []
    headline = f"data checks {_icon(passed)} {'passed' if passed else f'failed ({len(failures)} rule(s))'}"
    lines = ["### Data checks", ""]
    lines.append(f"{_icon(passed)} **{'Passed' if passed else 'Failed'}** for {len(files)} file(s).")
    lines += ["", "| file | result | failed rules |", "|---|---|---:|"]
    for name, result in files.items():
        ok = bool(result.get("passed")) if isinstance(result, dict) else False
        count = result.get("failures", 0) if isinstance(result, dict) else "?"
        lines.append(f"| {code(name)} | {_icon(ok)} | {number(count, 0) if isinstance(count, int) else code(count)} |")
    if failures:
        lines += ["", "| file | column | rule | count | examples |", "|---|---|---|---:|---|"]
        for failure in failures[:MAX_FAILURES]:
            failure = failure if isinstance(failure, dict) else {"rule": failure}
            examples = ", ".join(str(e) for e in (failure.get("examples") or [])[:5])
            count = failure.get("count")
            lines.append(
                f"| {code(failure.get('file', ''))} | {code(failure.get('column') or '(dataset)')} "
                f"| {code(failure.get('rule', ''))} | {count if isinstance(count, int) else code(count)} "
                f"| {code(examples, 2 * CELL)} |"
            )
        if len(failures) > MAX_FAILURES:
            lines.append(f"\n…and {len(failures) - MAX_FAILURES} more failure(s): see `data_check.html`.")
    return headline, "\n".join(lines) + "\n"


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


def _delta(metric: str, candidate: object, champion: object, direction: dict) -> str:
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (candidate, champion)):
        return "–"
    diff = candidate - champion
    if abs(diff) < 5e-5:
        return "±0"
    better = diff * direction.get(metric, 1) > 0
    return f"{diff:+.4f} {'🟢 better' if better else '🔴 worse'}"


def _bounds(metric: str, gate_params: dict, max_drop: object) -> str:
    bounds = gate_params.get(metric)
    if not isinstance(bounds, dict):
        return ""
    parts = [f"{key} {bounds[key]}" for key in ("min", "max") if key in bounds]
    if max_drop is not None:
        parts.append(f"max drop {max_drop}")
    return ", ".join(parts)


def metrics_section(metrics: dict | None, gate: dict | None, params: dict, base_ref: str | None) -> tuple[str, str]:
    """(headline, section): the candidate against each champion, the gate's verdict and reasons."""
    lines = ["### Metrics: candidate vs champion", ""]
    if metrics is None and gate is not None:
        metrics = gate.get("candidate")
    if metrics is None:
        lines.append(f"⚠️ No metrics (`{METRICS}`): the pipeline stopped before the `evaluate` stage.")
        return "gate ⚠️ not run", "\n".join(lines) + "\n" + _verdict_lines(None, stale=False)
    from ..config import DIRECTION as direction  # +1: higher is better (config imports nothing heavy)

    thresholds = (gate or {}).get("thresholds") or params.get("gate", {}).get("thresholds") or {}
    max_drop = (gate or {}).get("max_drop", params.get("gate", {}).get("max_drop"))
    champions = _champions_of(gate, base_ref or params.get("gate", {}).get("base_ref"), params)
    header = "| metric | candidate |"
    rule = "|---|---:|"
    for source, _ in champions:
        header += f" champion ({code(source, 40)}) | Δ |"
        rule += "---:|---|"
    header += " gate |"
    rule += "---|"
    lines += [header, rule]
    gated = [m for m in thresholds if m in metrics]
    for metric in gated + sorted(m for m in metrics if m not in thresholds):
        value = metrics[metric]
        name = f"**{code(metric)}**" if metric in thresholds else code(metric)
        row = f"| {name} | {number(value)} |"
        for _, champion in champions:
            row += f" {number(champion.get(metric))} | {_delta(metric, value, champion.get(metric), direction)} |"
        row += f" {_bounds(metric, thresholds, max_drop)} |"
        lines.append(row)
    lines.append("")
    incomparable = [item for item in (gate or {}).get("incomparable") or [] if isinstance(item, dict)]
    if champions:
        lines.append("Δ is candidate minus champion; gated metrics are in bold.")
    elif incomparable:
        lines.append("**No comparable champion**, so no regression check:")
    else:
        lines.append(f"No champion yet: no `champion.json` or `{METRICS}` committed on the base branch.")
    if champions and incomparable:
        lines.append("\nNot compared:")
    for item in incomparable:
        lines.append(f"- {code(item.get('source', 'champion'), 80)}: {_plain(item.get('reason', 'no reason given'))}")
    if gate is None:
        lines.append(f"\n⚠️ The gate did not run, so these may be the metrics committed in `{METRICS}` "
                     "rather than this run's.")
    stale = gate is not None and isinstance(gate.get("candidate"), dict) and gate["candidate"] != metrics
    verdict = _verdict_lines(gate, stale)
    if gate is None:
        headline = "gate ⚠️ not run"
    else:
        headline = f"gate {_icon(bool(gate.get('passed')))} {'passed' if gate.get('passed') else 'failed'}"
    return headline, "\n".join(lines) + "\n\n" + verdict


def _verdict_lines(gate: dict | None, stale: bool) -> str:
    lines = ["### Gate verdict", ""]
    if gate is None:
        lines.append(f"⚠️ No verdict (`{GATE}`): the `gate` stage did not run.")
        return "\n".join(lines) + "\n"
    passed = bool(gate.get("passed"))
    lines.append(f"{_icon(passed)} **{'Passed' if passed else 'Failed'}**" +
                 ("" if passed else ": the candidate is not registered."))
    for reason in gate.get("reasons") or []:
        lines.append(f"- {_plain(reason)}")
    if stale:
        lines.append(f"\n⚠️ The verdict is for other metrics than `{METRICS}`: rerun the gate.")
    return "\n".join(lines) + "\n"


def _plain(text: object, limit: int = 500) -> str:
    """Prose from our own outputs that may quote data: neutralise Markdown, HTML and mentions."""
    text = " ".join(str(text).split())[:limit]
    text = re.sub(r"([\\`*_{}\[\]<>#|~!])", r"\\\1", text)
    return text.replace("@", "@\u200b")


def _severity(column: dict) -> float:
    """How far past (or short of) its threshold a column's drift score is; larger is more drift."""
    score, threshold = column.get("score"), column.get("threshold")
    if not isinstance(score, (int, float)) or not isinstance(threshold, (int, float)) or threshold <= 0:
        return 0.0
    if "p_value" in str(column.get("method", "")):
        return threshold / score if score > 0 else math.inf
    return score / threshold


def drift_section(drift: dict | None) -> tuple[str, str]:
    lines = ["### Drift", ""]
    if drift is None:
        lines.append(f"⚠️ No drift summary (`{DRIFT}`): the `drift` stage did not run.")
        return "drift ⚠️ not run", "\n".join(lines) + "\n"
    columns = [c for c in drift.get("columns") or [] if isinstance(c, dict)]
    drifted = sum(bool(c.get("drifted")) for c in columns)
    share, threshold = drift.get("drift_share", 0), drift.get("share_threshold")
    detected = bool(drift.get("dataset_drift"))
    summary = (f"{drifted} of {len(columns)} columns drifted "
               f"(share {number(share, 2)}, threshold {number(threshold, 2)})")
    headline = f"drift {'⚠️ detected' if detected else '✅ none'} ({drifted}/{len(columns)} columns)"
    lines.append(f"{'⚠️ **Dataset drift**' if detected else '✅ **No dataset drift**'}: {summary}.")
    rows = drift.get("sampled_rows") or {}
    lines.append(
        f"Current batch {code(drift.get('current', '?'))} ({rows.get('current', drift.get('current_rows', '?'))} rows) "
        f"against the training split ({rows.get('reference', drift.get('reference_rows', '?'))} rows)."
    )
    if str(drift.get("note", "")).startswith("no current batch"):
        lines.append("No current batch is configured: the held-out test split stands in for it.")
    top = sorted(columns, key=lambda c: (not c.get("drifted"), -_severity(c)))[:MAX_DRIFT_ROWS]
    if top:
        title = "Top drifted columns" if drifted else "No column drifted; the closest to their thresholds"
        lines += ["", f"{title}:", "", "| column | test | score | threshold | drifted |", "|---|---|---:|---:|---|"]
        for column in top:
            lines.append(
                f"| {code(column.get('column', ''))} | {code(column.get('method', ''), 30)} "
                f"| {number(column.get('score'))} | {number(column.get('threshold'), 3)} "
                f"| {'⚠️ yes' if column.get('drifted') else 'no'} |"
            )
        if drifted > len(top):
            lines.append(f"\n…and {drifted - len(top)} more drifted column(s): see `drift.html`.")
        lines.append("\nScore: a p-value for statistical tests (drift below the threshold), a distance otherwise "
                     "(drift above it).")
    return headline, "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- the evaluation plots


def _rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _float(value: object) -> float | None:
    try:
        result = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) else None


def _label_key(label: str) -> tuple:
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def confusion_table(pairs: list[tuple[str, str]]) -> tuple[list[str], Counter]:
    labels = sorted({a for a, _ in pairs} | {p for _, p in pairs}, key=_label_key)
    return labels, Counter(pairs)


def _confusion_lines(rows: list[dict[str, str]]) -> list[str]:
    pairs = [(row.get("actual", ""), row.get("predicted", "")) for row in rows]
    labels, counts = confusion_table(pairs)
    lines = ["### Confusion matrix (test split)", ""]
    if len(labels) <= MAX_CLASSES:
        lines.append("| actual ↓ / predicted → | " + " | ".join(code(label, 30) for label in labels) + " |")
        lines.append("|---|" + "---:|" * len(labels))
        for actual in labels:
            cells = [f"**{counts[(actual, p)]}**" if actual == p else str(counts[(actual, p)]) for p in labels]
            lines.append(f"| {code(actual, 30)} | " + " | ".join(cells) + " |")
    else:
        lines.append(f"{len(labels)} classes: too many for a table here (`plots/confusion.png`).")
    correct = sum(v for (a, p), v in counts.items() if a == p)
    return lines + [f"\n{correct} of {len(pairs)} test rows predicted correctly."]


def _per_class_lines(table: dict) -> list[str]:
    """Per-class metrics, with what the ROC, precision-recall and calibration curves sum up."""
    rows = [(label, v) for label, v in table.items() if isinstance(v, dict)]
    lines = ["### Per class (test split)", "",
             "| class | precision | recall | F1 | support | ROC AUC | avg precision | Brier |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for label, v in rows[:MAX_CLASSES]:
        support = v.get("support")
        lines.append(f"| {code(label, 30)} | {number(v.get('precision'))} | {number(v.get('recall'))} "
                     f"| {number(v.get('f1'))} | {support if isinstance(support, int) else code(support)} "
                     f"| {number(v.get('roc_auc'))} | {number(v.get('average_precision'))} "
                     f"| {number(v.get('brier'))} |")
    if len(rows) > MAX_CLASSES:
        lines.append(f"\n…and {len(rows) - MAX_CLASSES} more classes: see `plots/per_class.json`.")
    two = len(rows) == 2
    lines.append(f"\nThe curves, one-vs-rest {'for the positive class' if two else 'per class'}: ROC AUC is the "
                 "area under the ROC curve (1 ranks every positive first, 0.5 is chance); avg precision sums up "
                 "the precision-recall curve; Brier is the mean squared error of the predicted probability "
                 "(0 is perfect), which the calibration curve breaks down by probability.")
    return lines


def _residual_lines(rows: list[dict[str, str]]) -> list[str]:
    residuals = [a - p for a, p in ((_float(r.get("actual")), _float(r.get("predicted"))) for r in rows)
                 if a is not None and p is not None]
    if not residuals:
        return []
    mean = sum(residuals) / len(residuals)
    spread = math.sqrt(sum((r - mean) ** 2 for r in residuals) / len(residuals))
    lines = ["### Residuals (test split)", "",
             f"{len(residuals)} rows: mean residual {mean:.3f}, standard deviation {spread:.3f}, "
             f"largest absolute {max(abs(r) for r in residuals):.3f}.",
             "", "| residual (actual − predicted) | rows |", "|---|---|"]
    low, high = min(residuals), max(residuals)
    bins = 8
    width = (high - low) / bins or 1.0
    counts = Counter(min(int((r - low) / width), bins - 1) for r in residuals)
    peak = max(counts.values())
    for b in range(bins):
        start = low + b * width
        lines.append(f"| {start:.2f} to {start + width:.2f} | {'█' * round(20 * counts[b] / peak)} {counts[b]} |")
    return lines


def _importance_lines(rows: list[dict[str, str]], metric: str) -> list[str]:
    ranked = [(row.get("feature", ""), _float(row.get("importance")), _float(row.get("std"))) for row in rows]
    ranked = sorted((r for r in ranked if r[1] is not None), key=lambda r: -r[1])
    if not ranked:
        return []
    lines = ["### Feature importance (permutation, test split)", "",
             f"How much {code(metric)} drops when one column is shuffled (mean ± standard deviation over "
             "a few seeded shuffles); near zero: the model barely uses it.", "",
             "| feature | drop | ± |", "|---|---:|---:|"]
    for feature, importance, spread in ranked[:MAX_FEATURES]:
        lines.append(f"| {code(feature)} | {number(importance)} | {number(spread)} |")
    if len(ranked) > MAX_FEATURES:
        lines.append(f"\nTop {MAX_FEATURES} of {len(ranked)} columns; all of them in `plots/importance.csv`.")
    return lines


def plot_section(task: str, links: dict, artifact: str | None, images: list[str]) -> str:
    """Tables of what evaluate's plots show, and where their PNGs are (a comment cannot embed a file)."""
    lines: list[str] = []
    if task == "classification":
        if rows := _rows(CONFUSION):
            lines += _confusion_lines(rows)
        if (table := _read_json(PER_CLASS)) is not None:
            lines += ["", *_per_class_lines(table)]
    elif rows := _rows(PREDICTIONS):
        lines += _residual_lines(rows)
    lines += ["", *_importance_lines(_rows(IMPORTANCE), "f1_macro" if task == "classification" else "r2")]
    if images:
        names = ", ".join(f"`{name}`" for name in images)
        if artifact is None:
            lines.append(f"\nThe plots as images: {names}.")
        elif links:
            lines.append(f"\nThe plots as images: {names} in the `{artifact}` artifact of "
                         f"[this run]({links['artifacts']}).")
        else:
            lines.append(f"\nThe plots as images: {names} in the report's folder.")
    return "\n".join(lines).strip("\n") + "\n" if any(lines) else ""


# --------------------------------------------------------------------------- links and the whole report


def model_card_section(text: str | None) -> str:
    """The candidate's model card, folded: its headings one level down, inside the report."""
    if not text:
        return ""
    body = "\n".join(("##" + line) if line.startswith("#") else line for line in text.strip().splitlines()[1:])
    return ("<details><summary><b>Model card</b>: intended use, training data, metrics with intervals, slices, "
            "limitations, lineage</summary>\n\n" + body.strip() + "\n\n</details>\n")


def links_section(links: dict, artifact: str, bundled: list[str], level: int) -> str:
    lines = ["### Links", ""]
    plots = sum(name.startswith("plots/") for name in bundled)
    listed = [f"`{name}`" for name in bundled if not name.startswith("plots/")]
    listed += [f"`plots/` ({plots} files: the PNGs and the data they draw)"] if plots else []
    if links:
        lines.append(f"- Workflow run: {links['run']}")
        lines.append(f"- Artifacts ({links['artifacts']}): `{artifact}` holds {', '.join(listed) or 'the report'}.")
    else:
        lines.append("- Built outside GitHub Actions: no run to link to." +
                     (f" Files beside the report: {', '.join(listed)}." if listed else ""))
    if level >= 1 and (registration := _read_json(REGISTRATION)) is not None:
        lines.append(f"- Model: registered as {code(registration.get('model_name', '?'))} version "
                     f"{code(registration.get('version', '?'))} (`@challenger`), MLflow run "
                     f"{code(registration.get('run_id', '?'))}.")
    elif level >= 1 and (run_info := _read_json(RUN_INFO)) is not None:
        lines.append(f"- Model: MLflow run {code(run_info.get('run_id', '?'))} (not registered).")
    return "\n".join(lines) + "\n"


def bundle(out_dir: Path, level: int) -> list[str]:
    """Copy the reports worth opening, the plots and the model into the report's folder, for the artifact."""
    files = [(DATA_CHECK_HTML, "data_check.html"), (DATA_CHECK, "data_check.json")]
    if level >= 1:
        files += [(DRIFT_HTML, "drift.html"), (DRIFT, "drift.json"), (GATE, "gate.json"), (METRICS, "metrics.json"),
                  (MODEL_CARD, "model_card.md"),
                  (MODEL, "model/model.joblib"), (RUN_INFO, "model/run.json")]
        files += [(path, f"plots/{path.name}") for path in sorted(PLOTS.glob("*"))
                  if path.is_file() and not path.name.startswith(".")]  # not DVC's .gitignore
    copied = []
    for source, name in files:
        if source.is_file():
            (out_dir / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, out_dir / name)
            copied.append(name)
    return copied


def build(
    params: dict,
    *,
    level: int = LEVEL,
    out_dir: Path | None = None,
    pr_number: int | None = None,
    base_ref: str | None = None,
    artifact: str = "pr-report",
    env: dict | None = None,
) -> str:
    """The whole report as Markdown (untruncated). With out_dir, also copies the files worth opening there."""
    links = run_links(env)
    bundled = bundle(out_dir, level) if out_dir is not None else []
    headlines, sections = [], []
    headline, section = data_check_section(_read_json(DATA_CHECK))
    if level >= 1:
        gate_headline, metrics = metrics_section(_read_json(METRICS), _read_json(GATE), params, base_ref)
        drift_headline, drift = drift_section(_read_json(DRIFT))
        headlines += [gate_headline, headline, drift_headline]
        if out_dir is None:
            images = [path.as_posix() for path in sorted(PLOTS.glob("*.png"))]
        else:
            images = [name for name in bundled if name.startswith("plots/") and name.endswith(".png")]
        plot = plot_section(params["task"], links, None if out_dir is None else artifact, images)
        card = model_card_section(MODEL_CARD.read_text() if MODEL_CARD.is_file() else None)
        sections += [metrics, card, drift, plot, section]
    else:
        headlines.append(headline)
        sections.append(section)
    name = params.get("mlflow", {}).get("model_name") or PACKAGE
    title = f"## Pipeline report: {code(name, 80)}" + (f" for PR #{pr_number}" if pr_number else "")
    top = [MARKER, title, "", "**" + " · ".join(h[:1].upper() + h[1:] for h in headlines) + "**", ""]
    if links:
        top.append(f"[Workflow run]({links['run']}) · [artifacts]({links['artifacts']})")
        top.append("")
    body = "\n".join(top) + "\n" + "\n".join(s for s in sections if s)
    return body + "\n" + links_section(links, artifact, bundled, level)


def own_folder(folder: Path) -> None:
    """Make `folder` the report's own: a new or empty folder, or one an earlier `report` made (emptied).

    Anything else is refused, so `--out ~` or `--out src` never mixes the report into a user's files.
    """
    if folder.suffix.lower() == ".md":
        raise PipelineError(f"--out {folder}: give the report's folder; {REPORT} is written inside it")
    if folder.exists() and not folder.is_dir():
        raise PipelineError(f"--out {folder}: exists and is not a folder")
    if folder.is_dir() and not (folder / OWNER).is_file() and any(folder.iterdir()):
        raise PipelineError(f"--out {folder}: the folder holds files that `report` did not write; "
                            "give a new or empty folder")
    if folder.is_dir():
        for child in folder.iterdir():  # an earlier report's files: none may outlive this run
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / OWNER).write_text(f"Written by `python -m {PACKAGE} report`, which empties this folder on every run.\n")


def write(
    params: dict,
    out: Path = DEFAULT_OUT,
    *,
    pr_number: object = None,
    summary_path: str | None = None,
    base_ref: str | None = None,
    level: int = LEVEL,
    env: dict | None = None,
) -> dict:
    """The `report` command: into the folder `out`, report.md (cut to the comment limit), pr-number, the
    files worth opening; and the job summary."""
    pr = parse_pr_number(pr_number, "--pr-number") if pr_number not in (None, "") else None
    folder = Path(out)
    own_folder(folder)
    full = build(params, level=level, out_dir=folder, pr_number=pr, base_ref=base_ref, artifact=folder.name,
                 env=env)
    comment, cut = truncate(full, COMMENT_LIMIT, "characters", "comment")
    (folder / REPORT).write_text(comment)
    if cut:
        (folder / FULL_REPORT).write_text(full)
    if pr is not None:
        (folder / PR_NUMBER_FILE).write_text(f"{pr}\n")
    summary_written = False
    if summary_path:
        summary = Path(summary_path)
        used = summary.stat().st_size if summary.is_file() else 0
        room = SUMMARY_LIMIT - used
        if room > 1024:
            text, _ = truncate(full + "\n", room, "bytes", "job summary")
            with summary.open("a", encoding="utf-8") as handle:
                handle.write(text)
            summary_written = True
    return {"out": str(folder / REPORT), "characters": len(comment), "truncated": cut, "pr_number": pr,
            "summary": summary_written}
