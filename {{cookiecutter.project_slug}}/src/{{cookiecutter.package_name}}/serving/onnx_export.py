"""Convert the champion pipeline to ONNX and prove it scores like scikit-learn (docs/serving.md).

skl2onnx turns the whole Pipeline (imputation, scaling, one-hot encoding, model) into one graph with
one input per column, which ONNX Runtime serves without scikit-learn, SciPy or pandas. Three changes
to skl2onnx's defaults keep the graph faithful to the pipeline:
- numbers stay float64 throughout: imputation and scaling in double, and tree thresholds and leaf
  values as double tensors (ai.onnx.ml opset 3), so every split is decided as scikit-learn decides it.
  Only a tree ensemble's output is float32, the op's output type (about 6e-8 relative);
- a missing string arrives as "" (runtimes.MISSING): a string tensor cannot hold NaN, so our imputer
  treats "" as missing where scikit-learn's treats NaN (skl2onnx's own refuses NaN for strings);
- skl2onnx 1.20 writes Python bools into integer attributes of histogram gradient boosting trees,
  which protobuf 7 rejects: they are written as 0/1.
`verify` then scores the held-out split, and the same rows with each column missing or (strings) an
unknown category, both ways, through the serving code (runtimes.py). Any difference in a label, or in
a probability or value beyond TOLERANCE, and export keeps serving model.joblib.
"""

from __future__ import annotations

import json
import time
from importlib.metadata import version
from typing import Any

import numpy as np
import onnx
import pandas as pd
from onnx import TensorProto, numpy_helper
from skl2onnx import convert_sklearn
from skl2onnx._supported_operators import sklearn_operator_name_map
from skl2onnx.common._registration import get_converter
from skl2onnx.common.data_types import DoubleTensorType, StringTensorType
from skl2onnx.operator_converters.common import concatenate_variables
from sklearn.impute import SimpleImputer

from ..stages.train import ESTIMATORS
from .runtimes import MISSING, OnnxModel, SklearnModel

# |onnx - sklearn| <= TOLERANCE * max(1, |sklearn|): absolute for probabilities, relative for large values.
TOLERANCE = 1e-5
OPSETS = {"": 21, "ai.onnx.ml": 3}  # ai.onnx.ml 3: tree thresholds and weights as double tensors
# params.yaml's forests and gradient boosting (the families from sklearn.ensemble are all tree ensembles)
TREES = tuple(estimator for estimator in ESTIMATORS.values() if estimator.__module__.startswith("sklearn.ensemble"))
DOUBLE_ATTRIBUTES = ("nodes_values", "nodes_hitrates", "base_values", "target_weights", "class_weights")


def _imputer(scope: Any, operator: Any, container: Any) -> None:
    """SimpleImputer in the input's own type: float64 stays float64, and "" is a missing string."""
    imputer = operator.raw_operator
    if getattr(imputer, "add_indicator", False) or not pd.isna(imputer.missing_values):
        raise NotImplementedError("SimpleImputer: only missing_values=NaN without add_indicator is converted")
    x = concatenate_variables(scope, operator.inputs, container)
    fill, missing = scope.get_unique_variable_name("fill"), scope.get_unique_variable_name("missing")
    statistics = imputer.statistics_
    if isinstance(operator.inputs[0].type, StringTensorType):
        container.add_initializer(fill, TensorProto.STRING, [len(statistics)], [str(v).encode() for v in statistics])
        empty = scope.get_unique_variable_name("empty")
        container.add_initializer(empty, TensorProto.STRING, [], [MISSING.encode()])
        container.add_node("Equal", [x, empty], [missing], op_version=19)
    else:
        kind = TensorProto.DOUBLE if isinstance(operator.inputs[0].type, DoubleTensorType) else TensorProto.FLOAT
        container.add_initializer(fill, kind, [len(statistics)], statistics.tolist())
        container.add_node("IsNaN", [x], [missing], op_version=13)
    container.add_node("Where", [missing, fill, x], [operator.outputs[0].full_name], op_version=16)


class _DoubleTrees:
    """Stands in for skl2onnx's container while one tree ensemble is converted (see the module docstring)."""

    def __init__(self, scope: Any, operator: Any, container: Any) -> None:
        self._scope, self._container = scope, container
        self._declared = {output.full_name: output.type for output in operator.outputs}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._container, name)

    def add_node(self, op_type: str, inputs: Any, outputs: Any, **attrs: Any) -> Any:
        attrs = {key: [int(v) if isinstance(v, bool) else v for v in value] if isinstance(value, list) else value
                 for key, value in attrs.items()}
        if not op_type.startswith("TreeEnsemble"):
            return self._container.add_node(op_type, inputs, outputs, **attrs)
        for name in DOUBLE_ATTRIBUTES:
            if name in attrs:
                attrs[f"{name}_as_tensor"] = numpy_helper.from_array(np.asarray(attrs.pop(name), dtype=np.float64))
        attrs["op_version"] = 3
        outputs = [outputs] if isinstance(outputs, str) else list(outputs)
        if not isinstance(self._declared.get(outputs[-1], DoubleTensorType()), DoubleTensorType):
            return self._container.add_node(op_type, inputs, outputs, **attrs)
        # The op's scores are float32 whatever its input; what follows was built for float64.
        scores = self._scope.get_unique_variable_name("scores")
        self._container.add_node(op_type, inputs, [*outputs[:-1], scores], **attrs)
        self._container.add_node("Cast", [scores], [outputs[-1]], to=TensorProto.DOUBLE)


def _double_trees(estimator: type) -> Any:
    original = get_converter(sklearn_operator_name_map[estimator])

    def convert(scope: Any, operator: Any, container: Any) -> None:
        kind = "TreeEnsembleClassifier" if hasattr(operator.raw_operator, "classes_") else "TreeEnsembleRegressor"
        original(scope, operator, _DoubleTrees(scope, operator, container), kind, "ai.onnx.ml", 3)

    return convert


CONVERTERS = {SimpleImputer: _imputer, **{estimator: _double_trees(estimator) for estimator in TREES}}


def convert(model: Any, columns: list[dict], classes: list[str]) -> bytes:
    """The fitted pipeline as an ONNX graph: one [n, 1] input per column, float64 or string."""
    inputs = [(c["name"], DoubleTensorType([None, 1]) if c["dtype"] == "float64" else StringTensorType([None, 1]))
              for c in columns]
    estimator = model.steps[-1][1] if hasattr(model, "steps") else model
    # zipmap off: probabilities as one [n, classes] tensor rather than a list of dicts.
    options = {id(estimator): {"zipmap": False}} if classes else None
    graph = convert_sklearn(model, initial_types=inputs, target_opset=OPSETS, options=options,
                            custom_conversion_functions=CONVERTERS)
    onnx.helper.set_model_props(graph, {"classes": json.dumps(classes),
                                        "columns": json.dumps([c["name"] for c in columns])})
    return graph.SerializeToString()


def _records(frame: pd.DataFrame) -> list[dict]:
    """Rows as the app gets them from the request: None for a missing value."""
    return frame.astype(object).where(frame.notna(), None).to_dict(orient="records")


def _probes(frame: pd.DataFrame, columns: list[dict]) -> list[dict]:
    """The first held-out row with each column missing, and each string column an unknown category ("")."""
    first = _records(frame.head(1))[0]
    probes = [{**first, c["name"]: None} for c in columns]
    return probes + [{**first, c["name"]: MISSING} for c in columns if c["dtype"] != "float64"]


def verify(reference: SklearnModel, converted: OnnxModel, held_out: pd.DataFrame, columns: list[dict]) -> dict:
    """Score the held-out split (and the probes) both ways; labels must be equal, numbers within TOLERANCE."""
    result: dict[str, Any] = {"rows": len(held_out), "tolerance": TOLERANCE}
    worst = 0.0
    for name, records in (("held_out", _records(held_out)), ("probes", _probes(held_out, columns))):
        expected, expected_p = reference.score(records)
        got, got_p = converted.score(records)
        want = np.asarray(expected_p if expected_p is not None else expected, dtype=np.float64)
        have = np.asarray(got_p if got_p is not None else got, dtype=np.float64)
        if want.shape != have.shape:
            raise ValueError(f"ONNX output has shape {have.shape}, scikit-learn's {want.shape}")
        diff = np.abs(have - want).reshape(len(records), -1).max(axis=1)
        close = diff <= TOLERANCE * np.maximum(1.0, np.abs(want).reshape(len(records), -1).max(axis=1))
        same_label = np.array([a == b for a, b in zip(got, expected, strict=True)])
        agree = close & same_label if expected_p is not None else close
        worst = max(worst, float(diff.max()))
        if name == "held_out":
            result["within_tolerance"] = int(close.sum())
            if expected_p is not None:
                result["identical_labels"] = int(same_label.sum())
            else:
                result["identical_values"] = int((have == want).sum())
        else:
            result["probe_rows"], result["probes_agreeing"] = len(records), int(agree.sum())
        if not agree.all():
            result["disagreeing"] = result.get("disagreeing", 0) + int((~agree).sum())
    result["max_abs_diff"] = worst
    result["compared"] = "labels and probabilities" if reference.classes else "values"
    return result


def export(model: Any, columns: list[dict], held_out: pd.DataFrame | None, task: str) -> tuple[bytes | None, dict]:
    """(model.onnx bytes, or None to serve model.joblib; the `conversion` record for metadata.json)."""
    started = time.perf_counter()
    record: dict[str, Any] = {"converter": f"skl2onnx {version('skl2onnx')}",
                              "checked_with": f"onnxruntime {version('onnxruntime')}"}
    reference = SklearnModel(model, columns, classify=task == "classification")
    try:
        data = convert(model, columns, reference.classes)
    except Exception as exc:  # skl2onnx says "unsupported" in many ways: each means "serve joblib"
        return None, {**record, "status": "unsupported", "message": f"{type(exc).__name__}: {exc}"}
    if held_out is None or held_out.empty:
        return None, {**record, "status": "unverified", "message": "no held-out rows to verify the ONNX model on"}
    try:
        result = verify(reference, OnnxModel(data), held_out, columns)
    except Exception as exc:  # the graph does not even run like the pipeline
        return None, {**record, "status": "disagrees", "message": f"{type(exc).__name__}: {exc}"}
    record = {**record, **result, "seconds": round(time.perf_counter() - started, 2)}
    if result.get("disagreeing"):
        message = (f"{result['disagreeing']} row(s) differ from scikit-learn beyond the tolerance "
                   f"(max abs difference {result['max_abs_diff']:.3g})")
        return None, {**record, "status": "disagrees", "message": message}
    return data, {**record, "status": "verified"}
