"""The evaluation gate: absolute thresholds from params.yaml, and no regression against the champion.

The champion is the model whose metrics are committed on the base branch (git is where the
champion lives), and also the registry's `champion` alias where one exists.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from .errors import CheckFailed, PipelineError
from .evaluate import DIRECTION, METRICS

VERDICT = Path("reports/gate.json")


def champion_from_git(base_ref: str) -> dict | None:
    """Metrics committed at `base_ref`, or None when there are none (first run, no git)."""
    try:
        shown = subprocess.run(
            ["git", "show", f"{base_ref}:{METRICS.as_posix()}"], capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        return None
    if shown.returncode != 0:
        return None
    try:
        return json.loads(shown.stdout)
    except json.JSONDecodeError:
        raise PipelineError(f"{base_ref}:{METRICS}: not valid JSON") from None


def champion_from_registry(params: dict) -> tuple[str, dict] | None:
    """Test metrics of the run behind the registry's `champion` alias, if that alias exists."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from . import tracking

    tracking.setup(params)
    client = mlflow.MlflowClient()
    try:
        version = client.get_model_version_by_alias(params["mlflow"]["model_name"], "champion")
    except MlflowException:
        return None
    source = f"registry {params['mlflow']['model_name']} v{version.version} (@champion)"
    return source, tracking.test_metrics(client, version.run_id)


def decide(candidate: dict, gate: dict, champions: list[tuple[str, dict]]) -> list[str]:
    """Every reason the candidate fails; an empty list means it passes."""
    reasons = []
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


def run(params: dict, base_ref: str | None = None) -> dict:
    if not METRICS.is_file():
        raise PipelineError(f"{METRICS}: not found; run the evaluate stage first")
    candidate = json.loads(METRICS.read_text())
    gate = params["gate"]
    base_ref = base_ref or gate.get("base_ref", "main")
    champions = []
    if (committed := champion_from_git(base_ref)) is not None:
        champions.append((f"git {base_ref}", committed))
    if (registered := champion_from_registry(params)) is not None:
        champions.append(registered)
    reasons = decide(candidate, gate, champions)
    verdict = {
        "passed": not reasons,
        "reasons": reasons or ["all thresholds met and no regression against the champion"],
        "candidate": candidate,
        "thresholds": gate["thresholds"],
        "max_drop": gate.get("max_drop", 0.0),
        "champions": [{"source": s, "metrics": m} for s, m in champions],
    }
    VERDICT.parent.mkdir(parents=True, exist_ok=True)
    VERDICT.write_text(json.dumps(verdict, indent=2) + "\n")
    if reasons:
        raise CheckFailed("gate failed: " + "; ".join(reasons) + f" (verdict: {VERDICT})")
    return verdict
