"""Serving, in process: export writes the model directory (ONNX verified against the pipeline, or the
joblib fallback); the API predicts with either runtime, and turns bad input into a 4xx."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from conftest import declare, run_cli, user_frame, write_schema
from fastapi.testclient import TestClient

from {{ cookiecutter.package_name }} import contract, paths
from {{ cookiecutter.package_name }}.errors import PipelineError
from {{ cookiecutter.package_name }}.serving import export, onnx_export, serve
from {{ cookiecutter.package_name }}.stages import train

MAX_ROWS = 20
MAX_BYTES = 64_000
JSON = {"content-type": "application/json"}
RUNTIMES = ["onnx", "sklearn"]


def batch(*records: dict) -> bytes:
    # json.dumps writes NaN and Infinity as JS literals, as some clients do; httpx's json= refuses them.
    return json.dumps({"records": list(records)}).encode()


def model_dir(params: dict, frame: pd.DataFrame, out: Path, model=None) -> tuple[Path, pd.DataFrame]:
    """What `export` writes, for a small model trained here rather than fetched from the registry.
    The ONNX conversion is verified on the training rows themselves (export uses the held-out split)."""
    X, y = train.split_xy(frame, params)
    model = model or train.build_pipeline(params, X).fit(X, y)
    metadata = {"model_name": params["mlflow"]["model_name"], "version": 3, "alias": "champion", "run_id": "run-3",
                "metrics": {"score": 0.9}, "git_commit": "0123abc", "task": params["task"],
                "target": params["data"]["target"]}
    export.write(out, model, metadata, contract.input_schema(params, list(X.columns)), X)
    return out, X


def same_predictions(served: list, expected: list, task: str) -> bool:
    """Labels equal; values equal up to the tolerance export verified (ONNX trees output float32)."""
    if task == "classification":
        return served == expected
    return served == pytest.approx(expected, rel=onnx_export.TOLERANCE, abs=onnx_export.TOLERANCE)


def records(frame: pd.DataFrame) -> list[dict]:
    """Rows as JSON-ready records: native numbers, null for a missing value."""
    return json.loads(frame.to_json(orient="records"))


@pytest.fixture
def small_params(params):
    # Few trees: these tests are about serving, not accuracy.
    return {**params, "model": {**params["model"], "family": "random_forest", "params": {"n_estimators": 20}}}


@pytest.fixture
def user_params(small_params, tmp_path):
    """Params for a model of `user_frame` data (whatever the project's own data), with a declared hard range."""
    task = small_params["task"]
    path = tmp_path / "schema.yaml"
    write_schema(user_frame(task), path, task=task)
    declare(path, "size", "in_range: {min_value: 0, max_value: 100}")
    return {**small_params, "data": {**small_params["data"], "target": "label", "schema": str(path)}}


@pytest.fixture(params=RUNTIMES)
def demo(request, user_params, tmp_path):
    """A client for a model of a user's data (strings, integers, gaps), served by each runtime, and rows
    to score."""
    frame = user_frame(user_params["task"], rows=150)
    out, X = model_dir(user_params, frame, tmp_path / "model")
    assert json.loads((out / paths.METADATA_FILE).read_text())["runtime"] == "onnx"
    client = TestClient(serve.create_app(out, max_rows=MAX_ROWS, max_body_bytes=MAX_BYTES, runtime=request.param))
    return client, X, joblib.load(out / paths.MODEL_FILE)


def test_health_and_metadata(demo, user_params):
    client, X, _ = demo
    assert client.get("/health").json() == {"status": "ok", "model_version": 3}
    metadata = client.get("/metadata").json()
    assert (metadata["version"], metadata["git_commit"], metadata["metrics"]) == (3, "0123abc", {"score": 0.9})
    assert [c["name"] for c in metadata["input_schema"]] == list(X.columns)
    assert user_params["data"]["target"] not in X.columns
    assert metadata["limits"] == {"max_batch_rows": MAX_ROWS, "max_body_bytes": MAX_BYTES}
    assert metadata["runtime"] in RUNTIMES and metadata["conversion"]["status"] == "verified"


def test_predictions_equal_the_models(demo, user_params):
    client, X, model = demo
    rows = X.head(MAX_ROWS)
    response = client.post("/predict", json={"records": records(rows)})
    assert response.status_code == 200, response.text
    body = response.json()
    assert same_predictions(body["predictions"], model.predict(rows).tolist(), user_params["task"])
    assert body["model_version"] == 3
    if user_params["task"] == "classification":
        assert all(sum(p.values()) == pytest.approx(1) for p in body["probabilities"])
        expected = [dict(zip(model.classes_, p, strict=True)) for p in model.predict_proba(rows)]
        assert body["probabilities"] == [pytest.approx(p, abs=onnx_export.TOLERANCE) for p in expected]


def test_openapi_schema_follows_the_contract(demo):
    client, X, _ = demo
    record = client.get("/openapi.json").json()["components"]["schemas"]["Record"]
    assert set(record["required"]) == set(X.columns) and record["additionalProperties"] is False
    size, count = record["properties"]["size"], record["properties"]["count"]
    # A declared range is a bound; an integer column is a number; no bound from the data's observed range.
    assert size["type"] == "number" and (size["minimum"], size["maximum"]) == (0, 100)
    assert count["type"] == "number" and "minimum" not in count


def bad_requests(record: dict, column: str) -> dict[str, tuple[bytes, dict, int, str]]:
    """Each kind of bad input -> (body, headers, expected status, what the message must say)."""
    return {
        "malformed JSON": (b'{"records": [', JSON, 400, "malformed JSON"),
        "wrong type": (batch({**record, column: "12.5"}), JSON, 422, f"records[0].{column}: Input should be"),
        "missing column": (batch({k: v for k, v in record.items() if k != column}), JSON, 422,
                           f"records[0].{column}: Field required"),
        "extra column": (batch({**record, "surprise": 1.0}), JSON, 422, "records[0].surprise: Extra inputs"),
        "NaN": (batch({**record, column: float("nan")}), JSON, 422, f"records[0].{column}: Input should be a finite"),
        "infinity": (batch({**record, column: float("inf")}), JSON, 422, f"records[0].{column}: Input should be a fin"),
        "empty batch": (batch(), JSON, 422, "records: List should have at least 1 item"),
        "batch over the limit": (batch(*[record] * (MAX_ROWS + 1)), JSON, 422, "records: List should have at most"),
        # Valid JSON, one record, padded past the byte limit.
        "oversized body": (batch(record) + b" " * MAX_BYTES, JSON, 413, f"larger than the limit of {MAX_BYTES} bytes"),
        "wrong content type": (batch(record), {"content-type": "text/csv"}, 415, "must be application/json"),
        "no content type": (batch(record), {}, 415, "must be application/json"),
    }


@pytest.mark.parametrize("case", list(bad_requests({}, "x")))
def test_bad_input_is_a_4xx_naming_the_problem(demo, case):
    client, X, _ = demo
    content, headers, status, message = bad_requests(records(X.iloc[[0]])[0], "size")[case]
    response = client.post("/predict", content=content, headers=headers)
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_string_categories_and_missing_values(small_params, tmp_path, task, runtime):
    params = {**small_params, "task": task, "data": {**small_params["data"], "target": "label",
                                                     "schema": str(tmp_path / "schema.yaml")}}
    frame = user_frame(task)
    write_schema(frame, tmp_path / "schema.yaml", task=task)
    out, X = model_dir(params, frame, tmp_path / "model")
    client = TestClient(serve.create_app(out, runtime=runtime))
    rows = [{"colour": "red", "size": 10.0, "noise": None, "count": 3},
            {"colour": None, "size": 9.5, "noise": float("nan"), "count": 40}]
    response = client.post("/predict", content=batch(*rows), headers=JSON)
    assert response.status_code == 200, response.text
    same_rows = pd.DataFrame({"colour": ["red", np.nan], "size": [10.0, 9.5], "noise": [np.nan, np.nan],
                              "count": [3, 40]})
    expected = joblib.load(out / paths.MODEL_FILE).predict(same_rows)
    assert same_predictions(response.json()["predictions"], expected.tolist(), task)
    # A category training never saw is distribution, not contract: scored (the encoder ignores it).
    assert client.post("/predict", content=batch({**rows[0], "colour": "purple"}), headers=JSON).status_code == 200
    number = client.post("/predict", content=batch({**rows[0], "colour": 3}), headers=JSON)
    assert number.status_code == 422 and "records[0].colour" in number.json()["detail"]
    # Declared in schema.yaml, the categories are contract, and the API enforces them.
    declare(tmp_path / "schema.yaml", "colour", "isin: [red, green, blue]")
    out, _ = model_dir(params, frame, tmp_path / "declared")
    unknown = TestClient(serve.create_app(out, runtime=runtime)).post(
        "/predict", content=batch({**rows[0], "colour": "purple"}), headers=JSON)
    assert unknown.status_code == 422 and "records[0].colour: Input should be" in unknown.json()["detail"]
    assert "'blue'" in unknown.json()["detail"]  # the message lists the allowed values


def test_onnx_serves_columns_whose_names_are_not_identifiers(small_params, tmp_path):
    """skl2onnx renames such inputs ("size (cm)" -> "size__cm_"); the API keeps the CSV's names."""
    task = small_params["task"]
    frame = user_frame(task).rename(columns={"size": "size (cm)", "colour": "colour name"})
    write_schema(frame, tmp_path / "schema.yaml", task=task)
    schema = str(tmp_path / "schema.yaml")
    params = {**small_params, "data": {**small_params["data"], "target": "label", "schema": schema}}
    out, X = model_dir(params, frame, tmp_path / "model")
    metadata = json.loads((out / paths.METADATA_FILE).read_text())
    assert metadata["runtime"] == "onnx", metadata["conversion"]
    response = TestClient(serve.create_app(out)).post("/predict", json={"records": records(X.head(5))})
    assert response.status_code == 200, response.text
    expected = joblib.load(out / paths.MODEL_FILE).predict(X.head(5)).tolist()
    assert same_predictions(response.json()["predictions"], expected, task)


def test_one_json_log_line_per_request(demo, capsys):
    client, X, _ = demo
    capsys.readouterr()
    client.get("/health")
    client.post("/predict", json={"records": records(X.head(2))})
    client.post("/predict", json={"records": []})
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["path"], line["status"]) for line in lines] == [("/health", 200), ("/predict", 200),
                                                                  ("/predict", 422)]
    assert lines[1]["rows"] == 2 and "records" in lines[2]["error"] and lines[0]["duration_ms"] >= 0


def test_startup_fails_fast_without_a_model(small_params, tmp_path):
    with pytest.raises(PipelineError, match="model.joblib, metadata.json, input_schema.json not found"):
        serve.create_app(tmp_path / "nothing")
    result = run_cli("serve", "--model-dir", str(tmp_path / "nothing"), "--port", "1")
    assert result.returncode == 2 and "not found" in result.stderr and "export" in result.stderr

    out, _ = model_dir(small_params, pd.read_csv(small_params["data"]["path"]), tmp_path / "model")
    schema = json.loads((out / paths.SCHEMA_FILE).read_text())
    (out / paths.SCHEMA_FILE).write_text(json.dumps({"columns": schema["columns"][1:]}))
    for runtime in RUNTIMES:
        with pytest.raises(PipelineError, match="are not the model's inputs"):
            serve.create_app(out, runtime=runtime)
    (out / paths.ONNX_FILE).unlink()
    with pytest.raises(PipelineError, match="model.onnx not found"):
        serve.create_app(out, runtime="onnx")


FAMILIES = {"classification": ["logistic_regression", "random_forest", "gradient_boosting", "hist_gradient_boosting"],
            "regression": ["ridge", "random_forest", "gradient_boosting", "hist_gradient_boosting"]}


@pytest.mark.parametrize("family", range(4))
def test_every_model_family_converts_to_onnx_and_agrees(params, tmp_path, family):
    """Each family in params.yaml, after the preprocessing (median and most-frequent imputation, scaling,
    one-hot encoding of string categories with gaps), scores like scikit-learn in ONNX Runtime."""
    task = params["task"]
    family = FAMILIES[task][family]
    params = {**params, "data": {**params["data"], "target": "label", "schema": str(tmp_path / "schema.yaml")},
              "model": {**params["model"], "family": family, "params": {}}}
    frame = user_frame(task)
    write_schema(frame, tmp_path / "schema.yaml", task=task)
    out, X = model_dir(params, frame, tmp_path / "model")
    metadata = json.loads((out / paths.METADATA_FILE).read_text())
    conversion = metadata["conversion"]
    assert (metadata["runtime"], conversion["status"]) == ("onnx", "verified"), conversion
    assert conversion["within_tolerance"] == conversion["rows"] == len(X)
    assert conversion.get("identical_labels", len(X)) == len(X)  # classification: every label
    assert conversion["probe_rows"] == conversion["probes_agreeing"] > 0
    assert X["colour"].isna().any() and X["noise"].isna().any()  # gaps in both kinds of column were scored


def test_onnx_app_imports_no_scikit_learn_scipy_or_pandas(small_params, tmp_path):
    """The image serving model.onnx has none of them: the app must neither import them at start nor per request."""
    frame = pd.read_csv(small_params["data"]["path"]).sample(150, random_state=0)
    out, X = model_dir(small_params, frame, tmp_path / "model")
    script = """
import json, sys
from fastapi.testclient import TestClient
from {{ cookiecutter.package_name }}.serving import serve
client = TestClient(serve.create_app(sys.argv[1]))
response = client.post("/predict", json={"records": json.loads(sys.argv[2])})
assert response.status_code == 200, response.text
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules} & {"sklearn", "scipy", "pandas", "joblib"})))
"""
    records = json.dumps(X.head(3).to_dict(orient="records"))
    result = subprocess.run([sys.executable, "-c", script, str(out), records], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == []


def test_export_serves_joblib_when_conversion_is_unsupported(small_params, tmp_path, capsys):
    """A pipeline skl2onnx cannot convert (here a custom function step) still exports and serves."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    frame = pd.read_csv(small_params["data"]["path"]).sample(150, random_state=0)
    X, y = train.split_xy(frame, small_params)
    fitted = train.build_pipeline(small_params, X).fit(X, y)
    custom = Pipeline([("preprocess", fitted[0]), ("clip", FunctionTransformer(np.tanh)), ("model", fitted[-1])])
    out, _ = model_dir(small_params, frame, tmp_path / "model", model=custom)
    check_fallback(out, small_params, custom, X, "unsupported")
    assert "serving model.joblib: ONNX conversion unsupported" in capsys.readouterr().err


def test_export_serves_joblib_when_onnx_disagrees(small_params, tmp_path, monkeypatch):
    """A converted graph that scores differently (here: a model fitted to shuffled labels) is not served."""
    frame = pd.read_csv(small_params["data"]["path"]).sample(150, random_state=0)
    X, y = train.split_xy(frame, small_params)
    model = train.build_pipeline(small_params, X).fit(X, y)
    other = train.build_pipeline(small_params, X).fit(X, y.sample(frac=1, random_state=1).to_numpy())
    convert = onnx_export.convert
    monkeypatch.setattr(onnx_export, "convert", lambda _model, *args: convert(other, *args))
    out, _ = model_dir(small_params, frame, tmp_path / "model", model=model)
    metadata = check_fallback(out, small_params, model, X, "disagrees")
    assert metadata["conversion"]["disagreeing"] > 0 and "differ from scikit-learn" in metadata["conversion"]["message"]


def check_fallback(out: Path, params: dict, model, X: pd.DataFrame, status: str) -> dict:
    metadata = json.loads((out / paths.METADATA_FILE).read_text())
    assert (metadata["runtime"], metadata["conversion"]["status"]) == ("sklearn", status)
    assert not (out / paths.ONNX_FILE).exists()
    assert "scikit-learn==" in (out / paths.REQUIREMENTS_FILE).read_text()
    client = TestClient(serve.create_app(out))
    response = client.post("/predict", json={"records": X.head(5).to_dict(orient="records")})
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == model.predict(X.head(5)).tolist()
    assert client.get("/metadata").json()["runtime"] == "sklearn"
    return metadata
