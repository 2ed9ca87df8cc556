"""Drift monitoring: an Evidently report comparing a current batch with the training data.

With no current batch configured, the held-out test split stands in for it (and the summary says so).
"""

from __future__ import annotations

import json
from html import escape

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

from .. import contract
from ..errors import CheckFailed
from ..paths import DRIFT, DRIFT_HTML, TEST, TRAIN


def _cap(frame: pd.DataFrame, cap: int, seed: int) -> pd.DataFrame:
    """A seeded sample keeps large batches fast; drift tests need a sample, not every row."""
    return frame.sample(n=cap, random_state=seed) if cap and len(frame) > cap else frame


def load_batches(params: dict, current_path: str | None) -> tuple[pd.DataFrame, pd.DataFrame, str, str]:
    """The training split and the current batch, read with the contract's dtypes."""
    target = params["data"]["target"]
    data_contract = contract.load(params["data"]["schema"])
    reference = contract.read(TRAIN, data_contract)
    if current_path and current_path != params["drift"].get("current"):
        # Not a file the check stage covered: hold it to the contract here (distribution is what drift measures).
        from . import checks

        schema = contract.pandera_schema(params["data"]["schema"])
        current, entry = checks.check_file(current_path, schema, params, checks.CURRENT)
        if entry["failures"]:
            raise CheckFailed("\n".join(f.message() for f in entry["failures"]))
        note = f"current batch: {current_path}"
    elif current_path:
        current = contract.read(current_path, data_contract)  # the check stage held it to the contract
        note = f"current batch: {current_path}"
    else:
        current_path = str(TEST)
        current = contract.read(TEST, data_contract)
        note = f"no current batch configured: comparing the held-out split ({TEST}) with the training split"
    features = [c for c in reference.columns if c != target]
    return reference[features], current[features], current_path, note


def value_drift(config: dict, value: float) -> dict:
    """One column's result from Evidently's ValueDrift metric (its config and value in the snapshot)."""
    method, threshold = config["method"], config["threshold"]
    # p-value tests flag drift below the threshold; distance metrics flag it above.
    drifted = value < threshold if "p_value" in method else value >= threshold
    return {"column": config["column"], "method": method, "score": round(float(value), 6),
            "threshold": threshold, "drifted": bool(drifted)}


def detect(reference: pd.DataFrame, current: pd.DataFrame, share_threshold: float) -> dict:
    """Run Evidently's DataDriftPreset; return the dataset verdict and per-column results."""
    # Evidently refuses a column without values; a nullable column that went empty in the batch has drifted.
    empty = [c for c in reference.columns if reference[c].isna().all() or current[c].isna().all()]
    columns = [{"column": c, "method": "all values missing", "score": 1.0, "threshold": 1.0,
                "drifted": bool(reference[c].notna().any())} for c in empty]
    tested = [c for c in reference.columns if c not in empty]
    numeric = [c for c in tested if pd.api.types.is_numeric_dtype(reference[c])]
    categorical = [c for c in tested if c not in numeric]
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    snapshot = Report([DataDriftPreset(drift_share=share_threshold)]).run(
        current_data=Dataset.from_pandas(current[tested], data_definition=definition),
        reference_data=Dataset.from_pandas(reference[tested], data_definition=definition),
    )
    drifted_count = None
    for metric in snapshot.dict()["metrics"]:
        config, value = metric["config"], metric["value"]
        if config["type"].endswith(":DriftedColumnsCount"):
            drifted_count = value["count"]
        elif config["type"].endswith(":ValueDrift"):
            columns.append(value_drift(config, value))
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
    DRIFT_HTML.parent.mkdir(parents=True, exist_ok=True)
    # Evidently's page has no <title>: name the report in the browser tab and in MLflow's artifact view.
    title = f"<title>Drift report: {escape(used_path)} vs the training split</title>"
    page = snapshot.get_html_str(as_iframe=False)
    DRIFT_HTML.write_text(page.replace('<meta charset="UTF-8">', '<meta charset="UTF-8">' + title, 1), encoding="utf-8")
    DRIFT.write_text(json.dumps(summary, indent=2) + "\n")
    return summary
