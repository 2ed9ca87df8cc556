"""Monitor: what production saw in the collected window, against what the model learned from.

Reads the batch `collect` wrote (monitoring.current) and reports, with Evidently:
- data drift of the features against the training data (as the drift stage does), and prediction drift:
  the predicted labels (or values) against the training data's target, which a model that still fits
  the world reproduces;
- with labels (joined by record id), production performance with Evidently's classification or
  regression preset, and the gate's primary metric against the champion's test metric and the gate's
  threshold;
- the primary metric per slice of the columns in params.yaml `slices.columns`, the widest gap flagged.
A window without records is reported as no traffic, never as "no drift". Each run's Evidently snapshots
go to the workspace (history.py) that `evidently ui` shows over time.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

import pandas as pd
from evidently import BinaryClassification, DataDefinition, Dataset, MulticlassClassification, Regression, Report
from evidently.metrics import MeanValue, RowCount, ValueDrift
from evidently.presets import ClassificationPreset, DataDriftPreset, RegressionPreset

from .. import champion, contract, monitoring, reporting, slices
from ..errors import PipelineError
from ..paths import MONITOR_HTML as HTML
from . import collect
from .drift import _cap, value_drift

JSON = monitoring.JSON
LABELLED = "labelled"  # 1 for a record with a label: its mean over a window is the label coverage
PRIMARY = {"classification": "f1_macro", "regression": "r2"}
UNUSED = ("record_id", "time", "model_version")  # batch columns monitor never reads: a million strings not made


def read_batch(path: str | Path, data_contract: contract.Contract, target: str) -> pd.DataFrame:
    """The collected batch (without UNUSED) with the contract's dtypes, read by Arrow's CSV reader (every core: a
    million rows in a second or two); empty fields are missing values, as pandas reads them."""
    import pyarrow as pa
    from pyarrow import csv as arrow_csv

    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"{path}: no collected batch; run `collect` first")
    names = list(pd.read_csv(path, nrows=0).columns)
    missing = [c for c in collect.META if c not in names]
    if missing:
        raise PipelineError(f"{path}: not a collected batch (no {', '.join(missing)} column)")
    kinds = {"int64": pa.int64(), "float64": pa.float64(), "str": pa.string()}
    types = {k: kinds[v] for k, v in contract.pandas_dtypes(data_contract, names).items() if k != target}
    types |= {"record_id": pa.string(), "time": pa.string(), target: pa.string()}
    try:
        table = arrow_csv.read_csv(path, convert_options=arrow_csv.ConvertOptions(
            column_types=types, strings_can_be_null=True, quoted_strings_can_be_null=False,
            include_columns=[c for c in names if c not in UNUSED]))
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise PipelineError(f"{path}: does not match {data_contract.path} ({exc}); run `collect` again") from None
    return table.to_pandas(self_destruct=True)


def _typed(values: pd.Series, kind: str) -> pd.Series:
    return pd.to_numeric(values, errors="coerce") if kind in contract.NUMERIC else values.astype(str)


def score(task: str, y_true: pd.Series, y_pred: pd.Series) -> float | None:
    """The gate's primary metric, computed as evaluate computes it."""
    from sklearn import metrics as skm

    if task == "classification":
        return round(float(skm.f1_score(y_true.astype(str), y_pred.astype(str), average="macro")), 6)
    return round(float(skm.r2_score(y_true, y_pred)), 6) if len(y_true) > 1 else None


def _metric_values(snapshot) -> list[tuple[str, dict, object]]:
    return [(m["config"]["type"].rsplit(":", 1)[-1], m["config"], m["value"]) for m in snapshot.dict()["metrics"]]


def drift_report(reference: pd.DataFrame, current: pd.DataFrame, features: list[str], task: str,
                 threshold: float, timestamp, metadata: dict):
    """Evidently: rows, feature drift, prediction drift and label coverage, in one snapshot."""
    numeric = [c for c in features if pd.api.types.is_numeric_dtype(reference[c])]
    prediction_numeric = task == "regression"
    definition = DataDefinition(
        numerical_columns=numeric + [LABELLED] + (["prediction"] if prediction_numeric else []),
        categorical_columns=[c for c in features if c not in numeric] + ([] if prediction_numeric else ["prediction"]))
    report = Report([RowCount(), DataDriftPreset(columns=features, drift_share=threshold),
                     ValueDrift(column="prediction"), MeanValue(column=LABELLED)],
                    tags=["monitor", "drift"], metadata=metadata)
    snapshot = report.run(Dataset.from_pandas(current, data_definition=definition),
                          Dataset.from_pandas(reference, data_definition=definition), timestamp=timestamp)
    columns, prediction = [], None
    for name, config, value in _metric_values(snapshot):
        if name == "ValueDrift":
            result = value_drift(config, value)
            if config["column"] == "prediction":
                prediction = result
            else:
                columns.append(result)
    share = sum(c["drifted"] for c in columns) / len(columns) if columns else 0.0
    data = {"dataset_drift": share >= threshold, "drift_share": round(share, 6), "share_threshold": threshold,
            "drifted_columns": sum(c["drifted"] for c in columns),
            "columns": sorted(columns, key=lambda c: (not c["drifted"], c["column"])),
            "prediction_drift": prediction}
    return data, snapshot


def performance_report(labelled: pd.DataFrame, target: str, task: str, labels: list[str], timestamp, metadata: dict):
    """Evidently's classification or regression preset on the labelled records."""
    frame = labelled[[target, "prediction"]]
    if task == "classification":
        frame = frame.astype(str)
        if len(labels) == 2:
            # Evidently's binary metrics need the positive class: the rarer label of the training data.
            spec = BinaryClassification(target=target, prediction_labels="prediction", pos_label=labels[0])
        else:
            spec = MulticlassClassification(target=target, prediction_labels="prediction")
        definition = DataDefinition(categorical_columns=[target, "prediction"], classification=[spec])
        preset = ClassificationPreset()
    else:
        definition = DataDefinition(numerical_columns=[target, "prediction"],
                                    regression=[Regression(target=target, prediction="prediction")])
        preset = RegressionPreset()
    snapshot = Report([preset], tags=["monitor", "performance"], metadata=metadata).run(
        Dataset.from_pandas(frame, data_definition=definition), None, timestamp=timestamp)
    wanted = ("Accuracy", "Precision", "Recall", "F1Score") if task == "classification" else ("RMSE", "MAE", "R2Score")
    values = {}
    for name, _, value in _metric_values(snapshot):
        if name in wanted:
            values[name] = round(float(value["mean"] if isinstance(value, dict) else value), 6)
    return values, snapshot


def assess(params: dict, batch: pd.DataFrame, task: str) -> dict:
    """Production's primary metric against the gate's threshold and the champion's test metric."""
    metric = PRIMARY[task]
    gate = params["gate"]
    threshold = ((gate.get("thresholds") or {}).get(metric) or {}).get("min")
    record = champion.read_optional()
    champion_metric = ((record or {}).get("metrics") or {}).get(metric)
    value = score(task, batch[params["data"]["target"]], batch["prediction"])
    reasons = []
    if value is not None and threshold is not None and value < float(threshold):
        reasons.append(f"{metric} {value:.4f} is under the gate's threshold {float(threshold):.4f}")
    max_drop = gate.get("max_drop")
    if value is not None and champion_metric is not None and max_drop is not None \
            and value < float(champion_metric) - float(max_drop):
        reasons.append(f"{metric} {value:.4f} is more than {float(max_drop):.4f} below the champion's test "
                       f"{metric} {float(champion_metric):.4f}")
    return {"metric": metric, "value": value, "threshold": threshold, "champion": champion_metric,
            "champion_version": (record or {}).get("version"), "max_drop": max_drop,
            "below": bool(reasons), "reasons": reasons}


def run(params: dict, batch_path: str | None = None, collected: dict | None = None) -> tuple[dict, list]:
    """Monitor the collected batch: write reports/monitor.{json,html}; return (summary, Evidently snapshots)."""
    from . import history

    section = collect.settings(params)
    task, target = params["task"], params["data"]["target"]
    data_contract = contract.load(params["data"]["schema"])
    batch_path = batch_path or section["current"]
    collected = collected if collected is not None else collect.read_summary()
    batch = read_batch(batch_path, data_contract, target)
    skipped = set(collected.get("skipped_columns") or [])
    features = [c for c in data_contract.columns if c != target and c not in skipped]
    window = {"since": collected.get("since"), "until": collected.get("until")}
    summary: dict = {"window": window, "source": collected.get("source"), "rows": len(batch),
                     "broken": collected.get("broken", 0), "broken_examples": collected.get("broken_examples", []),
                     "duplicates": collected.get("duplicates", 0),
                     "unparsable_lines": collected.get("unparsable_lines", 0),
                     "labelled": int(batch[target].notna().sum()), "task": task}
    summary["label_coverage"] = round(summary["labelled"] / len(batch), 6) if len(batch) else None
    snapshots: list = []
    min_rows, min_labelled = int(section["min_rows"]), int(section["min_labelled_rows"])
    summary["status"] = "no traffic" if batch.empty else "too few rows" if len(batch) < min_rows else "ok"
    summary.update(drift=None, performance=None, slices=None, alerts=[])
    if summary["status"] == "ok":
        reference = contract.read(params["data"]["path"], data_contract)
        seed, cap = params["split"]["seed"], int(params["drift"].get("sample_cap") or 0)
        ref = reference[features].assign(prediction=_typed(reference[target], data_contract.dtype(target)),
                                         **{LABELLED: 1.0})
        sample = _cap(batch, cap, seed)  # the rows _cap would pick from the whole frame, without copying it all
        cur = sample[features].assign(prediction=_typed(sample["prediction"], data_contract.dtype(target)),
                                      **{LABELLED: sample[target].notna().astype(float)})
        timestamp = pd.Timestamp(window["until"]).to_pydatetime() if window["until"] else None
        metadata = {"since": str(window["since"]), "until": str(window["until"]), "rows": str(len(batch))}
        summary["drift"], snapshot = drift_report(_cap(ref, cap, seed), cur, features, task,
                                                  float(params["drift"]["share_threshold"]), timestamp, metadata)
        snapshots.append(snapshot)
        labelled = batch[batch[target].notna()]
        if len(labelled):
            labelled = labelled.assign(**{target: _typed(labelled[target], data_contract.dtype(target)),
                                          "prediction": _typed(labelled["prediction"], data_contract.dtype(target))})
            counts = reference[target].astype(str).value_counts()
            labels = sorted(counts.index, key=lambda label: (counts[label], label))
            # Evidently's preset on a seeded sample, as drift does; the gate's metric below uses every labelled row.
            values, snapshot = performance_report(_cap(labelled, cap, seed), target, task, labels, timestamp, metadata)
            snapshots.append(snapshot)
            summary["performance"] = {"rows": len(labelled), "evidently": values,
                                      **assess(params, labelled, task)}
            summary["performance"]["enough_labels"] = len(labelled) >= min_labelled
            columns = list((params.get("slices") or {}).get("columns") or [])
            if columns:
                result = slices.slice_metrics(labelled, labelled[target], labelled["prediction"], columns, task)
                max_gap = (params.get("slices") or {}).get("max_gap")
                widest = result["widest_gap"]
                result["flagged"] = bool(widest and (max_gap is None or widest["gap"] > float(max_gap)))
                summary["slices"] = result
        if summary["drift"]["dataset_drift"]:
            summary["alerts"].append(f"data drift: share of drifted columns {summary['drift']['drift_share']:.2f} "
                                     f"(threshold {summary['drift']['share_threshold']})")
        perf = summary["performance"]
        if perf and perf["enough_labels"] and perf["below"]:
            summary["alerts"].extend(perf["reasons"])
    summary["history"] = history.describe(section["history"])
    write(summary, snapshots)
    return summary, snapshots


def write(summary: dict, snapshots: list) -> None:
    JSON.parent.mkdir(parents=True, exist_ok=True)
    JSON.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    frames = [escape(s.get_html_str(as_iframe=False), quote=True) for s in snapshots]
    HTML.write_text(reporting.render("monitor.html", summary=summary, frames=frames), encoding="utf-8")
