"""Capture files as the serving app writes them (the prediction capture record of the monitoring docs), for
tests that monitor without a running service: one JSON line per record, in day folders, one file per process."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd

UTC = dt.timezone(dt.timedelta(0))


def write_capture(folder: Path, features: pd.DataFrame, predictions, start: dt.datetime, request: str,
                  pid: int = 100, spacing: float = 1.0) -> list[str]:
    """Append one record per row to `folder`; return the record ids (`<request>-<row index>`)."""
    day = folder / start.strftime("%Y-%m-%d")
    day.mkdir(parents=True, exist_ok=True)
    path = day / f"predictions-{start.strftime('%Y%m%dT%H')}-testhost-{pid}-0.jsonl"
    ids, lines = [], []
    for index, (row, prediction) in enumerate(zip(features.to_dict("records"), predictions, strict=True)):
        moment = start + dt.timedelta(seconds=index * spacing)
        record_id = f"{request}-{index}"
        lines.append(json.dumps({
            "record_id": record_id, "request_id": request, "time": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "source": "online", "model_version": "1", "model_sha256": None,
            "inputs": {k: (None if pd.isna(v) else v) for k, v in row.items()},
            "prediction": prediction, "probabilities": None, "latency_ms": 1.0}))
        ids.append(record_id)
    with path.open("a", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    return ids
