"""Drift: Evidently per-column results, dataset verdict, sample cap, fallback and exit codes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import numeric_features, run_cli

from {{ cookiecutter.package_name }} import paths
from {{ cookiecutter.package_name }}.stages import drift, prepare


def frames(rows=600, shift=("a", "b"), seed=0, same_rows=True):
    rng = np.random.default_rng(seed)

    def make():
        return pd.DataFrame({c: rng.normal(0, 1, rows) for c in "abcd"} | {"kind": rng.choice(["x", "y"], rows)})

    reference = make()
    # Same rows: only the shifted columns can differ, so the expected flags are exact.
    current = reference.copy() if same_rows else make()
    for column in shift:
        current[column] += 3
    return reference, current


def test_shifted_columns_are_flagged():
    reference, current = frames()
    result, _ = drift.detect(reference, current, share_threshold=0.3)
    flagged = {c["column"] for c in result["columns"] if c["drifted"]}
    assert flagged == {"a", "b"}
    assert result["drift_share"] == pytest.approx(2 / 5)
    assert result["dataset_drift"] is True
    assert result["evidently_drifted_columns"] == 2


def test_a_column_gone_empty_is_drift_not_a_crash():
    reference, current = frames(shift=())
    current["a"] = np.nan  # a nullable column the batch no longer fills: valid data, and a shift
    result, _ = drift.detect(reference, current, share_threshold=0.5)
    empty = next(c for c in result["columns"] if c["column"] == "a")
    assert empty["drifted"] is True and empty["method"] == "all values missing"
    assert result["drifted_columns"] == 1 and len(result["columns"]) == 5


def test_same_distribution_is_quiet():
    reference, current = frames(shift=(), same_rows=False)
    result, _ = drift.detect(reference, current, share_threshold=0.5)
    assert result["dataset_drift"] is False and result["drift_share"] < 0.5


def current_batch(params: dict, project) -> str:
    """The configured current batch; else (a user may have none) rows of the data without their target."""
    if params["drift"].get("current"):
        return params["drift"]["current"]
    frame = pd.read_csv(project / params["data"]["path"])
    frame.sample(frac=0.3, random_state=0).drop(columns=[params["data"]["target"]]).to_csv("batch.csv", index=False)
    params["drift"]["current"] = "batch.csv"
    return "batch.csv"


def test_current_batch_report(params, project):
    prepare.run(params)
    current = current_batch(params, project)
    summary = drift.run(params)
    assert summary["current"] == current and summary["note"] == f"current batch: {current}"
    assert len(summary["columns"]) == len(pd.read_csv(project / params["data"]["path"]).columns) - 1
    assert json.loads((project / "reports/drift.json").read_text()) == summary
    head = (project / "reports/drift.html").read_text()[:2000]
    assert "<html" in head.lower() and f"<title>Drift report: {current} vs the training split</title>" in head


def test_no_current_batch_uses_the_test_split_and_says_so(params, project):
    prepare.run(params)
    params["drift"]["current"] = ""
    summary = drift.run(params)
    assert summary["current"] == str(paths.TEST)
    assert "no current batch configured" in summary["note"]


def test_sample_cap(params, project):
    prepare.run(params)
    params["drift"]["current"] = ""
    cap = min(len(pd.read_csv(paths.TRAIN)), len(pd.read_csv(paths.TEST))) // 2
    params["drift"]["sample_cap"] = cap
    summary = drift.run(params)
    assert summary["sampled_rows"] == {"reference": cap, "current": cap}
    assert summary["current_rows"] > cap


def drifted_batch(train: pd.DataFrame, numeric: list[str], features: list[str], rows: int) -> pd.DataFrame:
    """Every column drawn from one end of its training values: each value valid (any declared rule holds),
    the distribution far from the training data's."""
    rng = np.random.default_rng(0)
    batch = {}
    for column in features:
        values = train[column].dropna()
        pool = (values.sort_values().tail(max(1, len(values) // 10)) if column in numeric
                else values[values == values.value_counts().idxmin()])
        batch[column] = rng.choice(pool.to_numpy(), rows)
    return pd.DataFrame(batch)


def test_exit_code_reports_drift(params, project):
    prepare.run(params)
    train = pd.read_csv(paths.TRAIN)
    features = [c for c in train.columns if c != params["data"]["target"]]
    batch = drifted_batch(train, numeric_features(params), features, max(60, len(train) // 3))
    batch.to_csv("drifted.csv", index=False)
    result = run_cli("drift", "--current", "drifted.csv")
    assert result.returncode == 3, result.stderr
    assert "dataset drift detected" in result.stderr
    assert json.loads((project / "reports/drift.json").read_text())["dataset_drift"] is True
    assert run_cli("drift", "--current", "drifted.csv", "--exit-zero").returncode == 0


def test_a_batch_breaking_the_contract_is_refused(params, project):
    prepare.run(params)
    batch = pd.read_csv(paths.TEST).drop(columns=[params["data"]["target"]])
    batch.drop(columns=batch.columns[0]).to_csv("broken.csv", index=False)
    result = run_cli("drift", "--current", "broken.csv")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"broken.csv: column '{batch.columns[0]}': rule column_in_dataframe failed" in result.stderr
