"""The evaluation gate: absolute thresholds from params.yaml, and no regression against the champion.

The champion is found in git at `gate.base_ref`: its champion.json (levels 1 and 2), or else the
metrics committed there (metrics/metrics.json). It is compared only when it was trained for the
same task and target on the same input columns; otherwise the verdict says "no comparable
champion" and why. A base_ref that does not exist is an error, never a silent pass.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

from .. import champion
from ..config import DIRECTION
from ..contract import features_of
from ..errors import CheckFailed, PipelineError
from ..paths import CHAMPION, EVALUATION, METRICS, PARAMS, SCHEMA, VERDICT


def _show(ref: str, path: str) -> str | None:
    shown = champion.git("show", f"{ref}:{path}")
    return shown.stdout if shown.returncode == 0 else None


def resolve(base_ref: str) -> None:
    """Fail with exit 2 when `base_ref` is not a commit: a typo must not switch the regression check off."""
    if champion.git("rev-parse", "--verify", "--quiet", base_ref + "^{commit}").returncode == 0:
        return
    if champion.git("rev-parse", "--is-inside-work-tree").returncode != 0:
        raise PipelineError("not a git repository: the gate finds the champion in git at gate.base_ref "
                            "(git init and commit first, as the README's quick start does)")
    branches = champion.git("branch", "--all", "--format=%(refname:short)").stdout.split()
    raise PipelineError(f"git ref '{base_ref}' (gate.base_ref in params.yaml, or --base-ref) does not exist, so "
                        f"the champion cannot be found; refs here: {', '.join(branches[:10]) or 'none'}")


def trained_at(base_ref: str) -> tuple[str, dict, dict] | None:
    """(source, metrics, what it was trained for) of the champion at `base_ref`, or None."""
    text = _show(base_ref, CHAMPION.as_posix())
    if text is not None:
        record = champion.parse(text, f"{base_ref}:{CHAMPION}")
        trained = {key: record.get(key) for key in ("task", "target", "features")}
        return f"git {base_ref}:{CHAMPION} (v{record['version']})", record.get("metrics") or {}, trained
    text = _show(base_ref, METRICS.as_posix())
    if text is None:
        return None
    try:
        metrics = json.loads(text)
    except json.JSONDecodeError:
        raise PipelineError(f"{base_ref}:{METRICS}: not valid JSON") from None
    # No champion record (level 0): what the metrics were trained for is in that commit's params and schema.
    params = yaml.safe_load(_show(base_ref, PARAMS.as_posix()) or "{}") or {}
    target = (params.get("data") or {}).get("target")
    schema = _show(base_ref, str((params.get("data") or {}).get("schema") or SCHEMA))
    features = features_of(schema, target) if schema is not None and target else None
    return f"git {base_ref}:{METRICS}", metrics, {"task": params.get("task"), "target": target, "features": features}


def champions_at(params: dict, base_ref: str) -> tuple[list[tuple[str, dict]], list[dict]]:
    """(comparable champions as (source, metrics), incomparable ones with the reason) at `base_ref`."""
    resolve(base_ref)
    found = trained_at(base_ref)
    if found is None:
        return [], []
    source, metrics, trained = found
    features = features_of(Path(params["data"]["schema"]).read_text(), params["data"]["target"])
    why = incomparable(trained, params, features)
    return ([], [{"source": source, "reason": why}]) if why else ([(source, metrics)], [])


def incomparable(trained: dict, params: dict, features: dict[str, str]) -> str | None:
    """Why a champion trained as `trained` says nothing about this candidate (None: comparable)."""
    target = params["data"]["target"]
    if trained.get("task") and trained["task"] != params["task"]:
        return f"it is a {trained['task']} model, this candidate is {params['task']}"
    if trained.get("target") and trained["target"] != target:
        return f"it was trained on target '{trained['target']}', this candidate on '{target}'"
    theirs = trained.get("features")
    if theirs and theirs != features:
        added, removed = sorted(set(features) - set(theirs)), sorted(set(theirs) - set(features))
        retyped = sorted(c for c in set(theirs) & set(features) if theirs[c] != features[c])
        parts = [f"{label} {', '.join(cols[:5])}" + (" ..." if len(cols) > 5 else "")
                 for label, cols in (("new columns", added), ("missing columns", removed),
                                     ("changed dtypes", retyped)) if cols]
        return "its input columns differ (" + "; ".join(parts) + ")"
    return None


def slice_gap_reason(widest: dict | None, metric: str | None, max_gap: object) -> str | None:
    """The optional rule max_slice_gap (`slices.max_gap` in params.yaml): no two slices of a column may differ in
    the primary metric by more than this. None when it holds or is not set."""
    if max_gap is None or widest is None:
        return None
    if widest["gap"] > float(max_gap):
        return (f"max_slice_gap: {metric} differs by {widest['gap']:.4f} between {widest['column']}={widest['best']} "
                f"and {widest['column']}={widest['worst']}, more than slices.max_gap {max_gap}")
    return None


def decide(candidate: dict, gate: dict, champions: list[tuple[str, dict]], slice_gap: str | None = None) -> list[str]:
    """Every reason the candidate fails; an empty list means it passes."""
    reasons = [slice_gap] if slice_gap else []
    for metric, bounds in gate["thresholds"].items():
        if metric not in candidate:
            reasons.append(f"{metric}: no such metric in {METRICS} (have {', '.join(sorted(candidate))})")
            continue
        value = candidate[metric]
        if "min" in bounds and value < bounds["min"]:
            reasons.append(f"{metric} {value:.4f} is below the minimum {bounds['min']}")
        if "max" in bounds and value > bounds["max"]:
            reasons.append(f"{metric} {value:.4f} is above the maximum {bounds['max']}")
    drop = float(gate.get("max_drop", 0.0))
    for source, metrics in champions:
        for metric in gate["thresholds"]:
            if metric not in metrics or metric not in candidate:
                continue
            direction = DIRECTION.get(metric, 1)
            worse_by = (metrics[metric] - candidate[metric]) * direction
            if worse_by > drop:
                reasons.append(
                    f"{metric} {candidate[metric]:.4f} regresses against the champion ({source}: "
                    f"{metrics[metric]:.4f}) by {worse_by:.4f}, more than max_drop {drop}"
                )
    return reasons


def _log_failed(params: dict) -> None:
    """Record the rejected candidate in MLflow too (MLflow is imported only on this path: it is slow)."""
    try:
        from .. import tracking

        run = tracking.log_run(params, tracking.run_facts(params))
        print(f"the failed candidate is MLflow run {run['run_id']}", file=sys.stderr)
    except Exception as exc:  # noqa: BLE001  the gate's own verdict matters more than a tracking outage
        print(f"warning: could not log the failed candidate to MLflow: {exc}", file=sys.stderr)


def run(params: dict, base_ref: str | None = None) -> dict:
    if not METRICS.is_file():
        raise PipelineError(f"{METRICS}: not found; run the evaluate stage first")
    candidate = json.loads(METRICS.read_text())
    gate = params["gate"]
    base_ref = base_ref or gate.get("base_ref", "main")
    champions, skipped = champions_at(params, base_ref)
    max_gap = (params.get("slices") or {}).get("max_gap")
    sliced = (json.loads(EVALUATION.read_text()) if EVALUATION.is_file() else {}).get("slices")
    if max_gap is not None and not sliced:
        raise PipelineError(f"slices.max_gap is set in params.yaml but {EVALUATION} has no slice metrics: "
                            "name the columns in slices.columns and run the evaluate stage")
    gap = slice_gap_reason(sliced.get("widest_gap") if sliced else None, sliced and sliced["metric"], max_gap)
    reasons = decide(candidate, gate, champions, gap)
    passed_because = "all thresholds met and no regression against the champion"
    if not champions and not skipped:
        passed_because = f"all thresholds met; no champion at {base_ref} yet, so no regression check"
    elif skipped:
        passed_because = (f"all thresholds met; no comparable champion ({skipped[0]['source']}: "
                          f"{skipped[0]['reason']}), so no regression check")
    verdict = {
        "passed": not reasons,
        "reasons": reasons or [passed_because],
        "candidate": candidate,
        "thresholds": gate["thresholds"],
        "max_drop": gate.get("max_drop", 0.0),
        "max_slice_gap": max_gap,
        "widest_slice_gap": sliced.get("widest_gap") if sliced else None,
        "base_ref": base_ref,
        "champions": [{"source": s, "metrics": m} for s, m in champions],
        "incomparable": skipped,
    }
    VERDICT.parent.mkdir(parents=True, exist_ok=True)
    VERDICT.write_text(json.dumps(verdict, indent=2) + "\n")
    if reasons:
        _log_failed(params)
        raise CheckFailed("gate failed: " + "; ".join(reasons) + f" (verdict: {VERDICT})")
    return verdict
