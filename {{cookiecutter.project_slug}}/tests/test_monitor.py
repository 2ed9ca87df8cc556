"""Production monitoring: collect captured predictions (files in the capture format the app writes), join
labels, monitor drift and accuracy with Evidently, keep the history in an Evidently workspace, and alert
(against a loopback stand-in of GitHub's REST API)."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import REPO, numeric_features

from {{ cookiecutter.package_name }} import monitoring, reporting
from {{ cookiecutter.package_name }}.ci import alerts, report
from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.config import load_params
from {{ cookiecutter.package_name }}.errors import PipelineError
from {{ cookiecutter.package_name }}.stages import collect, history, ingest

T0 = dt.datetime(2026, 11, 2, 10, 0, tzinfo=collect.UTC)


def write_capture(folder: Path, rows: pd.DataFrame, predictions, start: dt.datetime, request: str,
                  pid: int = 100, extra_lines: tuple[bytes, ...] = ()) -> list[str]:
    """Records as the serving app writes them: one JSON line each, in day folders, one file per process."""
    ids = []
    day = folder / start.strftime("%Y-%m-%d")
    day.mkdir(parents=True, exist_ok=True)
    path = day / f"predictions-{start.strftime('%Y%m%dT%H')}-host-{pid}-0.jsonl"
    with path.open("ab") as out:
        for index, ((_, row), prediction) in enumerate(zip(rows.iterrows(), predictions, strict=True)):
            moment = start + dt.timedelta(seconds=index)
            record = {"record_id": f"{request}-{index}", "request_id": request,
                      "time": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "source": "online", "model_version": "1",
                      "model_sha256": "0" * 64, "inputs": {k: (None if pd.isna(v) else v) for k, v in row.items()},
                      "prediction": prediction, "probabilities": None, "latency_ms": 1.5}
            out.write(json.dumps(record).encode() + b"\n")
            ids.append(record["record_id"])
        for line in extra_lines:
            out.write(line)
    return ids


@pytest.fixture
def setup(project):
    """params (monitoring pointed at the test's capture folder, slices on) and the demo data."""
    params = load_params()
    params["monitoring"] = {**collect.settings(params), "source": str(project / "capture"), "min_rows": 20,
                            "min_labelled_rows": 20}
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    data = pd.read_csv(params["data"]["path"])
    target = params["data"]["target"]
    return params, data.drop(columns=[target]), data[target]


def shifted(features: pd.DataFrame) -> pd.DataFrame:
    out = features.copy()
    numeric = out.select_dtypes("number").columns
    out[numeric] = out[numeric] * 1.8 + out[numeric].std()
    whole = features.select_dtypes("integer").columns  # the contract's int64 columns stay whole numbers
    out[whole] = out[whole].round().astype("int64")
    return out


def test_collect_dedupes_windows_reports_broken_records_and_joins_labels(setup, project):
    params, features, target = setup
    capture = project / "capture"
    rows = features.head(40)
    ids = write_capture(capture, rows, list(target.head(40)), T0, "a1",
                        extra_lines=(b"not json\n", b'{"record_id": "half'))  # a bad line; a writer killed mid-line
    write_capture(capture, rows.head(5), list(target.head(5)), T0, "a1", pid=101)  # the same ids again
    column = numeric_features(params)[0]  # a text column would take "not a number" as a value
    broken = rows.head(1).copy().astype(object)
    broken.loc[broken.index[0], column] = "not a number"
    write_capture(capture, broken, [target.iloc[0]], T0 + dt.timedelta(minutes=5), "bad", pid=102)
    write_capture(capture, rows.head(3), list(target.head(3)), T0 - dt.timedelta(days=2), "old", pid=103)
    labels = project / "data/labels"
    labels.mkdir(parents=True)
    (labels / "week1.csv").write_text("record_id," + params["data"]["target"] + "\n"
                                      + "".join(f"{i},{v}\n" for i, v in zip(ids[:10], target.head(10), strict=True)))
    (labels / "week2.jsonl").write_text("".join(json.dumps({"record_id": i, params["data"]["target"]: v}) + "\n"
                                                for i, v in zip(ids[10:15], target.iloc[10:15], strict=True)))

    summary = collect.collect(params, str(capture), T0 - dt.timedelta(hours=1), T0 + dt.timedelta(hours=1))
    assert summary["rows"] == 40 and summary["duplicates"] == 5 and summary["unparsable_lines"] == 2
    assert summary["broken"] == 1
    assert summary["broken_examples"] == [{"record_id": "bad-0", "file": summary["broken_examples"][0]["file"],
                                           "problem": f"{column}: not a number"}]
    assert summary["labelled"] == 15 and summary["labels"] == 15 and summary["labels_without_record"] == 0
    batch = pd.read_csv(summary["current"])
    assert list(batch.columns) == [*features.columns, params["data"]["target"], *collect.META]
    assert batch["record_id"].is_unique and "old-0" not in set(batch["record_id"])
    assert batch.set_index("record_id").loc[ids[3], params["data"]["target"]] == target.iloc[3]
    saved = json.loads(collect.SUMMARY.read_text())
    assert saved["broken"] == 1 and saved["since"] == "2026-11-02T09:00:00.000000Z"

    # A label that contradicts another is an error naming both files, never a silent pick.
    (labels / "week3.csv").write_text(f"record_id,{params['data']['target']}\n{ids[0]},{target.iloc[0]}x\n")
    with pytest.raises(PipelineError, match="different labels.*week1.csv.*week3.csv|different labels.*week3"):
        collect.collect(params, str(capture), T0 - dt.timedelta(hours=1), T0 + dt.timedelta(hours=1))
    with pytest.raises(PipelineError, match="no such capture folder"):
        collect.collect(params, str(project / "nowhere"), None)


def test_collect_reads_capture_files_shipped_to_object_storage(setup, project):
    """An fsspec URL as the source (s3://, gs://... in production): here fsspec's in-memory filesystem, holding
    the day folders as a sync of the app's capture folder leaves them."""
    import fsspec

    params, features, target = setup
    shipped = project / "shipped"
    ids = write_capture(shipped, features.head(12), list(target.head(12)), T0, "s3")
    fs, root = fsspec.filesystem("memory"), f"/capture-{os.getpid()}"
    for path in shipped.rglob("*.jsonl"):
        fs.pipe(f"{root}/{path.relative_to(shipped).as_posix()}", path.read_bytes())
    try:
        summary = collect.collect(params, f"memory://{root}", T0 - dt.timedelta(hours=1), T0 + dt.timedelta(hours=1))
    finally:
        fs.rm(root, recursive=True)
    assert summary["files"] == 1 and summary["rows"] == 12 and summary["source"] == f"memory://{root}"
    assert list(pd.read_csv(summary["current"])["record_id"]) == ids


def test_monitor_loop_no_drift_then_drift_and_an_accuracy_drop(setup, project, capsys):
    params, features, target = setup
    params["slices"] = {"columns": [features.columns[0]], "max_gap": None}
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    capture = project / "capture"
    steady = features.sample(120, random_state=1)
    write_capture(capture, steady, list(target.loc[steady.index]), T0, "steady")
    assert main(["collect", "--since", "2026-11-02T09:00:00Z", "--until", "2026-11-02T11:00:00Z"]) == 0
    assert main(["monitor"]) == 0
    first = monitoring.read_summary()
    assert first["status"] == "ok" and first["alerts"] == [] and first["drift"]["dataset_drift"] is False
    assert first["drift"]["prediction_drift"]["drifted"] is False and first["performance"] is None
    assert "no drift in 120 records" in capsys.readouterr().out
    assert history.watermark(params["monitoring"]["history"]) == "2026-11-02T11:00:00.000000Z"

    # The next window starts at the watermark; the shifted traffic drifts, and labels say the model is wrong.
    later = T0 + dt.timedelta(hours=2)
    moved = features.sample(120, random_state=2)
    wrong = [sorted(set(target))[0] if v == sorted(set(target))[1] else sorted(set(target))[1]
             for v in target.loc[moved.index]] if params["task"] == "classification" \
        else list(target.loc[moved.index] * -1 + 2 * target.mean())
    ids = write_capture(capture, shifted(moved), wrong[:60] + list(target.loc[moved.index])[60:], later, "moved")
    labels = project / "data/labels"
    labels.mkdir(parents=True)
    (labels / "moved.csv").write_text(f"record_id,{params['data']['target']}\n" + "".join(
        f"{i},{v}\n" for i, v in zip(ids, target.loc[moved.index], strict=True)))
    assert main(["collect", "--until", "2026-11-02T13:00:00Z"]) == 0
    assert collect.read_summary()["since"] == "2026-11-02T11:00:00.000000Z"
    assert main(["monitor"]) == 0
    second = monitoring.read_summary()
    assert second["rows"] == 120 and second["labelled"] == 120 and second["label_coverage"] == 1.0
    assert second["drift"]["dataset_drift"] is True
    perf = second["performance"]
    assert perf["below"] and perf["value"] < perf["threshold"] and perf["enough_labels"]
    assert any("under the gate's threshold" in a for a in second["alerts"])
    assert second["slices"]["widest_gap"]["column"] == features.columns[0] and second["slices"]["flagged"]
    assert second["new_labelled_rows"] == 120
    assert second["history"]["snapshots"] == 3  # drift, then drift and performance
    assert Path("reports/monitor.html").read_text().count("<iframe") == 2

    # The history is an Evidently project with a dashboard; `evidently ui` reads the same folder.
    workspace, project_ = history.open_project(params["monitoring"]["history"], params["task"])
    assert len(workspace.list_runs(project_.id)) == 3
    titles = [p.title for p in workspace.get_dashboard(project_.id).panels]
    assert {"Drift share", "Drifted columns", "Rows", "Label coverage"} <= set(titles)

    # Retraining adds the labelled production records; the promotion pull request's data diff says how many.
    assert main(["collect", "--labelled"]) == 0
    assert len(pd.read_csv(history.labelled(params["monitoring"]["history"]))) == 120
    added, _ = ingest.add_current(params)
    production = json.loads(ingest.ADDED.read_text())["from_production"]
    assert production == 120 and added >= production
    assert "120 from production" in reporting.render("report_added.md", added=report.added(json.loads(
        ingest.ADDED.read_text())))
    assert ingest.add_current(params)[0] == 0  # nothing twice


def test_no_traffic_is_reported_as_such(setup, project, capsys):
    params, features, target = setup
    (project / "capture").mkdir()
    assert main(["collect", "--since", "2026-11-02T09:00:00Z"]) == 0
    summary_file = project / "summary.md"
    os.environ["GITHUB_STEP_SUMMARY"] = str(summary_file)
    try:
        assert main(["monitor"]) == 0
    finally:
        del os.environ["GITHUB_STEP_SUMMARY"]
    summary = monitoring.read_summary()
    assert summary["status"] == "no traffic" and summary["drift"] is None and summary["history"]["snapshots"] == 0
    assert monitoring.verdict(summary).startswith("no traffic")
    assert "**No traffic**" in summary_file.read_text() and "not \"no drift\"" in summary_file.read_text()
    assert "::warning::no traffic" in capsys.readouterr().out


def test_alerts_open_one_issue_and_retrain_only_with_labels(github):
    env, stub = github
    summary = {"status": "ok", "alerts": ["data drift: share of drifted columns 0.60 (threshold 0.5)"],
               "new_labelled_rows": 0}
    first = alerts.monitor_alert(summary, "data drift", new_labelled_rows=0, env=env)
    issues = stub.state["issues"]
    assert first["action"] == "opened" and first["dispatched"] is None
    assert "No retraining was started" in issues[0]["body"] and "labels" in issues[0]["body"]
    assert issues[0]["labels"] == [{"name": "monitoring"}]
    assert not [r for r in stub.requests if r["path"].endswith("/dispatches")]
    second = alerts.monitor_alert(summary, "data drift", new_labelled_rows=12, env=env)
    assert second == {"action": "updated", "issue": 1, "dispatched": "retrain.yml on main"}
    assert len(issues) == 1 and stub.requests[-1]["path"] == f"/repos/{REPO}/issues/1/comments"
    dispatch = [r for r in stub.requests if r["path"].endswith("/dispatches")][-1]
    assert dispatch["body"]["inputs"]["reason"] == "monitoring: 12 new labelled production row(s)"
    # New labels without an alert still retrain; nothing to say, no issue.
    quiet = alerts.monitor_alert({"status": "ok", "alerts": []}, "ok", new_labelled_rows=5, env=env)
    assert quiet == {"action": "none", "issue": None, "dispatched": "retrain.yml on main"}
    assert alerts.monitor_alert({"status": "no traffic", "alerts": []}, "no traffic", new_labelled_rows=0,
                                env=env)["action"] == "none"


def test_job_summary_template_names_every_part():
    summary = {"window": {"since": None, "until": "2026-11-02T11:00:00.000000Z"}, "source": "capture",
               "status": "ok", "rows": 50, "labelled": 25, "label_coverage": 0.5, "alerts": ["data drift"],
               "broken": 1, "broken_examples": [{"record_id": "r-0", "problem": "x: not a number"}],
               "drift": {"drifted_columns": 3, "columns": [{}] * 6, "drift_share": 0.5, "share_threshold": 0.5,
                         "prediction_drift": {"drifted": True, "method": "chi-square p_value", "score": 0.01}},
               "performance": {"metric": "f1_macro", "value": 0.7, "rows": 25, "enough_labels": True,
                               "champion": 0.95, "threshold": 0.9},
               "slices": {"metric": "f1_macro", "flagged": True,
                          "widest_gap": {"column": "age", "best": "a", "worst": "b", "gap": 0.3}}}
    text = reporting.render("monitor.md", summary=summary)
    for part in ("data drift", "3 of 6 columns", "prediction drift | yes", "production f1_macro | 0.7",
                 "champion's test f1_macro | 0.95", "age: a vs b", "`r-0`: x: not a number", "50 %"):
        assert part in text, part
