"""Batch scoring (`score`): the model champion.json names, over a CSV or Parquet file, in bounded memory.

The model is the one `export` would serve: champion.json's, its bytes sha256-checked (`--model
candidate`: models/model.joblib), in export's model directory (build/model when it holds an export of
the same bytes, else build/score-model, exported once) and run by the serving image's runtime (ONNX
Runtime when the conversion passed its check, else the scikit-learn pipeline: runtimes.py). The file
is read and scored `batch.chunk_rows` rows at a time, so memory does not grow with its size. Each
chunk is checked against the data contract: a row that breaks it goes to the rejects file with the
rules it broke and never stops the batch; a missing or unexpected column stops it before anything is
scored. Every file is written under a temporary name beside its target and
renamed when the batch is done: outputs appear whole, or not at all. Scored rows are also written as
prediction-capture records (capture.py's format, source "batch"), so monitoring sees batch traffic as
it sees online traffic.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import capture, contract, paths
from ..errors import PipelineError
from ..paths import MODEL as CANDIDATE

DEFAULT_CHUNK_ROWS = 100_000
FORMATS = ("parquet", "csv")
ROW_COLUMN = "row"  # the output's row id when batch.id_column is not set: the row's position, from 0
MIX_SAMPLE = 100_000  # regression: predictions kept for the quantiles in the summary
SOURCE = "batch"


def settings(params: dict) -> dict:
    """params.yaml's `batch:` section with its defaults."""
    section = params.get("batch") or {}
    chunk_rows = int(section.get("chunk_rows") or DEFAULT_CHUNK_ROWS)
    if chunk_rows < 1:
        raise PipelineError(f"batch.chunk_rows in params.yaml must be a positive integer, not {chunk_rows}")
    return {"input": section.get("input") or "", "output": section.get("output") or paths.BATCH_OUTPUT.as_posix(),
            "id_column": section.get("id_column") or None, "chunk_rows": chunk_rows}


# --------------------------------------------------------------------------- the input


def locate(path: str | Path) -> Path:
    """The input file, pulled from the DVC remote when git tracks it (or a folder above it) with a .dvc file."""
    path = Path(path)
    if path.is_file():
        return path
    for tracked in (path, *path.parents):
        pointer = tracked.with_name(tracked.name + ".dvc") if tracked.name else None
        if pointer is not None and pointer.is_file():
            from .. import remote

            if name := remote.default():
                remote.authenticate(name)  # a GCS or SSH key from the environment (CI)
            pulled = remote.dvc("pull", str(pointer))
            if pulled.returncode != 0:
                raise PipelineError(f"{pointer}: `dvc pull` failed: {pulled.stderr.strip()[-500:]}")
            break
    if not path.is_file():
        raise PipelineError(f"{path}: file not found (nor a .dvc file tracking it)")
    return path


def file_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".csv", ".txt"):
        return "csv"
    raise PipelineError(f"{path}: expected a .csv or .parquet file")


def header(path: Path, kind: str) -> list[str]:
    if kind == "parquet":
        import pyarrow.parquet as pq

        try:
            return list(pq.ParquetFile(path).schema_arrow.names)
        except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
            raise PipelineError(f"{path}: not a readable Parquet file: {exc}") from None
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            names = next(csv.reader(handle), [])
    except UnicodeDecodeError as exc:
        raise PipelineError(f"{path}: not UTF-8 text: {exc}") from None
    if not names:
        raise PipelineError(f"{path}: the file is empty")
    repeated = sorted(name for name, n in Counter(names).items() if n > 1)
    if repeated:
        raise PipelineError(f"{path}: column '{repeated[0]}' appears {names.count(repeated[0])} times in the header")
    return names


def check_columns(path: Path, names: list[str], features: list[str], known: contract.Contract,
                  id_column: str | None) -> None:
    """A missing input column or a column the contract does not know stops the batch before anything is written."""
    missing = [name for name in features if name not in names]
    if missing:
        raise PipelineError(f"{path}: column(s) {', '.join(repr(n) for n in missing)} missing: the model takes "
                            f"them as input ({known.path}); nothing was written")
    if id_column and id_column not in names:
        raise PipelineError(f"{path}: column '{id_column}' (batch.id_column in params.yaml) is missing; "
                            "nothing was written")
    extra = [name for name in names if name not in known.columns and name != id_column]
    if extra:
        raise PipelineError(f"{path}: column(s) {', '.join(repr(n) for n in extra)} not in the data contract "
                            f"({known.path}); drop them, or name a row id column in batch.id_column; "
                            "nothing was written")


def chunks(path: Path, kind: str, chunk_rows: int, text_columns: list[str]) -> Iterator[tuple[pd.DataFrame, int]]:
    """(chunk, bytes or rows read so far) for a progress bar; pandas' C reader or pyarrow's batches."""
    if kind == "parquet":
        import pyarrow.parquet as pq

        done = 0
        for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
            done += batch.num_rows
            yield batch.to_pandas(), done
        return
    ragged(path)
    with path.open("rb") as handle:
        # Text columns stay text ('007' is a code, not 7); numbers are parsed, and a cell that is not a
        # number leaves its column as text in that chunk, to be rejected by the contract check below.
        reader = pd.read_csv(handle, chunksize=chunk_rows, dtype={name: "str" for name in text_columns},
                             encoding="utf-8-sig")
        try:
            for chunk in reader:
                yield chunk, handle.tell()
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
            raise PipelineError(f"{path}: not a readable CSV: {exc}; nothing was written") from None


def ragged(path: Path) -> None:
    """PipelineError naming the first line whose field count differs from the header's. pandas' chunked
    reader drops the extra fields of a line that starts a chunk without a word, so the stdlib counts them."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = csv.reader(handle)
            width = len(next(rows, []))
            for row in rows:
                if row and len(row) != width:
                    raise PipelineError(f"{path}: not a readable CSV: line {rows.line_num} has {len(row)} fields, "
                                        f"the header {width}; nothing was written")
    except (csv.Error, UnicodeDecodeError) as exc:
        raise PipelineError(f"{path}: not a readable CSV: {exc}; nothing was written") from None


def total(path: Path, kind: str) -> tuple[int, str]:
    """What the progress bar counts to: rows of a Parquet file (its footer says), bytes of a CSV."""
    if kind == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows, "row"
    return path.stat().st_size, "B"


# --------------------------------------------------------------------------- the contract, row by row


def validate(frame: pd.DataFrame, known: contract.Contract, names: list[str],
             declared: dict[str, list]) -> tuple[pd.DataFrame, pd.Series]:
    """(the model's input columns typed as the contract says, one reason per bad row: the rules it broke).

    The rules are check's: the dtype (text in a number column, a fraction in an int64 one), finite
    numbers, no missing value where the column is not nullable, and the rules declared in schema.yaml.
    A reason reads "column: rule (value)"; reasons of one row are joined with "; ".
    """
    typed = {}
    problems: list[tuple[pd.Series, str, str, pd.Series | None]] = []  # (mask, column, rule, values)
    for name in names:
        raw = frame[name]
        missing = raw.isna()
        dtype = known.dtype(name)
        if dtype in contract.NUMERIC:
            numbers = (pd.to_numeric(raw, errors="coerce") if raw.dtype == object else raw).astype("float64")
            text = ~missing & numbers.isna()
            infinite = pd.Series(np.isinf(numbers.to_numpy()), index=raw.index)
            fraction = (~infinite & numbers.notna() & numbers.mod(1).ne(0)) if dtype == "int64" else None
            for mask, rule in ((text, f"coerce_dtype('{dtype}')"), (fraction, f"coerce_dtype('{dtype}')"),
                               (infinite, "finite")):
                if mask is not None and mask.any():
                    problems.append((mask, name, rule, raw))
            typed[name] = numbers.mask(text | infinite)
        else:
            # Parquet may hold numbers in a text column: their text, as a CSV read would give it.
            typed[name] = raw if raw.dtype == object else raw.astype(str).where(~missing, np.nan).astype(object)
        if missing.any() and not known.nullable(name):
            problems.append((missing, name, "not_nullable", None))
        for check in declared.get(name, ()):
            values = typed[name]
            present = values.notna()
            if not present.any():
                continue
            result = check(values[present]).check_output
            passed = pd.Series(True, index=values.index)
            if isinstance(result, pd.Series):
                passed.loc[present] = result.reindex(values[present].index).fillna(False).astype(bool)
            else:
                passed.loc[present] = bool(result)
            if (~passed).any():
                problems.append((~passed, name, check.error or check.name, values))
    typed_frame = pd.DataFrame(typed, index=frame.index)
    reasons: dict[Any, list[str]] = {}
    for mask, name, rule, values in problems:
        for index in mask.index[mask.to_numpy()]:
            shown = "" if values is None else f" ({_plain(values.at[index])!r})"
            reasons.setdefault(index, []).append(f"{name}: {rule}{shown}")
    return typed_frame, pd.Series({index: "; ".join(found) for index, found in reasons.items()}, dtype=object)


def declared_checks(schema_path: str, names: list[str]) -> dict[str, list]:
    """The pandera checks declared on the model's input columns in schema.yaml (none: pandera is not needed)."""
    known = contract.load(schema_path)
    if not any(known.rules(name) for name in names if name in known.columns):
        return {}
    schema = contract.pandera_schema(schema_path)
    return {name: list(schema.columns[name].checks) for name in names if schema.columns[name].checks}


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


# --------------------------------------------------------------------------- prediction capture


class CaptureFiles:
    """Prediction-capture records of one batch, in capture.py's format and file layout (shared with the app).

    The app's writer (capture.CaptureFile) appends to live files; a batch stages its lines in hidden
    temporary files beside them, rotated by size, and `commit` renames them into place once the batch is
    done, so a failed batch leaves no capture records behind, like its other outputs.
    """

    def __init__(self, folder: Path, rotate_bytes: int) -> None:
        self.folder, self.rotate_bytes = folder, rotate_bytes
        self.host, self.pid = capture.host_name(), os.getpid()
        self.files: list[Path] = []  # temporary files, in order
        self._fd: int | None = None
        self._size = 0
        self.records = 0

    def _open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        temporary = self.folder / f".batch-{uuid.uuid4().hex}.jsonl.tmp"
        self._fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        self.files.append(temporary)
        self._size = 0

    def write(self, lines: list[str]) -> None:
        if not lines:
            return
        if self._fd is None or self._size >= self.rotate_bytes:
            self.close()
            self._open()
        data = "".join(lines).encode("utf-8")
        os.write(self._fd, data)  # whole lines on an O_APPEND descriptor
        self._size += len(data)
        self.records += len(lines)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def commit(self) -> list[str]:
        """Rename the staged files to capture.file_path names (the next free number for this process)."""
        self.close()
        now, n, done = datetime.now(timezone.utc), 0, []  # noqa: UP017 (UTC is 3.11+)
        for temporary in self.files:
            while True:
                n += 1
                final = capture.file_path(self.folder, now, self.host, self.pid, n)
                if not final.exists():
                    break
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temporary, final)
            done.append(str(final))
        return done

    def discard(self) -> None:
        self.close()
        for temporary in self.files:
            temporary.unlink(missing_ok=True)


def capture_settings(params: dict, enabled: bool, features: list[str]) -> capture.Settings | None:
    """params.yaml's `capture:` section as capture.py checks it (shared with the app), or None when off."""
    found = capture.settings(params.get("capture"))
    if not enabled or not found.enabled:
        return None
    capture.check_columns(found, features)
    return found


CAPTURE_SLICE = 10_000  # records built at a time: their text, not the chunk's, is what memory holds


def capture_lines(raw: pd.DataFrame, rows: np.ndarray, request_id: str, model: dict, predictions: np.ndarray,
                  probabilities: np.ndarray | None, classes: list[str],
                  options: capture.Settings) -> Iterator[list[str]]:
    """Capture records (capture.py's format) of one chunk's scored rows, CAPTURE_SLICE rows at a time.

    The inputs are the row as scored, after drop/hash; pandas writes their JSON (NaN as null) in C,
    and each line is put together around it: a Python dict per row would cost several times more.
    """
    stamp = capture.timestamp()
    inputs = raw[[c for c in raw.columns if c not in options.drop_columns]]
    for name in set(options.hash_columns) & set(inputs.columns):
        inputs = inputs.assign(**{name: inputs[name].map(
            lambda v: None if pd.isna(v) else capture.hash_value(_plain(v)))})
    version = json.dumps(None if model["version"] is None else str(model["version"]))
    head = (f'"request_id":"{request_id}","time":"{stamp}","source":"{SOURCE}","model_version":'
            f'{version},"model_sha256":{json.dumps(model["sha256"])},')
    for start in range(0, len(inputs), CAPTURE_SLICE):
        part = slice(start, start + CAPTURE_SLICE)
        values = inputs.iloc[part].to_json(orient="records", lines=True, double_precision=15).splitlines()
        labels = [json.dumps(_plain(v)) for v in predictions[part]]
        if probabilities is None:
            chances = ["null"] * len(labels)
        else:
            chances = pd.DataFrame(probabilities[part], columns=classes).to_json(
                orient="records", lines=True, double_precision=15).splitlines()
        # Braces by concatenation: this file is a template, where two braces in a row would be a placeholder.
        yield ["{" + f'"record_id":"{request_id}-{row}",{head}"inputs":{value},"prediction":{label},'
               f'"probabilities":{chance},"latency_ms":null' + "}\n"
               for row, value, label, chance in zip(rows[part].tolist(), values, labels, chances, strict=True)]


# --------------------------------------------------------------------------- the model


EXPORTED = (paths.MODEL_DIR, paths.SCORE_MODEL_DIR)  # `export`'s default directory, then score's own


def _exported(folder: Path, sha: str, alias: str) -> bool:
    try:
        metadata = json.loads((folder / paths.METADATA_FILE).read_text())
    except (OSError, ValueError):
        return False
    model_file = paths.ONNX_FILE if metadata.get("runtime") == "onnx" else paths.MODEL_FILE
    return (metadata.get("model_sha256") == sha and metadata.get("alias") == alias
            and (folder / model_file).is_file() and (folder / paths.SCHEMA_FILE).is_file())


def load_model(params: dict, source: str) -> tuple[Any, dict, list[dict]]:
    """The model as the serving image runs it: `export`'s directory of the sha256-checked champion (or the
    candidate), loaded by runtimes.py. A directory already exported from the same bytes (build/model, or
    build/score-model from an earlier run) is reused; otherwise the model is exported to build/score-model."""
    from .. import champion
    from . import serve

    if source == "champion":
        sha = champion.sha256_file(champion.fetch(champion.read()))  # refuses bytes champion.json does not name
    elif source == "candidate" and CANDIDATE.is_file():
        sha = champion.sha256_file(CANDIDATE)
    else:
        sha = None  # export.load says what is missing
    found = next((folder for folder in EXPORTED if sha and _exported(folder, sha, source)), None)
    if found is None:
        from . import export  # the converter (skl2onnx) and scikit-learn: only when there is something to export

        model, record = export.load(params, source)
        features = [str(name) for name in getattr(model, "feature_names_in_", [])]
        columns = contract.input_schema(params, features or None)
        metadata = {**record, "task": params["task"], "target": params["data"]["target"]}
        found = EXPORTED[-1]
        fresh = found.with_name(f".{found.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            export.write(fresh, model, metadata, columns, export.held_out_split(params, columns))
            shutil.rmtree(found, ignore_errors=True)
            os.replace(fresh, found)  # a directory appears whole: an interrupted export is never reused
        finally:
            shutil.rmtree(fresh, ignore_errors=True)
    return serve.load_model_dir(found, threads=0)  # every core: one process scores the whole file


# --------------------------------------------------------------------------- scoring


def _temporary(final: Path) -> Path:
    final.parent.mkdir(parents=True, exist_ok=True)
    return final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}.tmp")


def _output_schema(id_name: str, id_type: Any, classes: list[str]) -> Any:
    import pyarrow as pa

    fields = [pa.field(id_name, id_type), pa.field("prediction", pa.string() if classes else pa.float64())]
    fields += [pa.field(f"probability_{label}", pa.float64()) for label in classes]
    fields += [pa.field("model_version", pa.int64()), pa.field("model_sha256", pa.string())]
    return pa.schema(fields)


class Mix:
    """The prediction mix: counts per label, or for a regression the mean and quantiles of a bounded sample."""

    def __init__(self, classify: bool) -> None:
        self.classify = classify
        self.counts: Counter = Counter()
        self.sample: list[np.ndarray] = []
        self.kept, self.step, self.total, self.n = 0, 1, 0.0, 0

    def add(self, predictions: np.ndarray) -> None:
        if self.classify:
            self.counts.update(predictions.tolist())
            return
        self.total += float(predictions.sum())
        self.n += len(predictions)
        self.sample.append(predictions[:: self.step].copy())
        self.kept += len(self.sample[-1])
        if self.kept > MIX_SAMPLE:  # thin the sample: memory stays bounded whatever the file's size
            self.sample = [np.concatenate(self.sample)[::2]]
            self.kept, self.step = len(self.sample[0]), self.step * 2

    def result(self) -> dict:
        if self.classify:
            n = sum(self.counts.values())
            return {str(k): {"rows": v, "share": v / n} for k, v in sorted(self.counts.items())} if n else {}
        if not self.n:
            return {}
        values = np.concatenate(self.sample)
        q10, q50, q90 = np.quantile(values, [0.1, 0.5, 0.9])
        return {"mean": self.total / self.n, "p10": float(q10), "p50": float(q50), "p90": float(q90)}


def training_mix(params: dict) -> dict | None:
    """The training data's target in the same form as the prediction mix, or None when the file is not here."""
    path, target = Path(params["data"]["path"]), params["data"]["target"]
    if not path.is_file():
        return None
    try:
        values = pd.read_csv(path, usecols=[target])[target].dropna()
    except (ValueError, pd.errors.ParserError):
        return None
    mix = Mix(params["task"] == "classification")
    mix.add(values.astype(str).to_numpy(dtype=object) if mix.classify else values.astype("float64").to_numpy())
    return mix.result()


def run(params: dict, source: str | Path | None = None, out: str | Path | None = None, *, model: str = "champion",
        output_format: str | None = None, chunk_rows: int | None = None, record: bool = True,
        progress: bool | None = None) -> dict:
    """Score `source` (default: batch.input) into `out` (default: batch.output); return the summary."""
    options = settings(params)
    source = source or options["input"]
    if not source:
        raise PipelineError("no input: pass a file, or set batch.input in params.yaml")
    out = Path(out or options["output"])
    kind = output_format or ("csv" if out.suffix.lower() == ".csv" else "parquet")
    if kind not in FORMATS:
        raise PipelineError(f"--format: expected one of {', '.join(FORMATS)}, not {kind!r}")
    chunk_rows = int(chunk_rows or options["chunk_rows"])
    if chunk_rows < 1:
        raise PipelineError(f"--chunk-rows must be a positive integer, not {chunk_rows}")
    id_column = options["id_column"]
    path = locate(source)
    in_kind = file_format(path)
    known = contract.load(params["data"]["schema"])
    names = header(path, in_kind)
    started = time.perf_counter()

    scorer, metadata, columns = load_model(params, model)
    features = [column["name"] for column in columns]
    check_columns(path, names, features, known, id_column)
    declared = declared_checks(params["data"]["schema"], features)
    classes = [str(c) for c in scorer.classes]
    model_info = {"name": metadata.get("model_name"), "version": metadata.get("version"),
                  "sha256": metadata.get("model_sha256"), "runtime": scorer.runtime,
                  "alias": metadata.get("alias")}
    text_columns = [n for n in names if n in known.columns and known.dtype(n) == "str"]
    if id_column:
        text_columns.append(id_column)

    rejects_path = out.with_name(out.stem + paths.REJECTS_SUFFIX)
    summary_path = out.with_name(out.stem + paths.BATCH_SUMMARY_SUFFIX)
    request_id = uuid.uuid4().hex
    capture_options = capture_settings(params, record, features)
    captured = CaptureFiles(capture_options.dir, capture_options.rotate_bytes) if capture_options else None
    rng = np.random.default_rng(int(request_id[:8], 16))
    temporaries = {out: _temporary(out), rejects_path: _temporary(rejects_path)}
    mix, reject_rules = Mix(bool(classes)), Counter()
    rows = scored = rejected = 0
    id_name = id_column or ROW_COLUMN
    writer = None
    count_to, unit = total(path, in_kind)
    show = sys.stderr.isatty() if progress is None else progress
    from tqdm import tqdm

    bar = tqdm(total=count_to, unit=unit, unit_scale=True, disable=not show, desc=f"scoring {path.name}",
               file=sys.stderr)
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq

        with open(temporaries[rejects_path], "w", newline="", encoding="utf-8") as rejects_file:
            rejects = csv.writer(rejects_file)
            rejects.writerow([id_name, "line", "reasons", *names])
            seen = 0
            for chunk, done in chunks(path, in_kind, chunk_rows, text_columns):
                positions = np.arange(rows, rows + len(chunk))
                chunk.index = positions
                rows += len(chunk)
                typed, reasons = validate(chunk, known, features, declared)
                good = ~typed.index.isin(reasons.index)
                if good.any():
                    predictions, probabilities = scorer.score_frame(typed[good])
                    output = predictions if not classes else None
                    finite = np.isfinite(probabilities if classes else output.reshape(-1, 1)).all(axis=1)
                    if not finite.all():  # e.g. an overflow: not a prediction anyone should act on
                        bad = positions[good][~finite]
                        reasons = pd.concat([reasons, pd.Series("model: output_finite (the model's output is "
                                                                "not a finite number)", index=bad, dtype=object)])
                        keep = np.flatnonzero(good)[finite]
                        good = np.zeros(len(chunk), dtype=bool)
                        good[keep] = True
                        predictions = predictions[finite]
                        probabilities = probabilities[finite] if probabilities is not None else None
                else:
                    predictions, probabilities = np.array([], dtype=object if classes else np.float64), None
                ids = chunk[id_column][good] if id_column else pd.Series(positions[good])
                table = {id_name: ids.to_numpy(), "prediction": predictions}
                for i, label in enumerate(classes):
                    table[f"probability_{label}"] = (probabilities[:, i] if probabilities is not None
                                                     else np.array([], dtype=np.float64))
                table["model_version"] = np.full(int(good.sum()), model_info["version"] or 0, dtype=np.int64)
                table["model_sha256"] = np.full(int(good.sum()), model_info["sha256"], dtype=object)
                if writer is None:
                    id_type = (pa.int64() if not id_column else pa.string() if in_kind == "csv"
                               else pa.Schema.from_pandas(chunk[[id_column]], preserve_index=False).field(0).type)
                    schema = _output_schema(id_name, id_type, classes)
                    if kind == "parquet":
                        writer = pq.ParquetWriter(temporaries[out], schema)
                    else:
                        writer = open(temporaries[out], "w", newline="", encoding="utf-8")  # noqa: SIM115
                        writer.write(",".join(schema.names) + "\n")
                arrays = pa.table(table, schema=schema)
                if model_info["version"] is None:  # a candidate has no version yet: null, not 0
                    arrays = arrays.set_column(arrays.schema.get_field_index("model_version"), "model_version",
                                               pa.nulls(len(arrays), pa.int64()))
                if kind == "parquet":
                    writer.write_table(arrays)
                else:
                    arrays.to_pandas().to_csv(writer, header=False, index=False, lineterminator="\n")
                mix.add(predictions)
                scored += len(arrays)
                if len(reasons):
                    reasons = reasons.sort_index()
                    rejected += len(reasons)
                    raw = chunk.loc[reasons.index]
                    for index, reason in reasons.items():
                        reject_rules.update(part.split(" (")[0] for part in reason.split("; "))
                        row_id = raw.at[index, id_column] if id_column else index
                        line = index + 2 if in_kind == "csv" else ""
                        rejects.writerow([_cell(row_id), line, reason,
                                          *(_cell(v) for v in raw.loc[index, names].tolist())])
                if captured is not None and len(arrays):
                    kept = np.flatnonzero(good)
                    picked = (np.ones(len(kept), dtype=bool) if capture_options.sample_rate >= 1
                              else rng.random(len(kept)) < capture_options.sample_rate)
                    if picked.any():
                        for lines in capture_lines(
                                typed.iloc[kept[picked]],  # the values scored: numbers as numbers
                                positions[kept[picked]], request_id, model_info, predictions[picked],
                                None if probabilities is None else probabilities[picked], classes, capture_options):
                            captured.write(lines)
                bar.update(done - seen)
                bar.set_postfix(rows=rows, rejected=rejected, refresh=False)
                seen = done
        if rows == 0:
            raise PipelineError(f"{path}: the file has a header but no rows; nothing was written")
        if writer is not None:
            writer.close()
            writer = None
        summary = {
            "input": str(path), "output": str(out), "format": kind, "rejects": str(rejects_path),
            "summary": str(summary_path), "rows": rows, "scored": scored, "rejected": rejected,
            "reject_rules": dict(reject_rules.most_common()), "model": model_info, "task": params["task"],
            "id_column": id_name, "chunk_rows": chunk_rows, "request_id": request_id,
            "prediction_mix": mix.result(), "training_mix": training_mix(params),
            "capture": None, "seconds": round(time.perf_counter() - started, 3),
        }
        if captured is not None:
            summary["capture"] = {"dir": str(capture_options.dir), "records": captured.records,
                                  "sample_rate": capture_options.sample_rate, "files": len(captured.files)}
        temporaries[summary_path] = _temporary(summary_path)
        temporaries[summary_path].write_text(json.dumps(summary, indent=2, default=str) + "\n")
        # Every output is complete: the renames are what make them appear.
        for final in (rejects_path, summary_path, out):
            os.replace(temporaries[final], final)
        if captured is not None:
            captured.commit()
        return summary
    except BaseException:
        if writer is not None:
            writer.close()
        if captured is not None:
            captured.discard()
        raise
    finally:
        bar.close()
        for temporary in temporaries.values():
            temporary.unlink(missing_ok=True)


def _cell(value: Any) -> Any:
    value = _plain(value)
    return "" if value is None or (isinstance(value, float) and value != value) else value
