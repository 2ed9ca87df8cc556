"""The two ways the serving app runs a model (docs/serving.md): ONNX Runtime, or the scikit-learn pipeline.

`export` writes model.onnx when the converted model scores like the pipeline on the held-out split,
and always model.joblib; metadata.json's `runtime` says which one the app serves. Both classes take
records as the request validated them (one dict per row, None for a missing value) and return
(labels or values, probabilities or None). Only the fallback imports scikit-learn or pandas (through
joblib), so an image serving model.onnx does not need them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import PipelineError
from ..paths import METADATA_FILE, MODEL_FILE, ONNX_FILE, SCHEMA_FILE

FILES = {"onnx": ONNX_FILE, "sklearn": MODEL_FILE}
# A string tensor cannot hold NaN, so a missing string goes in as "" and the graph imputes it (onnx_export.py).
MISSING = ""
# A real "" is not missing for scikit-learn but an unknown category: it goes in as another unknown string.
UNKNOWN = "\x00"


class OnnxModel:
    """An exported ONNX graph with one input per column, run by ONNX Runtime on numpy arrays."""

    runtime = "onnx"

    def __init__(self, source: str | Path | bytes, threads: int = 1) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        # One thread per call by default: a server scales by workers and concurrent requests, and on small
        # batches a thread pool costs more than it saves. Batch scoring passes 0 (every core).
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        if threads != 1:  # idle pool threads sleep rather than spin: on a busy machine spinning steals the cores
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(source if isinstance(source, bytes) else str(source), options,
                                            providers=["CPUExecutionProvider"])
        self.classes = json.loads(self.session.get_modelmeta().custom_metadata_map.get("classes", "[]"))
        inputs = self.session.get_inputs()
        # skl2onnx renames inputs it cannot use as names ("monthly spend" -> "monthly_spend"); the
        # columns' own names travel in the graph's metadata, in the inputs' order.
        names = json.loads(self.session.get_modelmeta().custom_metadata_map.get("columns", "null"))
        self.features = names or [i.name for i in inputs]
        self._inputs = [(name, i.name, i.type == "tensor(string)")
                        for name, i in zip(self.features, inputs, strict=True)]
        self._output = "probabilities" if self.classes else self.session.get_outputs()[0].name

    def _feed(self, records: list[dict]) -> dict[str, np.ndarray]:
        feed = {}
        for name, graph_name, string in self._inputs:
            values = [record[name] for record in records]
            if string:
                values = [MISSING if v is None else UNKNOWN if v == MISSING else v for v in values]
                feed[graph_name] = np.array(values, dtype=object).reshape(-1, 1)
            else:
                feed[graph_name] = np.array(values, dtype=np.float64).reshape(-1, 1)  # None -> NaN
        return feed

    def score(self, records: list[dict]) -> tuple[list, np.ndarray | None]:
        out = self.session.run([self._output], self._feed(records))[0]
        if not np.isfinite(out).all():  # e.g. an overflow: not a prediction anyone should act on
            raise ValueError("the model's output is not finite")
        if self.classes:
            return [self.classes[i] for i in out.argmax(axis=1)], out
        return out.ravel().tolist(), None

    def score_frame(self, frame: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """Columnar scoring for batches: columns typed by the contract (a DataFrame or a mapping of arrays;
        NaN or None for a missing value) in, (labels or values, probabilities or None) as arrays out, in one
        run of the graph. Non-finite outputs are left to the caller."""
        feed = {}
        for name, graph_name, string in self._inputs:
            values = np.asarray(frame[name])
            if string:
                # the same encoding as _feed: missing -> MISSING, a real "" -> UNKNOWN
                text = values.astype(object)
                text = np.where(text == MISSING, UNKNOWN, text)
                text[(values == None) | (values != values)] = MISSING  # noqa: E711 (elementwise None and NaN)
                feed[graph_name] = text.reshape(-1, 1)
            else:
                feed[graph_name] = values.astype(np.float64, copy=False).reshape(-1, 1)
        out = self.session.run([self._output], feed)[0]
        if self.classes:
            return np.asarray(self.classes, dtype=object)[out.argmax(axis=1)], out
        return out.ravel().astype(np.float64), None


class SklearnModel:
    """The fitted scikit-learn pipeline, fed a DataFrame with the dtypes it was trained on."""

    runtime = "sklearn"

    def __init__(self, source: str | Path | Any, columns: list[dict], classify: bool = True) -> None:
        import joblib
        import pandas as pd

        self._pd = pd
        self.model = joblib.load(source) if isinstance(source, (str, Path)) else source
        self.features = [str(name) for name in getattr(self.model, "feature_names_in_", [])]
        self._classify = classify and hasattr(self.model, "predict_proba")
        self.classes = [str(c) for c in getattr(self.model, "classes_", [])] if self._classify else []
        self._names = [column["name"] for column in columns]
        self._dtypes = {c["name"]: ("float64" if c["dtype"] == "float64" else object) for c in columns}
        self._strings = [name for name, dtype in self._dtypes.items() if dtype is object]

    def frame(self, records: list[dict]) -> Any:
        frame = self._pd.DataFrame.from_records(records, columns=self._names)
        # Cast only what differs: astype on every column costs more than the rest of the request.
        cast = {name: dtype for name, dtype in self._dtypes.items() if frame[name].dtype != dtype}
        frame = frame.astype(cast) if cast else frame
        if self._strings:  # the model was trained on read_csv output, where a missing string is NaN, not None
            frame[self._strings] = frame[self._strings].where(frame[self._strings].notna(), float("nan"))
        return frame

    def score_frame(self, frame: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """Columnar scoring for batches: as score_frame of OnnxModel, on the pipeline itself."""
        frame = self._pd.DataFrame({name: frame[name] for name in self._names})
        cast = {name: dtype for name, dtype in self._dtypes.items() if frame[name].dtype != dtype}
        frame = frame.astype(cast) if cast else frame
        if self._strings:  # a missing string is NaN for the pipeline, as read_csv gave it in training
            frame[self._strings] = frame[self._strings].where(frame[self._strings].notna(), float("nan"))
        if self._classify:
            probabilities = self.model.predict_proba(frame)
            return np.asarray(self.model.classes_).astype(str).astype(object)[probabilities.argmax(axis=1)], \
                probabilities
        return np.asarray(self.model.predict(frame), dtype=np.float64), None

    def score(self, records: list[dict]) -> tuple[list, np.ndarray | None]:
        frame = self.frame(records)
        if self._classify:
            # One pass through the model: a classifier's prediction is its most probable class.
            probabilities = self.model.predict_proba(frame)
            return self.model.classes_[probabilities.argmax(axis=1)].tolist(), probabilities
        return self.model.predict(frame).tolist(), None


def load(model_dir: Path, runtime: str, columns: list[dict], task: str, threads: int = 1) -> OnnxModel | SklearnModel:
    path = model_dir / FILES[runtime]
    if runtime == "onnx":
        return OnnxModel(path, threads)
    return SklearnModel(path, columns, classify=task == "classification")


def _runtime(model_dir: Path, runtime: str | None) -> str:
    """The runtime asked for, else the one metadata.json names (exports before ONNX: scikit-learn)."""
    if runtime is None and (model_dir / METADATA_FILE).is_file():
        try:
            runtime = json.loads((model_dir / METADATA_FILE).read_text()).get("runtime")
        except (ValueError, AttributeError):
            runtime = None  # reported as unloadable below
    runtime = runtime or "sklearn"
    if runtime not in FILES:
        raise PipelineError(f"{model_dir / METADATA_FILE}: runtime {runtime!r} is not one of {sorted(FILES)}")
    return runtime


def load_model_dir(model_dir: str | Path, runtime: str | None = None,
                   threads: int = 1) -> tuple[Any, dict, list[dict]]:
    """The model (runtimes.py), its metadata and its input columns; PipelineError naming what is missing or wrong.

    `runtime` ("onnx" or "sklearn") overrides the one export chose, as recorded in metadata.json;
    `threads` is ONNX Runtime's per call (batch scoring: 0, every core).
    """
    model_dir = Path(model_dir)
    runtime = _runtime(model_dir, runtime)
    needed = (FILES[runtime], METADATA_FILE, SCHEMA_FILE)
    missing = [name for name in needed if not (model_dir / name).is_file()]
    if missing:
        raise PipelineError(
            f"model directory {model_dir}: {', '.join(missing)} not found; promote a champion, then write "
            f"the directory with `python -m {__name__.split('.')[0]} export` (see docs/serving.md)"
        )
    try:
        metadata = json.loads((model_dir / METADATA_FILE).read_text())
        columns = json.loads((model_dir / SCHEMA_FILE).read_text())["columns"]
        model = load(model_dir, runtime, columns, metadata.get("task", ""), threads)
    except ImportError as exc:  # e.g. an image built for ONNX Runtime asked to serve model.joblib
        raise PipelineError(f"model directory {model_dir}: the {runtime} runtime is not installed ({exc})") from None
    except Exception as exc:  # truncated or foreign files fail in many ways; all mean "re-export"
        raise PipelineError(f"model directory {model_dir}: cannot load it ({type(exc).__name__}: {exc})") from None
    expected = model.features
    names = [column["name"] for column in columns]
    if expected and sorted(expected) != sorted(names):
        raise PipelineError(f"{model_dir / SCHEMA_FILE}: columns {names} are not the model's inputs {expected}")
    return model, metadata, columns
