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
it sees online traffic. `resume` keeps finished chunks in a work folder, so an interrupted run goes on.

Speed: no Python per row. Arrow parses the file in C (a thread reads the next chunk while this one is
scored), the contract's rules are numpy passes over whole columns, each chunk is one call of the model
on every core, and Arrow writes the output. Nothing imports MLflow, pandera (unless schema.yaml declares
rules), scikit-learn (unless the model is the joblib fallback) or FastAPI.
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


# Arrow's CSV block: its reader holds some tens of blocks ahead, so small blocks bound memory (1 MB: ~40 MB held)
# at no cost in speed; a block must still hold whole lines, so long lines get longer blocks.
BLOCK_BYTES = 1 << 20
LINES_PER_BLOCK = 64


def chunks(path: Path, kind: str, chunk_rows: int) -> Iterator[tuple[Any, int]]:
    """(an Arrow table of exactly chunk_rows rows, the last one fewer; bytes or rows read so far).

    A CSV is parsed by Arrow's streaming reader (blocks converted on every core, in C) with every column
    as text: numbers are parsed per column afterwards (validate), so a cell that is not a number is a
    rejected row, not a failed file. Arrow's default null tokens are pandas' ('', NA, NaN, null, ...),
    and it refuses a line with more or fewer fields than the header (ragged names its line)."""
    import pyarrow as pa

    if kind == "parquet":
        import pyarrow.parquet as pq

        done = 0
        for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
            done += batch.num_rows
            yield pa.Table.from_batches([batch]), done
        return
    import pyarrow.csv as pacsv

    names = header(path, kind)
    source = pa.OSFile(str(path))  # read, not mapped: a mapped file's pages would count as this process' memory
    try:
        reader = pacsv.open_csv(
            source, read_options=pacsv.ReadOptions(block_size=_block_bytes(path)),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types={name: pa.string() for name in names},
                                                 strings_can_be_null=True))
        pending: list = []  # batches not yet handed out, and their rows
        held = 0
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            pending.append(batch)
            held += batch.num_rows
            while held >= chunk_rows:  # exactly chunk_rows rows a chunk, whatever Arrow's block held
                table = pa.Table.from_batches(pending)
                yield table.slice(0, chunk_rows), source.tell()
                rest = table.slice(chunk_rows)
                pending, held = rest.to_batches(), rest.num_rows
        if held:
            yield pa.Table.from_batches(pending), source.tell()
    except pa.ArrowInvalid as exc:
        if "columns, got" in str(exc):
            ragged(path)  # names the line; Arrow's threads do not know it
        raise PipelineError(f"{path}: not a readable CSV: {exc}; nothing was written") from None
    finally:
        source.close()


def ahead(items: Iterator, depth: int = 1) -> Iterator:
    """`items`, produced by a thread `depth` items ahead: Arrow parses the next chunk while ONNX Runtime
    scores this one (both release the GIL), so a core is not left idle while one of them runs alone.
    An exception in the thread is raised here; closing this generator stops the thread."""
    import queue
    import threading

    handoff: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        handoff.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            handoff.put((end, None))
        except BaseException as exc:  # handed to the consumer, raised there
            handoff.put((end, exc))

    thread = threading.Thread(target=produce, name="score-reader", daemon=True)
    thread.start()
    try:
        while True:
            item, error = handoff.get()
            if item is end:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                handoff.get(timeout=0.1)
            except queue.Empty:
                pass
        if hasattr(items, "close"):
            items.close()


def _block_bytes(path: Path) -> int:
    """Arrow's CSV block size: BLOCK_BYTES, or LINES_PER_BLOCK of the file's longest first lines."""
    with path.open("rb") as handle:
        longest = max((len(line) for line in handle.read(1 << 20).split(b"\n")), default=0)
    return max(BLOCK_BYTES, LINES_PER_BLOCK * longest)


def ragged(path: Path) -> None:
    """PipelineError naming the first line whose field count differs from the header's (the slow path of
    a file Arrow refused: the stdlib reader counts lines)."""
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


# --------------------------------------------------------------------------- the contract, column by column


def validate(table: Any, known: contract.Contract, names: list[str],
             declared: dict[str, list]) -> tuple[dict[str, np.ndarray], dict[int, str]]:
    """(the model's input columns typed as the contract says, {row in the chunk: the rules it broke}).

    The rules are check's: the dtype (text in a number column, a fraction in an int64 one), finite
    numbers, no missing value where the column is not nullable, and the rules declared in schema.yaml.
    Each rule is one vectorized pass over a column; only the rows that broke one are visited in Python.
    A reason reads "column: rule (value)"; reasons of one row are joined with "; ".
    """
    typed: dict[str, np.ndarray] = {}
    problems: list[tuple[np.ndarray, str, str, Any]] = []  # (mask, column, rule, values shown)
    for name in names:
        raw = table.column(name).combine_chunks()
        dtype = known.dtype(name)
        if dtype in contract.NUMERIC:
            numbers, missing, text = _numbers(raw)
            infinite = np.isinf(numbers)
            fraction = None
            if dtype == "int64":
                with np.errstate(invalid="ignore"):  # inf % 1 is NaN: infinite cells are their own rule
                    fraction = ~infinite & ~np.isnan(numbers) & (np.mod(numbers, 1) != 0)
            for mask, rule in ((text, f"coerce_dtype('{dtype}')"), (fraction, f"coerce_dtype('{dtype}')"),
                               (infinite, "finite")):
                if mask is not None and mask.any():
                    problems.append((mask, name, rule, raw))
            numbers[text | infinite] = np.nan
            typed[name] = numbers
        else:
            typed[name], missing = _texts(raw)
        if not known.nullable(name) and missing.any():
            problems.append((missing, name, "not_nullable", None))
        for check in declared.get(name, ()):
            values = pd.Series(typed[name])
            present = values.notna().to_numpy()
            if not present.any():
                continue
            result = check(values[present]).check_output
            passed = np.ones(len(values), dtype=bool)
            passed[present] = (result.fillna(False).to_numpy(dtype=bool) if isinstance(result, pd.Series)
                               else bool(result))
            if not passed.all():
                problems.append((~passed, name, check.error or check.name, typed[name]))
    reasons: dict[int, list[str]] = {}
    for mask, name, rule, values in problems:
        for row in np.flatnonzero(mask).tolist():
            shown = "" if values is None else f" ({_shown(values, row)!r})"
            reasons.setdefault(row, []).append(f"{name}: {rule}{shown}")
    return typed, {row: "; ".join(found) for row, found in sorted(reasons.items())}


def _numbers(raw: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(float64 values, NaN where missing or not a number; missing mask; not-a-number mask) of one column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_integer(raw.type) or pa.types.is_floating(raw.type) or pa.types.is_boolean(raw.type):
        numbers = raw.cast(pa.float64()).to_numpy(zero_copy_only=False).copy()  # Parquet: typed already
        missing = np.isnan(numbers)
        return numbers, missing, np.zeros(len(numbers), dtype=bool)
    if not (pa.types.is_string(raw.type) or pa.types.is_large_string(raw.type)):
        raw = raw.cast(pa.string())
    missing = raw.is_null().to_numpy(zero_copy_only=False)
    try:
        numbers = pc.cast(raw, pa.float64()).to_numpy(zero_copy_only=False).copy()
    except pa.ArrowInvalid:  # a cell is not a number: pandas' lenient parser finds which (and takes ' 1.5')
        numbers = pd.to_numeric(raw.to_pandas(), errors="coerce").to_numpy(dtype=np.float64, copy=True)
    return numbers, missing, ~missing & np.isnan(numbers)


def _texts(raw: Any) -> tuple[np.ndarray, np.ndarray]:
    """(object array of str, None where missing; missing mask) of a text column."""
    import pyarrow as pa

    missing = raw.is_null().to_numpy(zero_copy_only=False)
    if pa.types.is_string(raw.type) or pa.types.is_large_string(raw.type):
        return raw.to_numpy(zero_copy_only=False), missing
    # Parquet may hold numbers in a text column: their text, as a CSV read would give it.
    values = np.array([None if v is None else str(v) for v in raw.to_pylist()], dtype=object)
    return values, missing


def _shown(values: Any, row: int) -> Any:
    return values[row].as_py() if hasattr(values, "type") else _plain(values[row])


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

    def __init__(self, folder: Path, rotate_bytes: int, stage: Path | None = None, prefix: str = "") -> None:
        self.folder, self.rotate_bytes = folder, rotate_bytes
        # A resumable run stages each chunk's files in a hidden folder of the capture folder, named by chunk,
        # so a rerun finds those of finished chunks (same file system as their final place: renames work).
        self.stage, self.prefix = stage, prefix
        self.host, self.pid = capture.host_name(), os.getpid()
        self.files: list[Path] = []  # temporary files, in order
        self._fd: int | None = None
        self._size = 0
        self.records = 0

    def _open(self) -> None:
        folder = self.stage or self.folder
        folder.mkdir(parents=True, exist_ok=True)
        temporary = (folder / f"{self.prefix}{len(self.files):04d}.jsonl" if self.stage
                     else folder / f".batch-{uuid.uuid4().hex}.jsonl.tmp")
        self._fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
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
    from . import runtimes  # not serve: FastAPI is not needed to score a file

    if source == "champion":
        record = champion.read()
        champion.fetch(record)  # hashes the bytes once and refuses any that champion.json does not name
        sha = record["model_sha256"]
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
    return runtimes.load_model_dir(found, threads=0)  # every core: one process scores the whole file


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


class Sink:
    """Where scored chunks end up: the output's writer (Parquet, a row group per chunk, or CSV), the rejects
    file, and the summary's tallies (rows scored and rejected, the rules broken, the prediction mix)."""

    def __init__(self, out: Path, kind: str, rejects: Path, header_row: list[str], classify: bool) -> None:
        self.out, self.kind, self.classify = out, kind, classify
        self.writer = None
        self._rejects_file = open(rejects, "w", newline="", encoding="utf-8")  # noqa: SIM115 (closed by close)
        self._rejects = csv.writer(self._rejects_file)
        self._rejects.writerow(header_row)
        self.mix, self.reject_rules = Mix(classify), Counter()
        self.scored = self.rejected = 0

    def add(self, table: Any, rejected: list[list]) -> None:
        import pyarrow.compute as pc

        if self.writer is None:
            self.writer = _writer(self.out, table.schema, self.kind)
        self.writer.write_table(table)
        self.scored += table.num_rows
        if self.classify:
            counts = pc.value_counts(table.column("prediction")).to_pylist() if table.num_rows else []
            self.mix.counts.update({item["values"]: item["counts"] for item in counts})
        else:
            self.mix.add(table.column("prediction").to_numpy())
        for row in rejected:
            self._rejects.writerow(row)
            self.reject_rules.update(part.split(" (")[0] for part in row[2].split("; "))
        self.rejected += len(rejected)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        self._rejects_file.close()


class Work:
    """A resumable run's finished chunks, in a hidden folder beside the output: each chunk's scored table
    (Parquet), its rejects (JSON lines) and, written last, a marker with its counts. A rerun with the same
    input file (path, size, modification time), model, chunk size and settings skips the chunks that have
    a marker; anything else starts the folder afresh. The output is assembled from it at the end."""

    def __init__(self, out: Path, key: dict) -> None:
        self.folder = out.with_name(f".{out.name}.work")
        state = self.folder / "state.json"
        try:
            found = json.loads(state.read_text())
        except (OSError, ValueError):
            found = {}
        if found.get("key") != key:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder.mkdir(parents=True)
            found = {"key": key, "request_id": uuid.uuid4().hex}
            _write_atomic(state, json.dumps(found) + "\n")
        self.request_id: str = found["request_id"]

    def marker(self, index: int) -> Path:
        return self.folder / f"{index:06d}.done.json"

    def done(self, index: int) -> dict | None:
        try:
            return json.loads(self.marker(index).read_text())
        except (OSError, ValueError):
            return None

    def save(self, index: int, table: Any, rejected: list[list], counts: dict) -> None:
        import pyarrow.parquet as pq

        part = self.folder / f"{index:06d}.parquet"
        temporary = _temporary(part)
        pq.write_table(table, temporary)
        os.replace(temporary, part)
        _write_atomic(self.folder / f"{index:06d}.rejects.jsonl",
                      "".join(json.dumps(row, default=str) + "\n" for row in rejected))
        _write_atomic(self.marker(index), json.dumps(counts) + "\n")

    def load(self, index: int) -> tuple[Any, list[list]]:
        import pyarrow.parquet as pq

        table = pq.read_table(self.folder / f"{index:06d}.parquet")
        lines = (self.folder / f"{index:06d}.rejects.jsonl").read_text().splitlines()
        return table, [json.loads(line) for line in lines]

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _write_atomic(path: Path, text: str) -> None:
    temporary = _temporary(path)
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def run(params: dict, source: str | Path | None = None, out: str | Path | None = None, *, model: str = "champion",
        output_format: str | None = None, chunk_rows: int | None = None, record: bool = True,
        progress: bool | None = None, resume: bool = False) -> dict:
    """Score `source` (default: batch.input) into `out` (default: batch.output); return the summary.

    `resume`: keep each finished chunk in a work folder beside the output, and skip the chunks an
    interrupted run with the same input, model and settings finished; the outputs still appear whole
    at the end, and the work folder goes."""
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

    rejects_path = out.with_name(out.stem + paths.REJECTS_SUFFIX)
    summary_path = out.with_name(out.stem + paths.BATCH_SUMMARY_SUFFIX)
    capture_options = capture_settings(params, record, features)
    work = None
    if resume:
        stat = path.stat()
        work = Work(out, {"input": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                          "model_sha256": model_info["sha256"], "chunk_rows": chunk_rows, "id_column": id_column,
                          "schema": Path(params["data"]["schema"]).read_text(),
                          "capture": None if capture_options is None else [str(capture_options.dir),
                                                                           capture_options.sample_rate]})
    request_id = work.request_id if work else uuid.uuid4().hex
    stage = capture_options.dir / f".batch-{request_id}" if capture_options and work else None
    captured = (CaptureFiles(capture_options.dir, capture_options.rotate_bytes)
                if capture_options and not work else None)
    temporaries = {out: _temporary(out), rejects_path: _temporary(rejects_path)}
    id_name = id_column or ROW_COLUMN
    sink = Sink(temporaries[out], kind, temporaries[rejects_path], [id_name, "line", "reasons", *names], bool(classes))
    rows = records = resumed = 0
    finished: list[int] = []
    count_to, unit = total(path, in_kind)
    show = sys.stderr.isatty() if progress is None else progress
    bar = None
    if show:
        from tqdm import tqdm

        bar = tqdm(total=count_to, unit=unit, unit_scale=True, desc=f"scoring {path.name}", file=sys.stderr)
    import pyarrow as pa

    labels = pa.array(classes, pa.string())
    version = (pa.scalar(int(model_info["version"]), pa.int64()) if model_info["version"] is not None
               else pa.scalar(None, pa.int64()))  # a candidate has no version yet: null, not 0
    sha = pa.scalar(model_info["sha256"], pa.string())
    try:
        seen = 0
        for index, (table, done) in enumerate(ahead(chunks(path, in_kind, chunk_rows))):
            size = table.num_rows
            positions = np.arange(rows, rows + size)
            rows += size
            finished.append(index)
            counts = work.done(index) if work else None
            if counts is not None and counts.get("rows") == size:
                resumed += 1
                records += counts.get("records", 0)
            else:
                table_out, rejected, lines = _score_chunk(
                    table, positions, known, features, declared, scorer, classes, labels, version, sha, id_column,
                    id_name, names, in_kind)
                chunk_capture = captured
                if stage is not None:
                    for partial in stage.glob(f"{index:06d}-*.jsonl"):  # an interrupted try at this chunk
                        partial.unlink()
                    chunk_capture = CaptureFiles(capture_options.dir, capture_options.rotate_bytes, stage,
                                                 f"{index:06d}-")
                written = 0
                if chunk_capture is not None and lines is not None:
                    rng = np.random.default_rng([int(request_id[:8], 16), index])
                    for part in lines(capture_options, request_id, model_info, rng):
                        chunk_capture.write(part)
                        written += len(part)
                if stage is not None:
                    chunk_capture.close()
                records += written
                if work:
                    work.save(index, table_out, rejected, {"rows": size, "records": written})
                else:
                    sink.add(table_out, rejected)
            if bar is not None:
                bar.update(done - seen)
                bar.set_postfix(rows=rows, rejected=sink.rejected, refresh=False)
            seen = done
        if rows == 0:
            raise PipelineError(f"{path}: the file has a header but no rows; nothing was written")
        if work:
            for index in finished:  # the output, whole, from the chunks kept
                sink.add(*work.load(index))
        sink.close()
        summary = {
            "input": str(path), "output": str(out), "format": kind, "rejects": str(rejects_path),
            "summary": str(summary_path), "rows": rows, "scored": sink.scored, "rejected": sink.rejected,
            "reject_rules": dict(sink.reject_rules.most_common()), "model": model_info, "task": params["task"],
            "id_column": id_name, "chunk_rows": chunk_rows, "request_id": request_id,
            "prediction_mix": sink.mix.result(), "training_mix": training_mix(params),
            "capture": None, "resumed_chunks": resumed, "seconds": round(time.perf_counter() - started, 3),
        }
        staged = sorted(stage.glob("*.jsonl")) if stage is not None and stage.is_dir() else []
        if capture_options is not None:
            summary["capture"] = {"dir": str(capture_options.dir), "records": records,
                                  "sample_rate": capture_options.sample_rate,
                                  "files": len(captured.files) if captured is not None else len(staged)}
        temporaries[summary_path] = _temporary(summary_path)
        temporaries[summary_path].write_text(json.dumps(summary, indent=2, default=str) + "\n")
        # Every output is complete: the renames are what make them appear.
        for final in (rejects_path, summary_path, out):
            os.replace(temporaries[final], final)
        if captured is not None:
            captured.commit()
        if stage is not None:
            committer = CaptureFiles(capture_options.dir, capture_options.rotate_bytes)
            committer.files = staged
            committer.commit()
            shutil.rmtree(stage, ignore_errors=True)
        if work:
            work.remove()
        return summary
    except BaseException:
        sink.close()
        if captured is not None:
            captured.discard()
        raise
    finally:
        if bar is not None:
            bar.close()
        for temporary in temporaries.values():
            temporary.unlink(missing_ok=True)


def _score_chunk(table: Any, positions: np.ndarray, known: contract.Contract, features: list[str],
                 declared: dict[str, list], scorer: Any, classes: list[str], labels: Any, version: Any, sha: Any,
                 id_column: str | None, id_name: str, names: list[str], in_kind: str) -> tuple[Any, list[list], Any]:
    """(the output table of one chunk's scored rows, its rejects file rows, a function giving its capture
    records' lines or None when no row was scored)."""
    import pyarrow as pa

    typed, reasons = validate(table, known, features, declared)
    good = np.ones(table.num_rows, dtype=bool)
    if reasons:
        good[list(reasons)] = False
    kept = np.flatnonzero(good)
    if len(kept):
        output = scorer.score_frame({name: typed[name][kept] for name in features})[1 if classes else 0]
    else:
        output = np.empty((0, len(classes))) if classes else np.empty(0)
    finite = np.isfinite(output if classes else output.reshape(-1, 1)).all(axis=1)
    if not finite.all():  # e.g. an overflow: not a prediction anyone should act on
        for row in kept[~finite].tolist():
            reasons[row] = "model: output_finite (the model's output is not a finite number)"
        reasons = dict(sorted(reasons.items()))
        kept, output = kept[finite], output[finite]
    columns_out = {id_name: (table.column(id_column).take(pa.array(kept)) if id_column
                             else pa.array(positions[kept]))}
    if classes:
        chosen = output.argmax(axis=1)
        columns_out["prediction"] = labels.take(pa.array(chosen))
        for i, label in enumerate(classes):
            columns_out[f"probability_{label}"] = pa.array(np.ascontiguousarray(output[:, i]))
    else:
        columns_out["prediction"] = pa.array(output.astype(np.float64, copy=False))
    columns_out["model_version"] = pa.repeat(version, len(kept))
    columns_out["model_sha256"] = pa.repeat(sha, len(kept))
    schema = _output_schema(id_name, columns_out[id_name].type, classes)
    table_out = pa.table(columns_out, schema=schema)
    rejected = []
    if reasons:
        bad = list(reasons)
        for row, values in zip(bad, table.select(names).take(pa.array(bad)).to_pylist(), strict=True):
            position = int(positions[row])
            row_id = values[id_column] if id_column else position
            line = position + 2 if in_kind == "csv" else ""
            rejected.append([_cell(row_id), line, reasons[row], *(_cell(values[n]) for n in names)])
    if not len(kept):
        return table_out, rejected, None

    def lines(options: capture.Settings, request_id: str, model_info: dict, rng: np.random.Generator) -> Iterator:
        picked = (np.ones(len(kept), dtype=bool) if options.sample_rate >= 1
                  else rng.random(len(kept)) < options.sample_rate)
        if not picked.any():
            return
        rows = kept[picked]
        frame = pd.DataFrame({name: typed[name][rows] for name in features})  # the values scored
        predictions = np.asarray(classes, dtype=object)[output[picked].argmax(axis=1)] if classes else output[picked]
        yield from capture_lines(frame, positions[rows], request_id, model_info, predictions,
                                 output[picked] if classes else None, classes, options)

    return table_out, rejected, lines


def _writer(path: Path, schema: Any, kind: str) -> Any:
    """Arrow's Parquet writer (a row group per chunk), or its CSV writer: both take a table and close."""
    if kind == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetWriter(path, schema)
    import pyarrow.csv as pacsv

    return pacsv.CSVWriter(path, schema, write_options=pacsv.WriteOptions(quoting_style="needed"))


def _cell(value: Any) -> Any:
    value = _plain(value)
    return "" if value is None or (isinstance(value, float) and value != value) else value
