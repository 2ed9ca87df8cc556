"""Prediction capture: the record format, its files, and the reader (docs/monitoring.md).

One home for the format that the serving app (online) and batch scoring (batch) write and the
monitor reads. A record is one JSON object on one `\\n`-terminated UTF-8 line:

    {"record_id": "<request_id>-<row>", "request_id": str, "time": "2026-12-03T10:00:00.123456Z",
     "source": "online" | "batch", "model_version": str | null, "model_sha256": str | null,
     "inputs": {column: value as received, after drop/hash}, "prediction": label or number,
     "probabilities": {label: float} | null, "latency_ms": float | null}

Files: `<dir>/<YYYY-MM-DD>/predictions-<YYYYMMDDTHH>-<host>-<pid>-<n>.jsonl`, one writer per process,
rotated by size and time. Each write is whole lines in one `os.write` on an O_APPEND descriptor, and
a writer never appends after a short write, so a line is whole or absent and a reader skips what
does not parse. The standard library and orjson only: the serving image imports this.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from .errors import PipelineError
from .paths import CAPTURE_DIR, CAPTURE_FILES, CAPTURE_PREFIX, CAPTURE_SUFFIX

UTC = timezone.utc  # noqa: UP017 (datetime.UTC is 3.11+)
SOURCES = ("online", "batch")
FIELDS = ("record_id", "request_id", "time", "source", "model_version", "model_sha256", "inputs", "prediction",
          "probabilities", "latency_ms")
# X-Request-ID values taken from clients: printable, no spaces or quotes, short enough for a log line.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
HASH_KEY_ENV = "CAPTURE_HASH_KEY"  # optional secret: hashed columns become HMACs no dictionary can reverse
DIR_ENV = "CAPTURE_DIR"  # overrides capture.dir (the image sets /var/lib/capture)
ENABLED_ENV = "CAPTURE_ENABLED"  # overrides capture.enabled: turn capture off without a new image
SWITCH = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}
DEFAULTS = {"enabled": True, "sample_rate": 1.0, "dir": CAPTURE_DIR.as_posix(), "drop_columns": [], "hash_columns": [],
            "rotate_mb": 64, "rotate_minutes": 60, "queue_size": 10000}


# ---------------------------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class Settings:
    """params.yaml `capture:` validated; `dir` already has $CAPTURE_DIR applied."""

    enabled: bool = True
    sample_rate: float = 1.0
    dir: Path = CAPTURE_DIR
    drop_columns: tuple[str, ...] = ()
    hash_columns: tuple[str, ...] = ()
    rotate_mb: float = 64
    rotate_minutes: float = 60
    queue_size: int = 10000

    @property
    def rotate_bytes(self) -> int:
        return int(self.rotate_mb * 1024 * 1024)


def settings(section: dict | None, where: str = "params.yaml capture", env: dict | None = None) -> Settings:
    """The `capture:` section checked (unknown keys, types, ranges); PipelineError naming the key."""
    env = os.environ if env is None else env
    section = {} if section is None else section
    if not isinstance(section, dict):
        raise PipelineError(f"{where}: expected a mapping, got {type(section).__name__}")
    unknown = sorted(set(section) - set(DEFAULTS))
    if unknown:
        raise PipelineError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(DEFAULTS)}")
    value = {**DEFAULTS, **{k: v for k, v in section.items() if v is not None}}

    def number(key: str, low: float, high: float | None, kind: type = float) -> Any:
        raw = value[key]
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or (kind is int and raw != int(raw)):
            raise PipelineError(f"{where}.{key}: expected a{'n integer' if kind is int else ' number'}, got {raw!r}")
        if raw < low or (high is not None and raw > high) or (low == 0 and key != "sample_rate" and raw == 0):
            bound = f"between {low} and {high}" if high is not None else "above 0"
            raise PipelineError(f"{where}.{key}: {raw!r} is not {bound}")
        return kind(raw)

    def columns(key: str) -> tuple[str, ...]:
        raw = value[key]
        if not isinstance(raw, list) or not all(isinstance(c, str) for c in raw):
            raise PipelineError(f"{where}.{key}: expected a list of column names, got {raw!r}")
        return tuple(raw)

    if not isinstance(value["enabled"], bool):
        raise PipelineError(f"{where}.enabled: expected true or false, got {value['enabled']!r}")
    value["enabled"] = switch(ENABLED_ENV, env, value["enabled"])
    directory = env.get(DIR_ENV) or value["dir"]
    if not isinstance(directory, str) or not directory:
        raise PipelineError(f"{where}.dir: expected a folder path, got {directory!r}")
    drop, hashed = columns("drop_columns"), columns("hash_columns")
    both = sorted(set(drop) & set(hashed))
    if both:
        raise PipelineError(f"{where}: column(s) {', '.join(both)} in both drop_columns and hash_columns")
    return Settings(enabled=value["enabled"], sample_rate=number("sample_rate", 0, 1), dir=Path(directory),
                    drop_columns=drop, hash_columns=hashed, rotate_mb=number("rotate_mb", 0, None),
                    rotate_minutes=number("rotate_minutes", 0, None),
                    queue_size=number("queue_size", 0, None, int))


def switch(name: str, env: dict | os._Environ, default: bool) -> bool:
    """An on/off environment variable: 1/0, true/false, yes/no, on/off; unset or empty: `default`."""
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw not in SWITCH:
        raise PipelineError(f"{name}={env.get(name)!r}: expected one of {', '.join(SWITCH)}")
    return SWITCH[raw]


def check_columns(settings: Settings, names: list[str], where: str = "params.yaml capture") -> None:
    """A dropped or hashed column the model does not take is a typo that would leak the real one."""
    for key in ("drop_columns", "hash_columns"):
        unknown = [c for c in getattr(settings, key) if c not in names]
        if unknown:
            raise PipelineError(f"{where}.{key}: {', '.join(unknown)} not among the model's inputs {names}")


# ------------------------------------------------------------------------------------------------ records
def request_id(given: str | None = None) -> str:
    """The client's id when it is valid (REQUEST_ID), else a new uuid4 hex: never echo what is not."""
    if given is not None and REQUEST_ID.fullmatch(given):
        return given
    return uuid.uuid4().hex


def timestamp(moment: datetime | None = None) -> str:
    """UTC, ISO 8601 with microseconds and Z: '2026-12-03T10:00:00.123456Z'."""
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def hash_value(value: Any, key: bytes | None = None) -> str | None:
    """'sha256:<hex>' of the value's JSON text (HMAC with $CAPTURE_HASH_KEY when set); None stays None
    (a missing value is not personal data, and the monitor counts it as missing)."""
    if value is None:
        return None
    key = key if key is not None else os.environ.get(HASH_KEY_ENV, "").encode()
    text = json.dumps(value).encode()
    digest = hmac.new(key, text, hashlib.sha256) if key else hashlib.sha256(text)
    return "sha256:" + digest.hexdigest()


def redact(inputs: dict, settings: Settings, key: bytes | None = None) -> dict:
    """The inputs to store: dropped columns left out, hashed ones replaced by their hash."""
    if not settings.drop_columns and not settings.hash_columns:
        return inputs
    kept = {name: value for name, value in inputs.items() if name not in settings.drop_columns}
    for name in settings.hash_columns:
        if name in kept:
            kept[name] = hash_value(kept[name], key)
    return kept


def record(request: str, row: int, inputs: dict, prediction: Any, probabilities: dict | None, *,
           source: str, model_version: Any, model_sha256: str | None, latency_ms: float | None,
           time: str | None = None) -> dict:
    """One capture record (inputs already redacted)."""
    return {"record_id": f"{request}-{row}", "request_id": request, "time": time or timestamp(), "source": source,
            "model_version": None if model_version is None else str(model_version), "model_sha256": model_sha256,
            "inputs": inputs, "prediction": prediction, "probabilities": probabilities, "latency_ms": latency_ms}


def encode(records: list[dict]) -> bytes:
    """Whole lines, ready for one os.write. orjson: a tenth of the json module's time on a record (the
    app encodes every scored row), and NaN or infinities, which are not JSON, become null."""
    return b"".join(orjson.dumps(item) + b"\n" for item in records)


# -------------------------------------------------------------------------------------------------- files
def file_path(root: Path, moment: datetime, host: str, pid: int, n: int) -> Path:
    moment = moment.astimezone(UTC)
    return root / moment.strftime("%Y-%m-%d") / f"{CAPTURE_PREFIX}{moment:%Y%m%dT%H}-{host}-{pid}-{n}{CAPTURE_SUFFIX}"


def host_name() -> str:
    """The host part of file names: no '-' (the separator) or '/'."""
    return re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "host"


class CaptureFile:
    """Synchronous writer of whole lines to rotating files; one per process (not thread-safe by itself).

    `write(data)` returns True when every byte reached the file. A short or failed write (disk full,
    read-only, deleted folder) returns False: the file is cut back to its last whole line and closed, so
    the next write starts a new file and never glues a line to a fragment.
    """

    def __init__(self, root: Path, rotate_bytes: int, rotate_seconds: float, host: str | None = None) -> None:
        self.root, self.rotate_bytes, self.rotate_seconds = Path(root), rotate_bytes, rotate_seconds
        self.host, self.pid, self.n = host or host_name(), os.getpid(), 0
        self.fd: int | None = None
        self.path: Path | None = None
        self.size = 0
        self.opened = 0.0
        self.hour = ""

    def _open(self, now: datetime) -> None:
        if self.pid != os.getpid():  # forked: a new process gets files of its own
            self.pid, self.n, self.fd = os.getpid(), 0, None
        while True:
            self.n += 1
            path = file_path(self.root, now, self.host, self.pid, self.n)
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o644)
                break
            except FileExistsError:  # a previous process with the same pid (a restarted container)
                continue
        self.path, self.size, self.opened, self.hour = path, 0, now.timestamp(), f"{now.astimezone(UTC):%Y%m%d%H}"

    def _due(self, now: datetime) -> bool:
        return (self.fd is None or self.pid != os.getpid() or self.size >= self.rotate_bytes
                or now.timestamp() - self.opened >= self.rotate_seconds
                or f"{now.astimezone(UTC):%Y%m%d%H}" != self.hour)

    def write(self, data: bytes, now: datetime | None = None) -> bool:
        now = now or datetime.now(UTC)
        try:
            if self._due(now):
                self.close()
                self._open(now)
            written = os.write(self.fd, data)
        except OSError:
            self._abandon()
            return False
        if written != len(data):
            self._abandon()
            return False
        self.size += written
        return True

    def _abandon(self) -> None:
        if self.fd is not None:
            try:
                os.ftruncate(self.fd, self.size)  # drop a fragment a short write left
            except OSError:
                pass
        self.close()

    def close(self) -> None:
        if self.fd is not None:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = None


# ------------------------------------------------------------------------------------------------- reader
@dataclass
class Captures:
    """What read_captures found: the records (oldest file first), lines skipped, files read."""

    records: list[dict] = field(default_factory=list)
    skipped: int = 0
    files: int = 0


def _valid(record: Any) -> bool:
    return (isinstance(record, dict) and all(key in record for key in FIELDS)
            and isinstance(record["record_id"], str) and isinstance(record["time"], str)
            and isinstance(record["inputs"], dict) and record["source"] in SOURCES)


def capture_files(directory: str | Path, since: datetime | None = None) -> Iterator[Path]:
    """The capture files under `directory`, in time order; day folders before `since`'s day are not opened."""
    root = Path(directory)
    if not root.is_dir():
        return
    first_day = since.astimezone(UTC).strftime("%Y-%m-%d") if since else ""
    for day in sorted(p for p in root.iterdir() if p.is_dir() and re.fullmatch(r"\d{4}-\d\d-\d\d", p.name)):
        if day.name < first_day:
            continue
        yield from sorted(day.glob(CAPTURE_FILES))


def read_captures(directory: str | Path, since: datetime | str | None = None) -> Captures:
    """Every whole, valid record under `directory` (at or after `since`, a UTC datetime or ISO text).

    Lines that do not parse, are not records (missing fields), or lack the final newline (a write cut
    short) are skipped and counted in `skipped`; the records on either side of them are kept.
    """
    if isinstance(since, str):
        since = datetime.fromisoformat(since.replace("Z", "+00:00"))
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    found = Captures()
    for path in capture_files(directory, since):
        found.files += 1
        with open(path, "rb") as handle:
            for line in handle:
                if not line.endswith(b"\n"):
                    found.skipped += 1
                    continue
                try:
                    item = json.loads(line)
                except ValueError:  # also UnicodeDecodeError
                    found.skipped += 1
                    continue
                if not _valid(item):
                    found.skipped += 1
                    continue
                if since is not None:
                    try:
                        if parse_time(item["time"]) < since:
                            continue
                    except ValueError:
                        found.skipped += 1
                        continue
                found.records.append(item)
    return found

