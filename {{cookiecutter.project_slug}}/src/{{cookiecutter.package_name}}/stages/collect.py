"""Collect: the captured predictions of a time window, as the current batch the pipeline understands.

The serving app (and batch scoring) append one JSON object per scored record to
`<capture dir>/<YYYY-MM-DD>/predictions-*.jsonl` (docs/monitoring.md). `collect` reads those files from
a folder or an fsspec URL (a bucket, the DVC remote's storage), or from a temporary copy of the Docker
hosts' capture volumes (ci/volumes.py fetches those), and writes:

- `monitoring.current` (CSV): one row per record, deduplicated by record id, with the contract's feature
  columns, the target column (filled in where a label file has the record), then `record_id`,
  `prediction`, `time` and `model_version`;
- `reports/collect.json`: the window, the counts, and the records that break the data contract (count
  and examples). Those are left out of the batch and reported, never dropped silently.

Labels arrive later: files under `monitoring.labels` (CSV with a header, or JSON Lines), each row a
`record_id` and the target column, joined by record id. Lines that are not JSON (a writer killed
mid-line) are skipped and counted.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd

from .. import capture as capture_format
from .. import contract
from ..errors import PipelineError
from ..paths import CAPTURE_FILES, LABELS, MONITOR_HISTORY, PRODUCTION, read
from ..paths import COLLECT as SUMMARY

META = ("record_id", "prediction", "time", "model_version")  # columns after the features and the target
EXAMPLES = 5  # broken records quoted in the summary
UTC = dt.timezone(dt.timedelta(0))  # datetime.UTC needs Python 3.11
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # the capture record's `time`: UTC, ISO 8601, with Z


def settings(params: dict) -> dict:
    """The `monitoring:` section, with defaults for the keys collect and monitor read."""
    section = dict(params.get("monitoring") or {})
    section.setdefault("source", "")
    section.setdefault("labels", LABELS.as_posix())
    section.setdefault("current", PRODUCTION.as_posix())
    section.setdefault("history", MONITOR_HISTORY.as_posix())
    section.setdefault("min_rows", 30)
    section.setdefault("min_labelled_rows", 30)
    return section


def stamp(moment: dt.datetime) -> str:
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


def parse_time(text: str, what: str) -> dt.datetime:
    """An ISO 8601 time (a date alone is midnight UTC); a time without a zone is UTC."""
    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise PipelineError(f"{what}={text!r}: expected an ISO 8601 time such as 2026-12-03T10:00:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def capture_files(source: str, since: dt.datetime | None) -> tuple[object, list[str]]:
    """(filesystem, capture files under `source` that may hold records from `since` on), by day folder."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(source)
    if not fs.exists(root):
        raise PipelineError(f"{source}: no such capture folder (monitoring.source in params.yaml, or --source)")
    first_day = since.strftime("%Y-%m-%d") if since else ""
    files = []
    for path in sorted(fs.glob(f"{root.rstrip('/')}/*/{CAPTURE_FILES}")):
        day = path.rsplit("/", 2)[-2]
        if day >= first_day:  # a day folder older than the window's start holds nothing for it
            files.append(path)
    return fs, files


META_IN = META  # fields of a record the batch keeps, in its column order
INPUT = "inputs."  # prefix of the flattened input columns while reading
FILE = "_file"  # while reading: the index of the record's file in the list read (examples name the file)
BLOCK = 1 << 22  # Arrow parses a file in blocks of this size, one per thread


def _arrow_schema(data_contract: contract.Contract, features: list[str], target: str):
    """The fields collect keeps, typed by the contract: Arrow parses only those and skips the rest unparsed
    (request_id, probabilities...). A value of another type (text in a numeric column) fails the parse,
    and that file is read by the next reader, which reports the record."""
    import pyarrow as pa

    kinds = {"int64": pa.int64(), "float64": pa.float64()}
    inputs = pa.struct([(c, kinds.get(data_contract.dtype(c), pa.string())) for c in features])
    prediction = kinds.get(data_contract.dtype(target), pa.string()) if target in data_contract.columns \
        else pa.string()
    return pa.schema([("record_id", pa.string()), ("time", pa.string()), ("source", pa.string()),
                      ("model_version", pa.string()), ("prediction", prediction), ("inputs", inputs)])


def _arrow(data: bytes, schema, since: str, until: str):
    """A file's whole lines parsed by Arrow's JSON reader (C++, in blocks on every core), the window's
    records only, inputs flattened to `inputs.<column>`; None when Arrow cannot (a bad line, a value of
    another type, a record without id, time or inputs, an unknown source): the caller falls back."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyarrow import json as arrow_json

    options = arrow_json.ReadOptions(block_size=BLOCK)
    parse = arrow_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore") if schema \
        else arrow_json.ParseOptions()
    try:
        table = arrow_json.read_json(pa.py_buffer(data), read_options=options, parse_options=parse)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    names = table.column_names
    if schema is None and any(f not in names for f in capture_format.FIELDS):
        return None
    if not pa.types.is_struct(table.schema.field("inputs").type) \
            or not pa.types.is_string(table.schema.field("record_id").type) \
            or not pa.types.is_string(table.schema.field("time").type) or table["inputs"].null_count \
            or table["record_id"].null_count or table["time"].null_count \
            or not pc.all(pc.is_in(table["source"], value_set=pa.array(capture_format.SOURCES))).as_py():
        return None
    times = table["time"]
    keep = pc.and_(pc.greater_equal(times, since), pc.less(times, until))  # the window, before any copy
    table = table.filter(keep)
    inputs = table["inputs"].combine_chunks() if table.num_rows else pa.array([], table.schema.field("inputs").type)
    columns = {INPUT + field.name: array for field, array in zip(inputs.type, inputs.flatten(), strict=True)}
    return pa.table({**{name: table[name] for name in META_IN}, **columns})


def _slow(lines: list[bytes], counts: dict) -> pd.DataFrame:
    """Line by line: what does not parse, or is not a whole record (capture.py's rule), is skipped and counted."""
    rows = []
    loads, valid = json.loads, capture_format._valid  # the one definition of a whole record
    for line in lines:
        try:
            record = loads(line)
        except ValueError:
            counts["unparsable_lines"] += 1
            continue
        if not valid(record):
            counts["unparsable_lines"] += 1
            continue
        row = {name: record[name] for name in META_IN}
        row.update({INPUT + k: v for k, v in record["inputs"].items()})
        rows.append(row)
    return pd.DataFrame.from_records(rows, columns=list(META_IN) if not rows else None)


def read_records(fs, files: list[str], since: str, until: str, counts: dict, schema=None) -> pd.DataFrame:
    """The whole, valid records with since <= time < until, one row each (inputs as `inputs.<column>`,
    `_file` the index of the file in `files`).

    Times compare as text: the capture writes one fixed-width UTC format, so that is time order. Each file
    is read by the fastest reader that can: Arrow with the contract's types, Arrow inferring the types
    (a value of another type than the contract's, which to_frame reports), then line by line."""
    import pyarrow as pa

    tables, frames = [], []
    for index, path in enumerate(files):
        with fs.open(path, "rb") as handle:
            data = handle.read()
        end = data.rfind(b"\n") + 1
        if end < len(data):  # no final newline: a write cut short
            counts["unparsable_lines"] += 1
        data = data[:end]
        if not data or (len(data) < 4096 and not data.strip()):
            continue
        typed = _arrow(data, schema, since, until) if schema is not None else None
        if typed is not None:
            tables.append(typed.append_column(FILE, pa.array(np.full(typed.num_rows, index, dtype=np.int32))))
            continue
        table = _arrow(data, None, since, until)
        if table is not None:
            frame = table.to_pandas()
        else:
            frame = _slow(data.split(b"\n")[:-1], counts)
            frame = frame[(frame["time"] >= since) & (frame["time"] < until)] if len(frame) else frame
        frames.append(frame.assign(**{FILE: index}))
    if tables:
        # One conversion for every file Arrow read with the contract's types: no per-file frames to concatenate.
        frames.insert(0, pa.concat_tables(tables).to_pandas(self_destruct=True))
    if not frames:
        return pd.DataFrame(columns=[*META_IN, FILE])
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def to_frame(records: pd.DataFrame, data_contract: contract.Contract, target: str, skipped: set[str],
             files: list[str]) -> tuple[pd.DataFrame, int, list[dict]]:
    """(the batch with the contract's dtypes, how many records break the contract, examples with why).

    Column by column on whole arrays: a record's first problem is kept for the examples."""
    features = [c for c in data_contract.columns if c != target and c not in skipped]
    n = len(records)
    bad = np.zeros(n, dtype=bool)
    problems = np.full(n, "", dtype=object)

    def flag(mask, problem: str) -> None:
        new = np.asarray(mask, dtype=bool) & ~bad
        if new.any():
            problems[new] = problem
            bad[new] = True

    ids = records["record_id"].to_numpy()
    flag(pd.isna(ids) | (ids == ""), "no record_id")
    flag(records["prediction"].isna().to_numpy(), "no prediction")
    columns = {}
    for column in features:
        name = INPUT + column
        values = records[name].reset_index(drop=True) if name in records.columns \
            else pd.Series(None, index=range(n), dtype=object)
        if data_contract.dtype(column) in contract.NUMERIC:
            numbers = values if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values) \
                else pd.to_numeric(values, errors="coerce")
            if numbers is not values:
                flag(values.notna() & numbers.isna(), f"{column}: not a number")
            if data_contract.dtype(column) == "int64" and not pd.api.types.is_integer_dtype(numbers):
                flag(numbers.notna() & (numbers % 1 != 0), f"{column}: not a whole number")
            columns[column] = numbers
        else:
            columns[column] = values.where(values.isna(), values.astype(str))
        if not data_contract.nullable(column):
            flag(values.isna(), f"{column}: missing (not nullable in the contract)")
    for name in META_IN:
        columns[name] = records[name].reset_index(drop=True)
    frame = pd.DataFrame(columns, copy=False)
    where = records[FILE].to_numpy()
    examples = [{"record_id": ids[i], "file": files[int(where[i])], "problem": problems[i]}
                for i in np.flatnonzero(bad)[:EXAMPLES]]
    if bad.any():
        frame = frame[~bad].reset_index(drop=True)
    for column in features:
        if data_contract.dtype(column) == "int64" and not data_contract.nullable(column):
            frame[column] = frame[column].astype("int64")
    return frame, int(bad.sum()), examples


def read_labels(folder: str | Path, target: str) -> tuple[pd.DataFrame, list[str]]:
    """Every label file under `folder` (*.csv with a header, *.jsonl): one row per record id."""
    folder = Path(folder)
    files = sorted([*folder.glob("**/*.csv"), *folder.glob("**/*.jsonl")]) if folder.is_dir() else []
    frames = []
    for path in files:
        try:
            frame = pd.read_json(path, lines=True, dtype=False) if path.suffix == ".jsonl" \
                else pd.read_csv(path, dtype=str, keep_default_na=False)
        except ValueError as exc:
            raise PipelineError(f"{path}: not a label file ({exc})") from None
        if "record_id" not in frame.columns or target not in frame.columns:
            raise PipelineError(f"{path}: a label file needs the columns record_id and {target} "
                                f"(it has {', '.join(map(str, frame.columns)) or 'none'})")
        frame = frame[["record_id", target]].astype(str)
        frame["_file"] = str(path)
        frames.append(frame[frame[target].str.strip().ne("")])
    if not frames:
        return pd.DataFrame(columns=["record_id", target]), []
    labels = pd.concat(frames, ignore_index=True).drop_duplicates(["record_id", target])
    clash = labels[labels.duplicated("record_id", keep=False)]
    if not clash.empty:
        first = clash["record_id"].iloc[0]
        where = clash[clash["record_id"] == first]
        raise PipelineError(f"record {first!r} has different labels: "
                            + "; ".join(f"{v!r} in {f}" for v, f in zip(where[target], where["_file"], strict=True)))
    return labels.drop(columns="_file"), [str(f) for f in files]


def typed_labels(labels: pd.Series, data_contract: contract.Contract, target: str) -> pd.Series:
    """Label text as the target's dtype, so a label equals the training data's value for the same class."""
    if data_contract.dtype(target) in contract.NUMERIC:
        numbers = pd.to_numeric(labels, errors="coerce")
        bad = labels[numbers.isna()]
        if not bad.empty:
            raise PipelineError(f"labels: {target} must be a number, got {bad.iloc[0]!r}")
        return numbers.astype("int64") if data_contract.dtype(target) == "int64" else numbers
    return labels


def collect(params: dict, source: str, since: dt.datetime | None, until: dt.datetime | None = None,
            out: str | Path | None = None, labelled_only: bool = False, described: str | None = None) -> dict:
    """Read the window's records from `source`, write the batch and reports/collect.json; return the summary."""
    section = settings(params)
    target = params["data"]["target"]
    data_contract = contract.load(params["data"]["schema"])
    clash = [c for c in META if c in data_contract.columns]
    if clash:
        raise PipelineError(f"{data_contract.path}: column(s) {', '.join(clash)} clash with the capture's own "
                            "columns in the collected batch; rename them in your data")
    capture = params.get("capture") or {}
    skipped = set(capture.get("drop_columns") or []) | set(capture.get("hash_columns") or [])
    # --labelled reads every record with a label, whatever its time; a window ends now by default.
    until = until or (dt.datetime.max.replace(tzinfo=UTC) if labelled_only else dt.datetime.now(UTC))
    since_text = stamp(since) if since else ""
    counts = {"files": 0, "records": 0, "unparsable_lines": 0, "duplicates": 0, "broken": 0, "rows": 0,
              "labelled": 0, "labels": 0, "labels_without_record": 0}
    fs, files = capture_files(source, since)
    counts["files"] = len(files)
    features = [c for c in data_contract.columns if c != target and c not in skipped]
    records = read_records(fs, files, since_text, stamp(until), counts,
                           _arrow_schema(data_contract, features, target))
    counts["records"] = len(records)
    frame, broken, examples = to_frame(records, data_contract, target, skipped, files)
    del records  # the batch holds what is kept
    repeated = frame["record_id"].duplicated(keep="first").to_numpy()
    counts["duplicates"] = int(repeated.sum())
    if counts["duplicates"]:
        frame = frame[~repeated]
    counts["broken"] = broken
    labels, label_files = read_labels(section["labels"], target)
    counts["labels"] = len(labels)
    if len(labels):
        joined = frame[["record_id"]].merge(labels, on="record_id", how="left")[target]
        frame.insert(len(frame.columns) - len(META), target, joined.to_numpy())
        counts["labels_without_record"] = int((~labels["record_id"].isin(frame["record_id"])).sum())
        has = frame[target].notna()
        frame[target] = frame[target].astype(object)
        frame.loc[has, target] = typed_labels(frame.loc[has, target].astype(str), data_contract, target).to_numpy()
    else:
        frame.insert(len(frame.columns) - len(META), target, pd.Series(None, index=frame.index, dtype=object))
    if labelled_only:
        frame = frame[frame[target].notna()]
    if not frame["time"].is_monotonic_increasing:
        frame = frame.sort_values("time", kind="stable")
    counts["labelled"] = int(frame[target].notna().sum())
    counts["rows"] = len(frame)
    out = Path(out or section["current"])
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    write_csv(frame, partial)
    partial.replace(out)  # whole or not at all
    summary = {"source": described or source, "since": since_text or None, "until": stamp(until), "current": str(out),
               "label_files": label_files, "skipped_columns": sorted(skipped), **counts,
               "broken_examples": examples, "labelled_only": labelled_only}
    SUMMARY.parent.mkdir(parents=True, exist_ok=True)
    SUMMARY.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return summary


def write_csv(frame: pd.DataFrame, path: Path, parts: int = 8) -> None:
    """Arrow's CSV writer (a million rows in seconds, where pandas' takes tens), on every core: the rows in
    `parts` slices formatted two at a time in threads (Arrow releases the GIL), written in order."""
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow as pa
    from pyarrow import csv as arrow_csv

    table = pa.Table.from_pandas(frame.astype({c: "string" for c in frame.columns if frame[c].dtype == object}),
                                 preserve_index=False)

    def text(start: int, stop: int) -> bytes:
        sink = pa.BufferOutputStream()
        arrow_csv.write_csv(table.slice(start, stop - start), sink,
                            arrow_csv.WriteOptions(include_header=start == 0, quoting_style="needed"))
        return sink.getvalue().to_pybytes()

    step = max(1, -(-table.num_rows // parts))
    bounds = [(start, min(start + step, table.num_rows)) for start in range(0, table.num_rows, step)] or [(0, 0)]
    with path.open("wb") as out, ThreadPoolExecutor(2) as pool:
        for first in range(0, len(bounds), 2):  # two slices in memory at a time
            for chunk in pool.map(lambda bound: text(*bound), bounds[first:first + 2]):
                out.write(chunk)


def read_summary(path: str | Path = SUMMARY) -> dict:
    return read(path, "run `collect` first")
