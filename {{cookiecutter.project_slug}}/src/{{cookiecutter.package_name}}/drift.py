"""Drift monitoring: an Evidently report comparing a current batch with the training data.

With no current batch configured, the held-out test split stands in for it (and the summary says so).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

from . import checks
from .errors import CheckFailed
from .prepare import TEST, TRAIN

HTML = Path("reports/drift.html")
SUMMARY = Path("reports/drift.json")


def _cap(frame: pd.DataFrame, cap: int, seed: int) -> pd.DataFrame:
    """A seeded sample keeps large batches fast; drift tests need a sample, not every row."""
    return frame.sample(n=cap, random_state=seed) if cap and len(frame) > cap else frame


def load_batches(params: dict, current_path: str | None) -> tuple[pd.DataFrame, pd.DataFrame, str, str]:
    target = params["data"]["target"]
    schema = checks.load_schema(params["data"]["schema"])
    reference = checks.read_csv(TRAIN)
    if current_path:
        current = checks.read_csv(current_path)
        frame, failures = checks.validate(current, schema, params, current_path, require_target=False)
        if failures:
            raise CheckFailed("\n".join(f.message() for f in failures))
        note = f"current batch: {current_path}"
    else:
        current_path = str(TEST)
        current = checks.read_csv(TEST)
        note = f"no current batch configured: comparing the held-out split ({TEST}) with the training split"
    features = [c for c in reference.columns if c != target]
    return reference[features], current[features], current_path, note


def detect(reference: pd.DataFrame, current: pd.DataFrame, share_threshold: float) -> dict:
    """Run Evidently's DataDriftPreset; return the dataset verdict and per-column results."""
    numeric = [c for c in reference.columns if pd.api.types.is_numeric_dtype(reference[c])]
    categorical = [c for c in reference.columns if c not in numeric]
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    snapshot = Report([DataDriftPreset(drift_share=share_threshold)]).run(
        current_data=Dataset.from_pandas(current, data_definition=definition),
        reference_data=Dataset.from_pandas(reference, data_definition=definition),
    )
    columns = []
    drifted_count = None
    for metric in snapshot.dict()["metrics"]:
        config, value = metric["config"], metric["value"]
        if config["type"].endswith(":DriftedColumnsCount"):
            drifted_count = value["count"]
        elif config["type"].endswith(":ValueDrift"):
            method, threshold = config["method"], config["threshold"]
            # p-value tests flag drift below the threshold; distance metrics flag it above.
            drifted = value < threshold if "p_value" in method else value >= threshold
            columns.append({"column": config["column"], "method": method, "score": round(float(value), 6),
                            "threshold": threshold, "drifted": bool(drifted)})
    share = sum(c["drifted"] for c in columns) / len(columns) if columns else 0.0
    return {
        "dataset_drift": share >= share_threshold,
        "drift_share": round(share, 6),
        "share_threshold": share_threshold,
        "drifted_columns": sum(c["drifted"] for c in columns),
        "evidently_drifted_columns": drifted_count,
        "columns": sorted(columns, key=lambda c: (not c["drifted"], c["column"])),
    }, snapshot


def run(params: dict, current_path: str | None = None) -> dict:
    settings = params["drift"]
    current_path = current_path if current_path is not None else settings.get("current")
    reference, current, used_path, note = load_batches(params, current_path)
    seed, cap = params["split"]["seed"], int(settings.get("sample_cap") or 0)
    rows = {"reference_rows": len(reference), "current_rows": len(current)}
    reference, current = _cap(reference, cap, seed), _cap(current, cap, seed)
    result, snapshot = detect(reference, current, float(settings["share_threshold"]))
    summary = {"note": note, "reference": str(TRAIN), "current": used_path, **rows,
               "sampled_rows": {"reference": len(reference), "current": len(current)}, **result}
    HTML.parent.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(HTML))
    SUMMARY.write_text(json.dumps(summary, indent=2) + "\n")
    return summary
