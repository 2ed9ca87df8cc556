"""What the served model reports, in process (docs/monitoring.md): request ids, prediction capture
(format, privacy, sampling, rotation, drops, the reader) and /metrics, plus a seeded fuzz of the API
that must never produce a server error."""

from __future__ import annotations

import json
import os
import random
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import ROOT, user_frame, write_schema
from fastapi.testclient import TestClient

from {{ cookiecutter.package_name }} import capture, contract
from {{ cookiecutter.package_name }}.config import load_params
from {{ cookiecutter.package_name }}.errors import PipelineError
from {{ cookiecutter.package_name }}.serving import export, recorder, serve
from {{ cookiecutter.package_name }}.stages import train

UTC = timezone.utc  # noqa: UP017 (datetime.UTC is 3.11+)
MALFORMED_IDS = ["x" * 129, "abc\tdef", "id with spaces", "quote\"d", "ünïcode", ""]


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> tuple[Path, list[dict], dict]:
    """A small model of a user's data (a string column with gaps, a number with gaps), exported once for
    the module with the monitoring metadata export adds: (model dir, rows to score, params)."""
    params = load_params(ROOT / "params.yaml")
    task = params["task"]
    tmp = tmp_path_factory.mktemp("capture-model")
    frame = user_frame(task, rows=150)
    write_schema(frame, tmp / "schema.yaml", task=task)
    params = {**params, "data": {**params["data"], "target": "label", "schema": str(tmp / "schema.yaml")},
              "model": {**params["model"], "family": "random_forest", "params": {"n_estimators": 10}}}
    X, y = train.split_xy(frame, params)
    fitted = train.build_pipeline(params, X).fit(X, y)
    columns = contract.input_schema(params, list(X.columns))
    reference = {"categories": {"colour": ["blue", "green"]}}  # "red" plays the category training never saw
    metadata = {"model_name": "m", "version": 7, "alias": "champion", "model_sha256": "ab" * 32, "task": task,
                "target": "label", **export.serving_settings(params, columns), "reference": reference}
    export.write(tmp / "model", fitted, metadata, columns, X)
    rows = json.loads(X.head(20).to_json(orient="records"))
    return tmp / "model", rows, params


def settings(directory: Path, **overrides) -> capture.Settings:
    return capture.settings(overrides, env={"CAPTURE_DIR": str(directory)})


def app_for(model, directory: Path, **overrides) -> TestClient:
    return TestClient(serve.create_app(model[0], capture_to=settings(directory, **overrides)))


def read_all(directory: Path) -> capture.Captures:
    return capture.read_captures(directory)


def metric(text: str, name: str) -> float:
    """The sum of a metric's samples (all label values) in Prometheus' text format."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and line[len(name)] in " {":
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_request_ids_in_header_body_and_capture(model, tmp_path, capsys):
    rows = model[1][:3]
    with app_for(model, tmp_path / "cap") as client:
        given = client.post("/predict", json={"records": rows}, headers={"X-Request-ID": "order-42.a:b_c"})
        fresh = client.post("/predict", json={"records": rows[:1]})
        health = client.get("/health", headers={"X-Request-ID": "probe-1"})
    assert given.status_code == 200 and given.headers["x-request-id"] == "order-42.a:b_c"
    body = given.json()
    assert body["request_id"] == "order-42.a:b_c"
    assert body["record_ids"] == ["order-42.a:b_c-0", "order-42.a:b_c-1", "order-42.a:b_c-2"]
    new_id = fresh.headers["x-request-id"]
    assert len(new_id) == 32 and int(new_id, 16) >= 0 and fresh.json()["record_ids"] == [f"{new_id}-0"]
    assert health.headers["x-request-id"] == "probe-1"
    found = read_all(tmp_path / "cap")  # the app's shutdown wrote what was queued
    assert [r["record_id"] for r in found.records] == [*body["record_ids"], f"{new_id}-0"]
    first = found.records[0]
    assert set(first) == set(capture.FIELDS) and first["source"] == "online" and found.skipped == 0
    assert (first["model_version"], first["model_sha256"]) == ("7", "ab" * 32)
    assert first["inputs"] == rows[0] and first["prediction"] == body["predictions"][0]
    assert first["probabilities"] == (body.get("probabilities") or [None])[0]
    assert first["latency_ms"] > 0 and capture.parse_time(first["time"]) <= datetime.now(UTC)
    log = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert "order-42.a:b_c" in [line.get("request_id") for line in log]


@pytest.mark.parametrize("bad", MALFORMED_IDS)
def test_malformed_request_id_is_replaced_never_echoed(model, tmp_path, capsys, bad):
    with app_for(model, tmp_path / "cap") as client:
        response = client.post("/predict", json={"records": model[1][:1]},
                               headers=[(b"x-request-id", bad.encode())])
    assert response.status_code == 200
    new_id = response.headers["x-request-id"]
    assert new_id != bad and len(new_id) == 32 and response.json()["request_id"] == new_id
    assert bad not in response.text or not bad
    stored = read_all(tmp_path / "cap").records
    assert [r["request_id"] for r in stored] == [new_id]
    if bad:
        assert bad not in capsys.readouterr().out


def test_privacy_and_sampling(model, tmp_path, monkeypatch):
    rows = model[1][:4]
    monkeypatch.setenv(capture.HASH_KEY_ENV, "secret")
    with app_for(model, tmp_path / "a", drop_columns=["count"], hash_columns=["colour"]) as client:
        client.post("/predict", json={"records": rows})
    stored = read_all(tmp_path / "a").records
    assert len(stored) == 4
    for row, record in zip(rows, stored, strict=True):
        assert "count" not in record["inputs"] and record["inputs"]["size"] == row["size"]
        colour = record["inputs"]["colour"]
        assert colour == (None if row["colour"] is None else capture.hash_value(row["colour"], b"secret"))
        assert colour is None or (colour.startswith("sha256:") and row["colour"] not in colour)
    with app_for(model, tmp_path / "b", sample_rate=0.0) as client:
        assert client.post("/predict", json={"records": rows}).status_code == 200
    assert read_all(tmp_path / "b").records == []
    with app_for(model, tmp_path / "c", sample_rate=0.5) as client:
        for _ in range(200):
            client.post("/predict", json={"records": rows[:1]})
    assert 40 < len(read_all(tmp_path / "c").records) < 160  # 200 draws at 0.5: over 8 sigma from either bound
    with app_for(model, tmp_path / "d", enabled=False) as client:
        client.post("/predict", json={"records": rows})
    assert not (tmp_path / "d").exists()


def test_environment_switches_capture_and_metrics_off(model, tmp_path, monkeypatch):
    monkeypatch.setenv("CAPTURE_DIR", str(tmp_path / "off"))
    monkeypatch.setenv("CAPTURE_ENABLED", "0")
    monkeypatch.setenv("METRICS_ENABLED", "false")
    with TestClient(serve.create_app(model[0])) as client:  # settings from metadata.json and the environment
        assert client.post("/predict", json={"records": model[1][:2]}).status_code == 200
        assert client.get("/metrics").status_code == 404
    assert not (tmp_path / "off").exists()
    monkeypatch.setenv("CAPTURE_ENABLED", "maybe")
    with pytest.raises(PipelineError, match="CAPTURE_ENABLED='maybe': expected one of"):
        serve.create_app(model[0])


def test_bad_capture_settings_name_the_key(model):
    with pytest.raises(PipelineError, match=r"capture.sample_rate: 1.5 is not between 0 and 1"):
        capture.settings({"sample_rate": 1.5}, env={})
    with pytest.raises(PipelineError, match=r"capture: unknown key\(s\) rotate_gb"):
        capture.settings({"rotate_gb": 1}, env={})
    with pytest.raises(PipelineError, match=r"capture.hash_columns: email not among the model's inputs"):
        export.serving_settings({**model[2], "capture": {"hash_columns": ["email"]}},
                                contract.input_schema(model[2], ["colour", "size", "noise", "count"]))
    with pytest.raises(PipelineError, match=r"monitoring.latency_p99_ms: expected a number above 0"):
        export.serving_settings({**model[2], "monitoring": {"latency_p99_ms": "fast"}}, [])


def test_files_rotate_by_size_and_hour_one_writer_per_process(tmp_path):
    writer = capture.CaptureFile(tmp_path, rotate_bytes=300, rotate_seconds=3600, host="h")
    start = datetime(2026, 12, 3, 10, 59, 0, tzinfo=UTC)
    line = capture.encode([capture.record("r", 0, {"x": 1.0}, "a", None, source="online", model_version=1,
                                          model_sha256=None, latency_ms=1.0)])
    for i in range(4):  # ~190 bytes a line: a new file every second write
        assert writer.write(line, start + timedelta(seconds=i))
    assert writer.write(line, start + timedelta(minutes=1))  # a new UTC hour: a new file
    writer.close()
    pid = os.getpid()
    names = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.jsonl"))
    assert names == [f"2026-12-03/predictions-20261203T10-h-{pid}-1.jsonl",
                     f"2026-12-03/predictions-20261203T10-h-{pid}-2.jsonl",
                     f"2026-12-03/predictions-20261203T11-h-{pid}-3.jsonl"]
    assert len(read_all(tmp_path).records) == 5
    # by time: rotate_seconds after the file was opened
    timed = capture.CaptureFile(tmp_path / "t", rotate_bytes=10**9, rotate_seconds=60, host="h")
    assert timed.write(line, start) and timed.write(line, start + timedelta(seconds=30))
    assert timed.write(line, start + timedelta(seconds=61)) and timed.n == 2


def test_reader_skips_partial_and_foreign_lines_and_filters_by_time(tmp_path):
    writer = capture.CaptureFile(tmp_path, 10**9, 10**9, host="h")
    old, new = datetime(2026, 12, 1, 8, tzinfo=UTC), datetime(2026, 12, 3, 9, tzinfo=UTC)
    records = [capture.record("q", i, {"x": float(i)}, 1.5, None, source="batch", model_version=None,
                              model_sha256=None, latency_ms=None, time=capture.timestamp(when))
               for i, when in enumerate([old, new, new])]
    writer.write(capture.encode(records[:1]), old)
    writer.write(capture.encode(records[1:]), new)
    writer.close()
    with open(writer.path, "ab") as handle:  # what a writer killed mid-line would leave
        handle.write(b'not json\n{"record_id": "q-9"}\n\xff\xfe\n' + capture.encode(records[2:])[:-20])
    found = capture.read_captures(tmp_path)
    assert [r["record_id"] for r in found.records] == ["q-0", "q-1", "q-2"]
    assert (found.skipped, found.files) == (4, 2)
    later = capture.read_captures(tmp_path, since="2026-12-02T00:00:00Z")
    assert [r["record_id"] for r in later.records] == ["q-1", "q-2"] and later.files == 1
    assert capture.read_captures(tmp_path / "absent").records == []


def test_full_queue_and_unwritable_folder_drop_and_count_never_fail(model, tmp_path, capsys):
    rows = model[1][:5]
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")  # the capture folder cannot be created: every write fails
    with app_for(model, blocked) as client:
        answers = [client.post("/predict", json={"records": rows}).status_code for _ in range(3)]
        deadline = time.monotonic() + 10  # the writer thread collects records a few times a second
        while metric(text := client.get("/metrics").text, "capture_records_dropped_total") < 15:
            assert time.monotonic() < deadline, text
            time.sleep(0.05)
    assert answers == [200] * 3
    assert metric(text, 'capture_records_dropped_total{reason="write_error"}') == 15
    assert metric(text, "capture_records_written_total") == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["event"] for line in lines].count("capture_unwritable") == 1
    dropped = [line for line in lines if line["event"] == "capture_dropped"]
    # The first drop at once, then at most one line a minute, and the rest when the app stops: two at most.
    assert 1 <= len(dropped) <= 2 and sum(line["reasons"]["write_error"] for line in dropped) == 15

    log: list[dict] = []
    full = recorder.Recorder(settings(tmp_path / "q", queue_size=4), {}, [], lambda **f: log.append(f))
    full.submit("a", rows[:5], [1, 2, 3, 4, 5], None, 1.0)  # 5 records > 4 places: dropped, all of them
    full.submit("b", rows[:3], [1, 2, 3], None, 1.0)
    full.close()
    assert (full.written, full.dropped) == (3, 5)
    assert log[0]["reasons"] == {"queue_full": 5}
    assert [r["request_id"] for r in read_all(tmp_path / "q").records] == ["b"] * 3


def test_metrics(model, tmp_path):
    rows = model[1][:10]
    unseen = {**rows[0], "colour": "red"}
    missing = {**rows[1], "colour": None, "noise": None}
    with app_for(model, tmp_path / "cap") as client:
        client.post("/predict", json={"records": rows})
        client.post("/predict", json={"records": [unseen, missing]})
        client.post("/predict", json={"records": []})
        client.get("/nowhere")
        response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert metric(text, 'http_requests_total{method="POST",route="/predict",status="200"}') == 2
    assert metric(text, 'http_requests_total{method="POST",route="/predict",status="422"}') == 1
    assert metric(text, 'http_requests_total{method="GET",route="other",status="404"}') == 1
    assert metric(text, 'http_request_duration_seconds_count{route="/predict"}') == 3
    assert metric(text, "model_records_scored_total") == 12
    if model[2]["task"] == "classification":
        assert metric(text, "model_predictions_total") == 12
        assert 'model_predictions_total{class="yes"}' in text
    else:
        assert metric(text, "model_prediction_value_count") == 12
    expected_missing = sum(r["colour"] is None for r in rows) + 1
    assert metric(text, 'model_input_missing_total{feature="colour"}') == expected_missing
    assert metric(text, 'model_input_unseen_category_total{feature="colour"}') == (
        sum(r["colour"] == "red" for r in rows) + 1)
    assert metric(text, "capture_records_written_total") + metric(text, "capture_records_dropped_total") <= 12
    assert 'model_info{name="m",runtime="onnx",sha256="' + "ab" * 32 + '",version="7"} 1.0' in text
    assert metric(text, "model_alert_latency_p99_seconds") == pytest.approx(
        model[2]["monitoring"]["latency_p99_ms"] / 1000)


def test_fuzzed_requests_never_get_a_server_error(model, tmp_path):
    """Schemathesis-style, seeded: bodies and headers built from valid ones by mutation."""
    rng = random.Random(25)
    rows = model[1]
    weird = [None, True, -1e308, 1e308, 0, "", "x" * 5000, "ü\u0000", [], {}, [1, {"a": None}], -0.0, 2**70]
    statuses: dict[int, int] = {}
    with app_for(model, tmp_path / "cap") as client:
        for _ in range(300):
            record = dict(rng.choice(rows))
            for _ in range(rng.randint(0, 3)):
                action = rng.random()
                key = rng.choice([*record, "extra", ""])
                if action < 0.6:
                    record[key] = rng.choice(weird)
                elif record:
                    record.pop(rng.choice(list(record)))
            body = rng.choice([{"records": [record] * rng.randint(1, 3)}, {"records": record}, [record], record,
                               {"records": [record], "more": 1}, "text", None])
            raw = json.dumps(body, allow_nan=True).encode()
            if rng.random() < 0.1:
                raw = raw[: rng.randint(0, len(raw))]
            headers = {"content-type": rng.choice(["application/json", "application/json; charset=utf-8",
                                                   "text/plain", "application/JSON"])}
            if rng.random() < 0.3:
                headers["x-request-id"] = rng.choice(MALFORMED_IDS[:4] + ["ok-1", "a" * 128])
            status = client.post("/predict", content=raw, headers=headers).status_code
            statuses[status] = statuses.get(status, 0) + 1
    assert all(status < 500 for status in statuses), statuses
    assert statuses.get(200, 0) > 0 and statuses.get(422, 0) > 0, statuses


def test_shutdown_writes_what_is_queued(model, tmp_path):
    """The writer thread runs off the request path; closing the app flushes it (a graceful stop loses nothing)."""
    with app_for(model, tmp_path / "cap") as client:
        ids = [client.post("/predict", json={"records": model[1][:2]}).json()["request_id"] for _ in range(50)]
        time.sleep(0)  # nothing waits for the writer here
    stored = read_all(tmp_path / "cap").records
    assert [r["request_id"] for r in stored[::2]] == ids and len(stored) == 100
