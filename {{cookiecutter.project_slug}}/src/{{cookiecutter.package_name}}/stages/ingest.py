"""New labelled data: rows of the current batch that carry a label join the training data.

The convention (README, "Retraining on new data"): the current batch (`drift.current`) is what the
model saw in production. Once a row of it has its target column filled in, it is labelled data.
`add-current` appends the labelled rows that the training data does not already hold to `data.path`,
so the next training run learns from them; unlabelled rows stay out. Running it twice adds nothing.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import PipelineError


def new_labelled_rows(params: dict) -> tuple[pd.DataFrame, str | None]:
    """(labelled rows of the current batch not yet in the training data, the batch's path or None)."""
    current_path = params["drift"].get("current")
    if not current_path or not Path(current_path).is_file():
        return pd.DataFrame(), None
    target = params["data"]["target"]
    training = pd.read_csv(params["data"]["path"])
    current = pd.read_csv(current_path)
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
    """Append the current batch's new labelled rows to the training CSV; return (rows added, batch path)."""
    rows, source = new_labelled_rows(params)
    if rows.empty:
        return 0, source
    path = Path(params["data"]["path"])
    text = path.read_text()
    with path.open("a", encoding="utf-8", newline="") as out:
        if text and not text.endswith("\n"):
            out.write("\n")
        rows.to_csv(out, header=False, index=False, lineterminator="\n")
    return len(rows), source
