"""The serving app: FastAPI over a model directory written by `export` (see docs/serving.md).

`create_app(model_dir)` reads metadata.json, input_schema.json and the model in the runtime
metadata.json names (model.onnx for ONNX Runtime, model.joblib for scikit-learn: runtimes.py), and
builds the request model from the input schema, so validation and the OpenAPI document follow the
data contract. Only pydantic, fastapi, uvicorn, numpy, prometheus-client and the runtime's own libraries
are imported: no MLflow, pandera or DVC, and for an ONNX model no scikit-learn, SciPy or pandas, so the
image stays slim.

Every response carries `X-Request-ID` (the client's when valid, else a new one); /predict also returns
it with one record id per row, and captures each scored row under that id (recorder.py, off the
request path). /metrics is Prometheus' format (metrics.py). docs/monitoring.md says what is where.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoint's annotations at run time,
# and the request model they name is built inside create_app.

import json
import math
import os
import sys
import time
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BeforeValidator, ConfigDict, Field, StrictStr, create_model
from starlette.concurrency import run_in_threadpool

from .. import capture
from ..errors import PipelineError
from ..paths import METADATA_FILE, MODEL_DIR
from . import runtimes
from .metrics import Deferred, Metrics
from .recorder import Recorder

# Loading the model directory lives in runtimes.py (batch scoring loads a model without FastAPI).
load_model_dir = runtimes.load_model_dir
DEFAULT_MAX_ROWS = 1000
DEFAULT_MAX_BODY_BYTES = 1_000_000
LISTED_ERRORS = 20  # validation errors listed in one response; `error_count` counts them all
# input_schema.json bound -> pydantic constraint
BOUNDS = {"minimum": "ge", "exclusive_minimum": "gt", "maximum": "le", "exclusive_maximum": "lt"}


def _nan_to_none(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


def _column_type(column: dict) -> Any:
    """The pydantic type of one input column: dtype, bounds, allowed values, nullability."""
    if column["dtype"] == "float64":
        bounds = {BOUNDS[key]: value for key, value in column.items() if key in BOUNDS}
        # strict: "1.5" or true is a wrong type, not a number; ints are accepted as floats.
        kind: Any = Annotated[float, Field(strict=True, allow_inf_nan=False, **bounds)]
    elif column.get("allowed"):
        kind = Literal[tuple(column["allowed"])]
    else:
        kind = StrictStr
    if column.get("nullable"):
        # null is the missing value; a NaN (which Python's json module accepts) means the same.
        kind = Annotated[kind | None, BeforeValidator(_nan_to_none)]
    return Annotated[kind, Field(alias=column["name"], title=column["name"])]


def _request_model(columns: list[dict], max_rows: int) -> Any:
    # Internal field names c0, c1, ...: column names need not be Python identifiers; clients use the aliases.
    fields = {f"c{i}": (_column_type(column), ...) for i, column in enumerate(columns)}
    record = create_model("Record", __config__=ConfigDict(extra="forbid"), **fields)
    batch = Annotated[list[record], Field(min_length=1, max_length=max_rows, description="rows to score")]
    return create_model("PredictRequest", __config__=ConfigDict(extra="forbid"), records=(batch, ...))


def _response_model(classes: list[str], task: str) -> Any:
    if task == "classification" and classes:
        return create_model(
            "PredictResponse",
            predictions=(list[Literal[tuple(classes)]], ...),
            probabilities=(list[dict[str, float]] | None, None),
            model_version=(int | None, None),
            request_id=(str, ...),
            record_ids=(list[str], ...),
        )
    return create_model("PredictResponse", predictions=(list[float], ...), model_version=(int | None, None),
                        request_id=(str, ...), record_ids=(list[str], ...))


def _where(loc: tuple) -> str:
    """('body', 'records', 0, 'age') -> 'records[0].age'"""
    text = ""
    for part in loc[1:] if loc and loc[0] == "body" else loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or "body"


def _log(**fields: Any) -> None:
    """One JSON object per line on stdout, the format log collectors parse without configuration."""
    record = {"time": datetime.now(timezone.utc).isoformat(timespec="milliseconds")}  # noqa: UP017 (UTC is 3.11+)
    record.update((key, value) for key, value in fields.items() if value is not None)
    # One write per line: with PYTHONUNBUFFERED, print() writes the text and its newline separately, and
    # lines of several workers sharing stdout would interleave.
    sys.stdout.write(json.dumps(record, default=str) + "\n")
    sys.stdout.flush()


def _error(request: Request, status: int, message: str, **extra: Any) -> JSONResponse:
    request.state.error = message  # picked up by the request log line
    return JSONResponse({"detail": message, **extra}, status_code=status)


def _request_id(scope: dict) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            return capture.request_id(value.decode("latin-1"))
    return capture.request_id()


class _Guard:
    """ASGI middleware: the request id, 415 and 413 before any parsing, then one log line and the
    request metrics per request.

    The body is read here, up to the limit, and replayed to the app, so a chunked upload without
    Content-Length cannot get past the limit either.
    """

    def __init__(self, app: Any, max_body_bytes: int, metrics: Deferred | Metrics | None = None,
                 guarded: tuple[str, ...] = ("/predict",)) -> None:
        self.app, self.max_body_bytes, self.metrics, self.guarded = app, max_body_bytes, metrics, guarded

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), 500
        state = scope.setdefault("state", {})
        state["started"] = started
        state["request_id"] = request_id = _request_id(scope)
        header = (b"x-request-id", request_id.encode())

        async def send_and_note(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            if scope["method"] == "POST" and scope["path"] in self.guarded:
                problem, receive = await self._read_body(scope, receive)
                if problem:
                    state["error"] = problem[1]
                    response = JSONResponse({"detail": problem[1]}, status_code=problem[0])
                    return await response(scope, receive, send_and_note)
            await self.app(scope, receive, send_and_note)
        finally:
            seconds = time.perf_counter() - started
            if self.metrics is not None:
                self.metrics.request(scope["path"], scope["method"], status, seconds)
            _log(event="request", method=scope["method"], path=scope["path"], status=status,
                 duration_ms=round(seconds * 1000, 2), rows=state.get("rows"), request_id=request_id,
                 error=state.get("error"))

    async def _read_body(self, scope: dict, receive: Any) -> tuple[tuple[int, str] | None, Any]:
        headers = dict(scope["headers"])
        content_type = headers.get(b"content-type", b"").decode("latin-1").split(";")[0].strip().lower()
        if content_type != "application/json":
            return (415, f"Content-Type must be application/json, not '{content_type or 'none'}'"), receive
        too_big = (413, f"request body is larger than the limit of {self.max_body_bytes} bytes")
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_body_bytes:
            return too_big, receive
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # client went away
                break
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                return too_big, receive
            more = message.get("more_body", False)
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return None, replay


def _setting(value: int | None, env: str, default: int) -> int:
    raw = value if value is not None else os.environ.get(env, default)
    try:
        number = int(raw)
    except (TypeError, ValueError):
        number = 0
    if number < 1:
        raise PipelineError(f"{env}={raw!r}: must be a positive integer")
    return number


def capture_settings(metadata: dict, model_dir: Path, columns: list[dict]) -> capture.Settings:
    """metadata.json's copy of params.yaml `capture:` (export writes it), $CAPTURE_DIR applied."""
    where = f"{model_dir / METADATA_FILE} capture (from params.yaml)"
    settings = capture.settings(metadata.get("capture"), where)
    capture.check_columns(settings, [c["name"] for c in columns], where)
    return settings


def create_app(model_dir: str | Path, max_rows: int | None = None, max_body_bytes: int | None = None,
               runtime: str | None = None, capture_to: capture.Settings | None = None) -> FastAPI:
    """The app for one model directory. Limits default to $MAX_BATCH_ROWS and $MAX_BODY_BYTES; the
    runtime to the one export chose (metadata.json); capture to metadata.json's `capture` settings."""
    max_rows = _setting(max_rows, "MAX_BATCH_ROWS", DEFAULT_MAX_ROWS)
    max_body_bytes = _setting(max_body_bytes, "MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)
    model, metadata, columns = load_model_dir(model_dir, runtime)
    metadata = {**metadata, "runtime": model.runtime}  # what this app serves, even when overridden
    settings = capture_to or capture_settings(metadata, Path(model_dir), columns)
    classes = model.classes
    PredictRequest = _request_model(columns, max_rows)
    PredictResponse = _response_model(classes, metadata.get("task", ""))
    # METRICS_ENABLED=0 leaves /metrics out (and prometheus-client unimported): for comparisons, or a
    # deployment that scrapes nothing.
    metrics = None
    if capture.switch("METRICS_ENABLED", os.environ, True):
        metrics = Deferred(lambda: Metrics(metadata, columns, classes))  # loaded once the app is up
    recorder = Recorder(settings, metadata, classes, _log, metrics) if settings.enabled else None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> Any:
        if metrics is not None:
            metrics.start()
        yield
        if recorder is not None:
            recorder.close()  # what is queued reaches the file before the process ends

    app = FastAPI(
        title=f"{metadata.get('model_name', 'model')} prediction API",
        version=str(metadata.get("version", "unknown")),
        description=f"Serves the `{metadata.get('alias', '')}` model; inputs follow the project's data schema.",
        lifespan=lifespan,
    )
    app.add_middleware(_Guard, max_body_bytes=max_body_bytes, metrics=metrics)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if errors and errors[0]["type"] == "json_invalid":
            reason = errors[0].get("ctx", {}).get("error", "invalid JSON")
            return _error(request, 400, f"malformed JSON at character {errors[0]['loc'][-1]}: {reason}")
        listed = [{"field": _where(e["loc"]), "message": e["msg"], "type": e["type"]} for e in errors[:LISTED_ERRORS]]
        message = "; ".join(f"{e['field']}: {e['message']}" for e in listed[:3])
        if len(errors) > 3:
            message += f" (and {len(errors) - 3} more)"
        return _error(request, 422, message, errors=listed, error_count=len(errors))

    # async endpoints run on the event loop: a thread hop per request would cost more than these calls.
    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok", "model_version": metadata.get("version")}

    @app.get("/metadata")
    async def get_metadata() -> dict:
        return {**metadata, "input_schema": columns, "limits": {"max_batch_rows": max_rows,
                                                                "max_body_bytes": max_body_bytes}}

    @app.get("/metrics", include_in_schema=False)
    async def get_metrics(request: Request) -> Response:
        if metrics is None:
            return _error(request, 404, "metrics are off (METRICS_ENABLED=0)")
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    @app.post("/predict", response_model=PredictResponse, responses={
        400: {"description": "malformed JSON"}, 413: {"description": "body over the size limit"},
        415: {"description": "not application/json"}, 422: {"description": "records do not match the schema"}})
    async def predict(body: PredictRequest, request: Request) -> Any:
        rows = [record.model_dump(by_alias=True) for record in body.records]
        request.state.rows = len(rows)
        try:
            if model.runtime == "onnx":  # well under a millisecond: scored on the event loop
                predictions, probabilities = model.score(rows)
            else:  # scikit-learn takes milliseconds: in a thread, so /health answers meanwhile
                predictions, probabilities = await run_in_threadpool(model.score, rows)
        except ValueError as exc:  # valid by the schema but not scorable (e.g. overflow): the client's to fix
            return _error(request, 422, f"records: the model cannot score this batch: {exc}")
        request_id = request.state.request_id
        result = {"predictions": predictions, "model_version": metadata.get("version"), "request_id": request_id,
                  "record_ids": [f"{request_id}-{i}" for i in range(len(rows))]}
        if probabilities is not None:
            probabilities = probabilities.tolist()
            result["probabilities"] = [dict(zip(classes, map(float, p), strict=True)) for p in probabilities]
        if metrics is not None:
            metrics.scored_batch(rows, predictions)
        if recorder is not None and recorder.sampled():
            latency_ms = round((time.perf_counter() - request.state.started) * 1000, 3)
            recorder.submit(request_id, rows, predictions, probabilities, latency_ms)
        return result

    _log(event="startup", model_name=metadata.get("model_name"), version=metadata.get("version"),
         alias=metadata.get("alias"), git_commit=metadata.get("git_commit"), runtime=model.runtime,
         columns=len(columns), capture=str(settings.dir) if recorder else "off",
         capture_sample_rate=settings.sample_rate if recorder else None)
    if recorder is not None and not _writable(settings.dir):
        _log(event="capture_unwritable", dir=str(settings.dir),
             note="requests are answered; records are dropped and counted until the folder is writable")
    return app


def _writable(directory: Path) -> bool:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(directory, os.W_OK)


def from_env() -> FastAPI:
    """App factory for `uvicorn --factory` (the image's CMD): the model directory is $MODEL_DIR."""
    try:
        return create_app(os.environ.get("MODEL_DIR", MODEL_DIR))
    except PipelineError as exc:
        # Exit at once with one readable line instead of a traceback, so a bad image fails fast.
        raise SystemExit(f"error: {exc}") from None
