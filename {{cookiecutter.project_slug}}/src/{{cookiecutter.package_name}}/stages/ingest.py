"""New labelled data: rows of the current batch that carry a label join the training data.

The convention (README, "Retraining on new data"): the current batch (`drift.current`) is what the
model saw in production. Once a row of it has its target column filled in, it is labelled data.
`add-current` appends the labelled rows that the training data does not already hold to `data.path`,
so the next training run learns from them; unlabelled rows stay out. Running it twice adds nothing.

Production's labelled records are a second source: `collect --labelled` writes them into the monitoring
history (captured predictions, labels joined by record id). They join the same way, without the
capture's columns (record id, prediction, time), and `reports/added.json` counts them apart, so the
promotion pull request says how many rows came from production.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..errors import PipelineError

ADDED = Path("reports/added.json")
CAPTURE_COLUMNS = ("record_id", "prediction", "time", "model_version")  # collect.META: not training data


def production_batch(params: dict) -> str | None:
    """The labelled production records (`collect --labelled`, in the monitoring history), when there are any."""
    from . import collect, history

    path = history.labelled(collect.settings(params)["history"])
    return str(path) if path.is_file() else None


def new_labelled_rows(params: dict, current_path: str | None = None) -> tuple[pd.DataFrame, str | None]:
    """(labelled rows of a batch not yet in the training data, the batch's path or None).

    The batch is `current_path`, by default the current batch (drift.current)."""
    current_path = current_path or params["drift"].get("current")
    if not current_path or not Path(current_path).is_file():
        return pd.DataFrame(), None
    target = params["data"]["target"]
    # round_trip: a value appended by an earlier run reads back equal to the one it was written from.
    training = pd.read_csv(params["data"]["path"], float_precision="round_trip")
    current = pd.read_csv(current_path, float_precision="round_trip")
    current = current.drop(columns=[c for c in CAPTURE_COLUMNS if c in current.columns and c not in training.columns])
    if target not in current.columns:
        return pd.DataFrame(), current_path
    labelled = current[current[target].notna() & current[target].astype(str).str.strip().ne("")]
    if labelled.empty:
        return labelled, current_path
    missing = [c for c in training.columns if c not in labelled.columns]
    extra = [c for c in labelled.columns if c not in training.columns]
    if missing or extra:
        raise PipelineError(f"{current_path}: its columns differ from {params['data']['path']}'s "
                            f"(missing: {missing or 'none'}, extra: {extra or 'none'}), so its rows cannot be added")
    labelled = labelled[training.columns]
    # Same parsing on both sides, so equal CSV values compare equal (NaN matches NaN in a merge).
    merged = labelled.merge(training.drop_duplicates(), how="left", indicator=True)
    return labelled[(merged["_merge"] == "left_only").to_numpy()].drop_duplicates(), current_path


def add_current(params: dict) -> tuple[int, str | None]:
    """Append the new labelled rows of the current batch, then of production's, to the training CSV.

    Returns (rows added, the batches' paths or None); reports/added.json says how many from each."""
    rows, source = new_labelled_rows(params)
    counts = {"current": _append(params, rows), "production": 0}
    production = production_batch(params)
    if production:
        rows, _ = new_labelled_rows(params, production)  # after the first append: no row counted twice
        counts["production"] = _append(params, rows)
        source = ", ".join(s for s in (source, production) if s)
    total = counts["current"] + counts["production"]
    ADDED.parent.mkdir(parents=True, exist_ok=True)
    ADDED.write_text(json.dumps({"added": total, "from_current": counts["current"],
                                 "from_production": counts["production"], "sources": source}, indent=2) + "\n")
    return total, source


def _append(params: dict, rows: pd.DataFrame) -> int:
    if rows.empty:
        return 0
    path = Path(params["data"]["path"])
    text = path.read_text()
    with path.open("a", encoding="utf-8", newline="") as out:
        if text and not text.endswith("\n"):
            out.write("\n")
        rows.to_csv(out, header=False, index=False, lineterminator="\n")
    return len(rows)
