"""Where a /predict request's time goes, measured in process (no HTTP, no load): the profile behind
the serving numbers. Run by run.py in a subprocess, from the generated project's root:

    PYTHONPATH=src python <template>/benchmarks/hotpath.py PACKAGE MODEL_NAME TARGET REPEATS  -> JSON on stdout

Steps timed for ours (serve.py's predict() step by step, for both runtimes: the ONNX model export
chose, and the scikit-learn fallback; plus the whole app through ASGI) and for MLflow's scoring
function, so that the results can say where a request's time goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import io
import json
import os
import statistics
import sys
import time

import pandas as pd


def median_ms(fn, repeats: int) -> float:
    fn()  # warm: first calls pay for imports and caches
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


LOOP = asyncio.new_event_loop()  # one loop for every call, as in a server (a new one per call costs more)


def asgi_post(app, path: str, body: bytes) -> int:
    """One request straight into the ASGI app: everything the server does except HTTP parsing and sockets."""
    sent: list[dict] = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    scope = {"type": "http", "method": "POST", "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
             "http_version": "1.1", "scheme": "http", "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1),
             "root_path": ""}

    async def receive() -> dict:
        return messages.pop() if messages else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    LOOP.run_until_complete(app(scope, receive, send))
    return sent[0]["status"]


def main(package: str, model_name: str, target: str, repeats: int) -> dict:
    serve = importlib.import_module(f"{package}.serving.serve")
    with contextlib.redirect_stdout(io.StringIO()):  # the app logs a JSON line per request
        app = serve.create_app("build/model")  # the runtime export chose: ONNX
        app_sklearn = serve.create_app("build/model", runtime="sklearn")
    onnx_model, _, columns = serve.load_model_dir("build/model", "onnx")
    sklearn_model, _, _ = serve.load_model_dir("build/model", "sklearn")
    request_model = serve._request_model(columns, 1000)
    records = pd.read_csv("data/prepared/test.csv").drop(columns=[target]).to_dict(orient="records")

    import mlflow
    from mlflow.pyfunc import scoring_server

    mlflow.set_tracking_uri(f"sqlite:///{os.path.abspath('mlflow.db')}")
    version = json.loads(open("champion.json").read())["registry_version"]  # the registered champion
    pyfunc = mlflow.pyfunc.load_model(f"models:/{model_name}/{version}")
    mlflow_schema = pyfunc.metadata.get_input_schema()

    out = {}
    for name, rows in (("single", records[:1]), ("batch", records[:100])):
        body = json.dumps({"records": rows}).encode()
        parsed = request_model.model_validate_json(body)
        dumped = [r.model_dump(by_alias=True) for r in parsed.records]
        frame = sklearn_model.frame(dumped)
        feed = onnx_model._feed(dumped)
        # Both runtimes must give the very same labels, or the timings compare different work.
        assert onnx_model.score(dumped)[0] == sklearn_model.score(dumped)[0]
        mlflow_body = json.dumps({"dataframe_records": rows})
        with contextlib.redirect_stdout(io.StringIO()):
            steps = {
                "validate": median_ms(lambda body=body: request_model.model_validate_json(body), repeats),
                "records_to_dump": median_ms(lambda p=parsed: [r.model_dump(by_alias=True) for r in p.records],
                                             repeats),
                "frame": median_ms(lambda d=dumped: sklearn_model.frame(d), repeats),
                "predict_proba": median_ms(lambda f=frame: sklearn_model.model.predict_proba(f), repeats),
                "onnx_feed": median_ms(lambda d=dumped: onnx_model._feed(d), repeats),
                "onnx_run": median_ms(lambda f=feed: onnx_model.session.run(["probabilities"], f), repeats),
                "app_total": median_ms(lambda body=body: asgi_post(app, "/predict", body), repeats),
                "app_total_sklearn": median_ms(lambda body=body: asgi_post(app_sklearn, "/predict", body), repeats),
                "mlflow_predict": median_ms(lambda f=frame: pyfunc.predict(f), repeats),
                "mlflow_total": median_ms(lambda b=mlflow_body: scoring_server.invocations(
                    b, "application/json", pyfunc, mlflow_schema), repeats),
            }
        out[name] = steps
    return out


if __name__ == "__main__":
    package, model_name, target, repeats = sys.argv[1:5]
    print(json.dumps(main(package, model_name, target, int(repeats))))
