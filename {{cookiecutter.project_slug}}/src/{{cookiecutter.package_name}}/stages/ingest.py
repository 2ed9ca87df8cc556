"""New labelled data: rows of the current batch that carry a label join the training data.

The convention (README, "Retraining on new data"): the current batch (`drift.current`) is what the
model saw in production. Once a row of it has its target column filled in, it is labelled data.
`add-current` appends the labelled rows that the training data does not already hold to `data.path`,
so the next training run learns from them; unlabelled rows stay out. Running it twice adds nothing.

Appends only: the training file's bytes are never rewritten, so a promotion pull request's data diff
is exactly the added lines. New rows are written as text, each value as the batch spelled it (`007`
stays `007`, `181` never becomes `181.0`), in the training file's column order, line ending and CSV
quoting. Rows are compared in the contract's dtypes (schema.yaml): `181` and `181.0` in a float64
column are the same value, `007` and `7` in a str column are not.

Production's labelled records are a second source: `collect --labelled` writes them into the monitoring
history (captured predictions, labels joined by record id). They join the same way, without the
capture's columns (record id, prediction, time), and `reports/added.json` counts them apart, so the
promotion pull request says how many rows came from production.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import math
from pathlib import Path

import pandas as pd

from .. import contract
from ..errors import PipelineError
from ..paths import ADDED

CAPTURE_COLUMNS = ("record_id", "prediction", "time", "model_version")  # collect.META: not training data


def production_batch(params: dict) -> str | None:
    """The labelled production records (`collect --labelled`, in the monitoring history), when there are any."""
    if importlib.util.find_spec(f"{__package__}.collect") is None:  # the monitoring loop ships from level 1
        return None
    from . import collect, history

    path = history.labelled(collect.settings(params)["history"])
    return str(path) if path.is_file() else None


def _records(path: Path) -> tuple[list[str], list[list[str]], str]:
    """(header, records as the file spells them, the file's line ending), parsed as CSV (quoted commas and
    line breaks included). A BOM is not part of the first column's name."""
    try:
        text = path.read_bytes().decode("utf-8-sig")  # bytes: read_text would turn \r\n into \n
    except FileNotFoundError:
        raise PipelineError(f"{path}: file not found") from None
    except UnicodeDecodeError as exc:
        raise PipelineError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        rows = [row for row in csv.reader(io.StringIO(text, newline="")) if row]
    except csv.Error as exc:
        raise PipelineError(f"{path}: not a readable CSV: {exc}") from None
    if not rows:
        raise PipelineError(f"{path}: empty, no header row")
    newline = "\r\n" if "\r\n" in text.split("\n", 1)[0] + "\n" else "\n"
    header, records = rows[0], rows[1:]
    for number, record in enumerate(records, 2):
        if len(record) != len(header):
            raise PipelineError(f"{path}: record {number} has {len(record)} values, the header {len(header)}")
    return header, records, newline


def _key(value: str, dtype: str | None) -> object:
    """A value as the contract types it: numbers as numbers (any spelling), everything else as text."""
    if value.strip() == "":
        return None  # missing
    if dtype in contract.NUMERIC:
        try:
            number = float(value)
        except ValueError:
            return value  # not a number: `check` reports it; here it only has to compare as itself
        return None if math.isnan(number) else number
    return value


def _new_records(params: dict, current_path: str | None = None) -> tuple[list[str], list[list[str]], str | None]:
    """(training header, a batch's new labelled records in that column order, the batch's path).

    The batch is `current_path`, by default the current batch (drift.current)."""
    current_path = current_path or params["drift"].get("current")
    if not current_path or not Path(current_path).is_file():
        return [], [], None
    path, target = Path(params["data"]["path"]), params["data"]["target"]
    header, records, _ = _records(path)
    current_header, current, _ = _records(Path(current_path))
    if target not in current_header:
        return header, [], current_path
    missing = [c for c in header if c not in current_header]
    # The capture's own columns (record id, prediction, time) are not training data.
    extra = [c for c in current_header if c not in header and c not in CAPTURE_COLUMNS]
    if missing or extra:
        raise PipelineError(f"{current_path}: its columns differ from {path}'s "
                            f"(missing: {missing or 'none'}, extra: {extra or 'none'}), so its rows cannot be added")
    schema = Path(params["data"]["schema"])
    types = contract.load(schema).columns if schema.is_file() else {}
    dtypes = [(types.get(name) or {}).get("dtype") for name in header]
    order = [current_header.index(name) for name in header]
    labelled = header.index(target)

    def key(record: list[str]) -> tuple:
        return tuple(_key(value, dtype) for value, dtype in zip(record, dtypes, strict=True))

    seen = {key(record) for record in records}
    new = []
    for record in current:
        ordered = [record[i] for i in order]
        if ordered[labelled].strip() == "":
            continue  # not labelled yet
        row = key(ordered)
        if row not in seen:
            seen.add(row)  # a row repeated in the batch is added once
            new.append(ordered)
    return header, new, current_path


def new_labelled_rows(params: dict, current_path: str | None = None) -> tuple[pd.DataFrame, str | None]:
    """(labelled rows of a batch (default: drift.current) not yet in the training data, as text; its path)."""
    header, records, source = _new_records(params, current_path)
    return pd.DataFrame(records, columns=header or None, dtype=str), source


def add_current(params: dict) -> tuple[int, str | None]:
    """Append the new labelled rows of the current batch, then of production's, to the training CSV.

    Returns (rows added, the batches' paths or None); reports/added.json says how many from each.
    Every existing byte stays. A file without a final line break gets one before the new rows (git then
    shows its last line as changed, with the same text). One write per batch, on an append-only handle.
    """
    header, records, source = _new_records(params)
    counts = {"current": _append(params, records), "production": 0}
    production = production_batch(params)
    if production:
        _, records, _ = _new_records(params, production)  # after the first append: no row counted twice
        counts["production"] = _append(params, records)
        source = ", ".join(s for s in (source, production) if s)
    total = counts["current"] + counts["production"]
    ADDED.parent.mkdir(parents=True, exist_ok=True)
    ADDED.write_text(json.dumps({"added": total, "from_current": counts["current"],
                                 "from_production": counts["production"], "sources": source}, indent=2) + "\n")
    return total, source


def _append(params: dict, records: list[list[str]]) -> int:
    if not records:
        return 0
    path = Path(params["data"]["path"])
    _, _, newline = _records(path)
    out = io.StringIO()
    csv.writer(out, lineterminator=newline).writerows(records)
    data = path.read_bytes()
    text = ("" if not data or data.endswith(b"\n") else newline) + out.getvalue()
    with path.open("ab") as handle:
        handle.write(text.encode("utf-8"))
    return len(records)
