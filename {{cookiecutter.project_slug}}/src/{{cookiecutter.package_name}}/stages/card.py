"""The model card (reports/model_card.md): what the model is for, what it learnt from, how sure its numbers are,
how it does on each slice, what it cannot do, and where it comes from.

Every candidate gets one, passing or not (this stage runs before the gate). `data()` returns plain data and the
template `templates/model_card.j2` lays it out (reporting.py). `register` logs the card to the MLflow run, the
promotion pull request commits it, and the PR report includes it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from .. import champion, contract, reporting
from ..config import primary_metric
from ..errors import PipelineError
from ..paths import EVALUATION, METRICS, MODEL_CARD, TEST, TRAIN

MAX_LABELS = 20  # label mix rows shown; the rest are summed in one row
UNSAFE = re.compile(r"[|<>`\[\]\r\n]")  # what a data value could use to break a Markdown table or inject markup

DEFAULTS = {
    "intended_use": "Not stated: say what decisions this model supports in model_card.intended_use (params.yaml).",
    "users": "Not stated (model_card.users in params.yaml).",
    "out_of_scope": "Anything outside the population of the training data; decisions without human review.",
    "limitations": [],
    "time_column": None,
}


def cell(value: object, limit: int = 60) -> str:
    """A value from the data, safe inside a Markdown table cell."""
    text = UNSAFE.sub(" ", str(value)).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _read(path: Path, stage: str) -> dict:
    if not path.is_file():
        raise PipelineError(f"{path}: not found; run the {stage} stage first (`dvc repro`)")
    return json.loads(path.read_text())


def _training_data(params: dict, settings: dict) -> dict:
    target = params["data"]["target"]
    schema = contract.load(params["data"]["schema"])
    train = contract.read(TRAIN, schema)
    test_rows = sum(1 for _ in TEST.open()) - 1 if TEST.is_file() else None
    found: dict = {"path": params["data"]["path"], "sha256": champion.sha256_file(params["data"]["path"]),
                   "train_rows": len(train), "test_rows": test_rows, "columns": len(train.columns) - 1,
                   "labels": None, "target": None, "time": None}
    if params["task"] == "classification":
        counts = train[target].astype(str).value_counts()
        shown = [{"label": cell(label), "rows": int(rows), "share": rows / len(train)}
                 for label, rows in counts.head(MAX_LABELS).items()]
        rest = int(counts.iloc[MAX_LABELS:].sum())
        found["labels"] = shown + ([{"label": f"{len(counts) - MAX_LABELS} more", "rows": rest,
                                     "share": rest / len(train)}] if rest else [])
    else:
        values = pd.to_numeric(train[target])
        found["target"] = {"min": float(values.min()), "mean": float(values.mean()), "max": float(values.max())}
    column = settings.get("time_column")
    if column:
        if column not in train.columns:
            raise PipelineError(f"model_card.time_column '{column}' in params.yaml is not a column of {TRAIN}")
        times = pd.to_datetime(train[column], errors="coerce", utc=True).dropna()
        if times.empty:
            raise PipelineError(f"model_card.time_column '{column}': no value of {TRAIN} reads as a date")
        found["time"] = {"column": column, "first": times.min().isoformat(), "last": times.max().isoformat()}
    return found


def _slices(evaluation: dict, params: dict) -> dict | None:
    sliced = evaluation.get("slices")
    if not sliced:
        return None
    metric, widest = sliced["metric"], sliced.get("widest_gap")
    columns = []
    for column, values in sliced["columns"].items():
        rows = [{"value": cell(value), "rows": entry["rows"], "score": entry[metric],
                 "few": entry["rows"] < sliced["min_rows"],
                 "flag": bool(widest and widest["column"] == column and value in (widest["best"], widest["worst"]))}
                for value, entry in values.items()]
        columns.append({"column": cell(column), "entries": rows})
    max_gap = (params.get("slices") or {}).get("max_gap")
    return {"metric": metric, "min_rows": sliced["min_rows"], "columns": columns,
            "widest_gap": widest and {**widest, "best": cell(widest["best"]), "worst": cell(widest["worst"])},
            "max_gap": max_gap, "exceeds": bool(widest and max_gap is not None and widest["gap"] > float(max_gap))}


def _limitations(settings: dict, training: dict, evaluation: dict, slices: dict | None) -> list[str]:
    """The user's, then what the numbers themselves show."""
    found = [str(item) for item in settings.get("limitations") or []]
    test_rows = evaluation.get("test_rows") or 0
    if test_rows < 200:
        found.append(f"The test split has {test_rows} rows: the intervals above are wide, and small differences "
                     "between models or slices may be noise.")
    for label in training["labels"] or []:
        if label["share"] < 0.05:
            found.append(f"Label {label['label']} is {label['share']:.1%} of the training rows: expect it to be "
                         "predicted less reliably than the others.")
    if slices:
        few = [f"{c['column']}={v['value']}" for c in slices["columns"] for v in c["entries"] if v["few"]]
        if few:
            found.append(f"Slices with fewer than {slices['min_rows']} test rows ({', '.join(few[:5])}"
                         + (" ..." if len(few) > 5 else "") + ") are shown but not compared.")
    else:
        found.append("No slice metrics: name the columns to check in slices.columns (params.yaml) to see how the "
                     "model does for each group.")
    if training["time"] is None:
        found.append("No time column named (model_card.time_column): the card cannot say which period the data "
                     "covers.")
    return found


def data(params: dict) -> dict:
    """Everything the card says, as plain data."""
    settings = {**DEFAULTS, **(params.get("model_card") or {})}
    metrics, evaluation = _read(METRICS, "evaluate"), _read(EVALUATION, "evaluate")
    intervals = evaluation["bootstrap"]["intervals"]
    primary = primary_metric(params)
    training = _training_data(params, settings)
    sliced = _slices(evaluation, params)
    current = champion.read_optional()
    commit = champion.git("rev-parse", "HEAD").stdout.strip() or None
    dirty = bool(commit and champion.git("status", "--porcelain", "--untracked-files=no").stdout.strip())
    return {
        "model_name": params["mlflow"]["model_name"],
        "task": params["task"],
        "family": params["model"]["family"],
        "target": params["data"]["target"],
        "intended_use": {key: str(settings[key]) for key in ("intended_use", "users", "out_of_scope")},
        "training": training,
        "metrics": [{"name": name, "value": value, "primary": name == primary, **intervals.get(name, {})}
                    for name, value in sorted(metrics.items())],
        "bootstrap": {"resamples": evaluation["bootstrap"]["resamples"], "level": evaluation["bootstrap"]["level"]},
        "slices": sliced,
        "limitations": _limitations(settings, training, evaluation, sliced),
        "lineage": {"commit": commit, "uncommitted_changes": dirty, "data_sha256": training["sha256"],
                    "replaces": current and {"version": current["version"],
                                             "model_sha256": current.get("model_sha256"),
                                             "metric": current.get("metrics", {}).get(primary)}},
    }


def run(params: dict) -> Path:
    MODEL_CARD.parent.mkdir(parents=True, exist_ok=True)
    MODEL_CARD.write_text(reporting.render("model_card", **data(params)))
    return MODEL_CARD
