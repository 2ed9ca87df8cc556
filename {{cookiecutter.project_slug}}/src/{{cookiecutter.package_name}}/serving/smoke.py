"""Smoke test of a running model API: /health answers, and /predict scores one valid record.

The record is built from the API's own /metadata (its input schema), so the test needs no data and
works against any deployment of the serving app: locally it checks `make serve`, and `deploy` runs it
inside the serving image, as `python -m <package>.smoke URL`, where there is no params.yaml. Only the
standard library.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from ..errors import CheckFailed, PipelineError

TIMEOUT = 10  # seconds per request


def _call(url: str, body: dict | None = None) -> tuple[int, object]:
    """(HTTP status, decoded JSON or None); status 0 when nothing answered."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET",
                                     headers={"Content-Type": "application/json", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (urllib.error.URLError, OSError):
        return 0, None
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, None


def wait_healthy(base: str, wait: float) -> dict:
    """Poll /health until it answers 200 with status ok, for at most `wait` seconds."""
    deadline = time.monotonic() + wait
    while True:
        status, body = _call(f"{base}/health")
        if status == 200 and isinstance(body, dict) and body.get("status") == "ok":
            return body
        if time.monotonic() >= deadline:
            seen = f"HTTP {status}" if status else "no answer"
            raise CheckFailed(f"{base}/health: not healthy after {wait:.0f} s ({seen})")
        time.sleep(1)


def example_value(column: dict) -> object:
    """A value the input schema accepts: mid-range for numbers, the first allowed value for categories."""
    if column.get("dtype") == "float64":
        low = column.get("minimum", column.get("exclusive_minimum"))
        high = column.get("maximum", column.get("exclusive_maximum"))
        if low is not None and high is not None:
            return (float(low) + float(high)) / 2
        if low is not None:
            return float(low) + 1.0
        return float(high) - 1.0 if high is not None else 0.0
    if column.get("allowed"):
        return column["allowed"][0]
    return None if column.get("nullable") else "x"


def run(url: str, wait: float = 60, expect_version: int | None = None) -> dict:
    """The `smoke` command: health, metadata, one prediction. CheckFailed names what went wrong."""
    base = url.rstrip("/")
    if urllib.parse.urlsplit(base).scheme not in ("http", "https"):
        raise PipelineError(f"--url: expected an http(s) URL, got {url!r}")
    health = wait_healthy(base, wait)
    if expect_version is not None and health.get("model_version") != expect_version:
        raise CheckFailed(f"{base}/health: serves model version {health.get('model_version')}, "
                          f"expected {expect_version}")
    status, metadata = _call(f"{base}/metadata")
    if status != 200 or not isinstance(metadata, dict) or not isinstance(metadata.get("input_schema"), list):
        raise CheckFailed(f"{base}/metadata: HTTP {status}, no input_schema")
    record = {column["name"]: example_value(column) for column in metadata["input_schema"]}
    status, scored = _call(f"{base}/predict", {"records": [record]})
    if status != 200 or not isinstance(scored, dict) or len(scored.get("predictions") or []) != 1:
        detail = scored.get("detail") if isinstance(scored, dict) else None
        raise CheckFailed(f"{base}/predict: HTTP {status}, expected one prediction" + (f": {detail}" if detail else ""))
    return {"url": base, "model_version": health.get("model_version"), "prediction": scored["predictions"][0],
            "columns": len(record)}


def main(argv: list[str] | None = None) -> int:
    """`python -m <package>.smoke URL [--wait S] [--expect-version N]`: the result as one JSON line."""
    parser = argparse.ArgumentParser(prog=f"python -m {__name__}", description=main.__doc__)
    parser.add_argument("url")
    parser.add_argument("--wait", type=float, default=60)
    parser.add_argument("--expect-version", type=int)
    args = parser.parse_args(argv)
    try:
        print(json.dumps(run(args.url, args.wait, args.expect_version)))
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
