"""The serving app's prediction capture: a bounded queue and one background writer thread per process.

The request path only samples and enqueues (request id, rows, predictions, latency); the writer thread
builds the records (../capture.py has the format), redacts, encodes, and appends whole lines with one
os.write per batch. A full queue, a read-only or full disk: the request still succeeds, the records
are dropped and counted (`capture_records_dropped_total{reason}`), and one log line a minute at most
says so. Memory is bounded by `queue_size` records.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

from .. import capture

BATCH_RECORDS = 2000  # records per os.write at most
FLUSH_EVERY_S = 0.25  # the writer wakes this often, or sooner when a batch is waiting: one write per batch
LOG_EVERY_S = 60.0


class Recorder:
    def __init__(self, settings: capture.Settings, metadata: dict, classes: list[str],
                 log: Callable[..., None], counters: Any = None, host: str | None = None) -> None:
        self.settings, self.classes, self.log, self.counters = settings, classes, log, counters
        self.version, self.sha256 = metadata.get("version"), metadata.get("model_sha256")
        self.file = capture.CaptureFile(settings.dir, settings.rotate_bytes, settings.rotate_minutes * 60, host)
        self._items: deque = deque()
        self._pending = 0  # records queued, not yet written or dropped
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._dropped: dict[str, int] = {}  # since the last log line
        self._last_error = ""
        self._logged_at = -LOG_EVERY_S  # the first drop is logged at once
        self._random = random.Random()
        self.written = 0
        self.dropped = 0

    # ------------------------------------------------------------------ request path (event loop thread)
    def sampled(self) -> bool:
        rate = self.settings.sample_rate
        return rate >= 1 or (rate > 0 and self._random.random() < rate)

    def submit(self, request_id: str, rows: list[dict], predictions: list, probabilities: Any,
               latency_ms: float) -> None:
        """Queue one request's records, or drop them (counted) when the queue is full. Never raises."""
        n = len(rows)
        with self._lock:
            full = self._pending + n > self.settings.queue_size
            if not full:
                self._pending += n
                self._items.append((request_id, rows, predictions, probabilities, latency_ms, time.time()))
                pending = self._pending
        if full:
            self._drop("queue_full", n)
            return
        if self._thread is None:
            self._start()
        if pending >= BATCH_RECORDS:  # otherwise the writer's timer collects it: no wake-up per request
            self._wake.set()

    # ------------------------------------------------------------------------------------ writer thread
    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="capture-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            self._wake.wait(timeout=FLUSH_EVERY_S)
            self._wake.clear()
            while self._items:
                self._write_batch()
            self._report()
            if self._stop and not self._items:
                return

    def _write_batch(self) -> None:
        records: list[dict] = []
        while self._items and len(records) < BATCH_RECORDS:
            request_id, rows, predictions, probabilities, latency_ms, seconds = self._items.popleft()
            stamp = capture.timestamp(datetime.fromtimestamp(seconds, capture.UTC))
            for i, row in enumerate(rows):
                probs = None
                if probabilities is not None:
                    probs = dict(zip(self.classes, map(float, probabilities[i]), strict=True))
                records.append(capture.record(
                    request_id, i, capture.redact(row, self.settings), predictions[i], probs, source="online",
                    model_version=self.version, model_sha256=self.sha256, latency_ms=latency_ms, time=stamp))
        n = len(records)
        try:
            ok = self.file.write(capture.encode(records))
            error = "" if ok else f"cannot write to {self.file.root} (read-only, full or removed)"
        except Exception as exc:  # an input that will not encode must not stop the thread
            ok, error = False, f"{type(exc).__name__}: {exc}"
        with self._lock:
            self._pending -= n
        if ok:
            self.written += n
            if self.counters is not None:
                self.counters.capture_written(n)
        else:
            self._last_error = error
            self._drop("write_error", n)

    def _drop(self, reason: str, n: int) -> None:
        with self._lock:
            self.dropped += n
            self._dropped[reason] = self._dropped.get(reason, 0) + n
        if self.counters is not None:
            self.counters.capture_dropped(reason, n)
        if self._thread is not None:
            self._wake.set()  # the writer logs it, at most once a minute
        else:
            self._report()

    def _report(self, final: bool = False) -> None:
        now = time.monotonic()
        with self._lock:
            if not self._dropped or (now - self._logged_at < LOG_EVERY_S and not final):
                return
            dropped, self._dropped = self._dropped, {}
            self._logged_at = now
        self.log(event="capture_dropped", dropped=sum(dropped.values()), reasons=dropped,
                 error=self._last_error or None, dir=str(self.settings.dir),
                 note="requests were answered; these records were not captured")

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued (up to `timeout` seconds), then close the file."""
        self._stop = True
        if self._thread is not None:
            self._wake.set()
            self._thread.join(timeout)
        self.file.close()
        self._report(final=True)  # drops since the last line are not left unsaid
