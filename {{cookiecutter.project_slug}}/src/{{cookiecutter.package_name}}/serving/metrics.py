"""The serving app's Prometheus metrics (prometheus-client; docs/monitoring.md lists them).

With $PROMETHEUS_MULTIPROC_DIR set (the image sets it; uvicorn --workers N needs it), every worker
writes its values to files there and `/metrics` sums them: prometheus-client's multiprocess mode.
Without it (one process, tests) each app has a registry of its own. The thresholds of the alert
rules (params.yaml `monitoring:`) and the training data's reference values are published as gauges,
so monitoring/alerts.yml stays one fixed file and params.yaml stays the one home of the numbers.

prometheus-client takes tens of milliseconds to import, a twentieth of the image's cold start:
`Deferred` loads it in a thread once the app is up, and counts what happens meanwhile.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

# Seconds; /predict answers in about a millisecond on one record, a 1,000-row batch in tens.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ROUTES = ("/predict", "/health", "/metadata", "/metrics", "/docs", "/redoc", "/openapi.json")
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    path = os.environ.get(MULTIPROC_ENV) or os.environ.get(MULTIPROC_ENV.lower())
    if path:
        os.makedirs(path, exist_ok=True)
    return path or None


class Metrics:
    def __init__(self, metadata: dict, columns: list[dict], classes: list[str]) -> None:
        shared = multiprocess_dir()  # before prometheus_client is imported: it reads the variable then
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self._shared = shared
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("http_requests", "HTTP requests by route, method and status",
                                ["route", "method", "status"], registry=r)
        self.latency = Histogram("http_request_duration_seconds", "Time from request to the end of the response",
                                 ["route"], buckets=LATENCY_BUCKETS, registry=r)
        self.requests.labels("/predict", "POST", "200")  # a series from the start: "no traffic" is a 0 rate
        self._children: dict[tuple, tuple] = {}
        self.scored = Counter("model_records_scored", "Records (rows) scored by /predict", registry=r)
        self.classes = list(classes)
        reference = metadata.get("reference") or {}
        if self.classes:
            self.predictions = Counter("model_predictions", "Predictions by class", ["class"], registry=r)
            self._by_class = {label: self.predictions.labels(label) for label in self.classes}
        else:
            buckets = reference.get("prediction_buckets") or Histogram.DEFAULT_BUCKETS
            self.values = Histogram("model_prediction_value", "Predicted values", buckets=buckets, registry=r)
        self.missing = Counter("model_input_missing", "Input values that were missing (null), by feature",
                               ["feature"], registry=r)
        self.unseen = Counter("model_input_unseen_category",
                              "Category values the training data did not have, by feature", ["feature"], registry=r)
        self.written = Counter("capture_records_written", "Prediction records written to the capture files",
                               registry=r)
        self.dropped = Counter("capture_records_dropped", "Prediction records not captured, by reason",
                               ["reason"], registry=r)
        self.dropped.labels("queue_full"), self.dropped.labels("write_error")  # series exist before a drop
        self.nullable = [c["name"] for c in columns if c.get("nullable")]
        self._missing = {name: self.missing.labels(name) for name in self.nullable}
        categories = reference.get("categories") or {}
        self.known = {c["name"]: set(categories[c["name"]]) for c in columns
                      if c["dtype"] != "float64" and not c.get("allowed") and c["name"] in categories}
        self._unseen = {name: self.unseen.labels(name) for name in self.known}

        gauge = {"multiprocess_mode": "max"}  # every worker sets the same value
        info = Gauge("model_info", "The model served (value 1)", ["name", "version", "sha256", "runtime"],
                     registry=r, **gauge)
        info.labels(str(metadata.get("model_name", "")), str(metadata.get("version", "")),
                    str(metadata.get("model_sha256") or ""), str(metadata.get("runtime", ""))).set(1)
        limits = metadata.get("monitoring") or {}
        thresholds = (("latency_p99_ms", "alert_latency_p99_seconds", 1e-3, "p99 latency budget of /predict"),
                      ("error_rate", "alert_error_rate", 1, "share of 5xx answers that alerts"),
                      ("prediction_shift", "alert_prediction_shift", 1,
                       "predicted class share (regression: mean, in training std) distance that alerts"))
        for key, name, scale, text in thresholds:
            if isinstance(limits.get(key), (int, float)):
                Gauge(f"model_{name}", f"params.yaml monitoring.{key}: {text}", registry=r, **gauge).set(
                    limits[key] * scale)
        if reference.get("class_share"):
            share = Gauge("model_training_class_share", "Share of each class in the training data", ["class"],
                          registry=r, **gauge)
            for label, value in reference["class_share"].items():
                share.labels(str(label)).set(value)
        for key in ("mean", "std"):
            if isinstance(reference.get(f"target_{key}"), (int, float)):
                Gauge(f"model_training_target_{key}", f"The training target's {key}", registry=r, **gauge).set(
                    reference[f"target_{key}"])

    def capture_written(self, n: int) -> None:
        self.written.inc(n)

    def capture_dropped(self, reason: str, n: int) -> None:
        self.dropped.labels(reason).inc(n)

    def route(self, path: str) -> str:
        return path if path in ROUTES else "other"

    def request(self, path: str, method: str, status: int, seconds: float) -> None:
        key = (path, method, status)
        children = self._children.get(key)
        if children is None:  # looked up once per (route, method, status): labels() costs more than inc()
            route = self.route(path)
            children = (self.requests.labels(route, method if method in ("GET", "POST", "HEAD") else "other",
                                             str(status)), self.latency.labels(route))
            if len(self._children) < 1000:  # paths are the client's to choose: bound the cache
                self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def scored_batch(self, rows: list[dict], predictions: list) -> None:
        self.scored.inc(len(rows))
        if self.classes:
            for label in predictions:
                child = self._by_class.get(label)
                if child is not None:
                    child.inc()
        else:
            for value in predictions:
                self.values.observe(value)
        for name, child in self._missing.items():
            n = sum(row[name] is None for row in rows)
            if n:
                child.inc(n)
        for name, known in self.known.items():
            n = sum(row[name] is not None and row[name] not in known for row in rows)
            if n:
                self._unseen[name].inc(n)

    def exposition(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        if self._shared:
            from prometheus_client.multiprocess import MultiProcessCollector

            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=self._shared)
        else:
            registry = self.registry
        return generate_latest(registry), CONTENT_TYPE_LATEST



class Deferred:
    """Metrics built in a background thread; calls made before they exist are kept and replayed.

    `start()` (from the app's startup) begins loading; `exposition()` waits for it. Every recording
    method of Metrics can be called on this object at any time.
    """

    RECORDING = ("request", "scored_batch", "capture_written", "capture_dropped")

    def __init__(self, build: Callable[[], Metrics]) -> None:
        self._build = build
        self._real: Metrics | None = None
        self._pending: list[tuple[str, tuple]] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._load, name="metrics-loader", daemon=True)
                self._thread.start()

    def _load(self) -> None:
        try:
            real = self._build()
        except BaseException as exc:  # re-raised where it is used: /metrics answers 500 and says why
            self._error = exc
            return
        with self._lock:
            for name, args in self._pending:
                getattr(real, name)(*args)
            self._pending.clear()
            self._real = real
            for name in self.RECORDING:  # from now on straight to the metrics, without __getattr__
                setattr(self, name, getattr(real, name))

    def ready(self, timeout: float | None = None) -> Metrics:
        self.start()
        self._thread.join(timeout)
        if self._error is not None:
            raise self._error
        if self._real is None:
            raise TimeoutError("metrics are still loading")
        return self._real

    def exposition(self) -> tuple[bytes, str]:
        return self.ready(30).exposition()

    def __getattr__(self, name: str) -> Callable[..., None]:
        if name not in self.RECORDING:
            raise AttributeError(name)

        def record(*args: object) -> None:
            real = self._real
            if real is None:
                self.start()  # an app run without its startup (lifespan) must not queue forever
                with self._lock:
                    real = self._real
                    if real is None:
                        self._pending.append((name, args))
                        return
            getattr(real, name)(*args)

        return record
