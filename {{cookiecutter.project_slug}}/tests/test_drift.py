"""Drift: Evidently per-column results, dataset verdict, sample cap, fallback and exit codes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli

from {{ cookiecutter.package_name }} import drift, prepare


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


def test_same_distribution_is_quiet():
    reference, current = frames(shift=(), same_rows=False)
    result, _ = drift.detect(reference, current, share_threshold=0.5)
    assert result["dataset_drift"] is False and result["drift_share"] < 0.5


def test_demo_current_batch_report(params, project):
    prepare.run(params)
    summary = drift.run(params)
    assert summary["current"] == params["drift"]["current"]
    assert summary["dataset_drift"] is False
    assert len(summary["columns"]) == len(pd.read_csv(project / params["data"]["path"]).columns) - 1
    assert json.loads((project / "reports/drift.json").read_text()) == summary
    assert "<html" in (project / "reports/drift.html").read_text()[:2000].lower()


def test_no_current_batch_uses_the_test_split_and_says_so(params, project):
    prepare.run(params)
    params["drift"]["current"] = ""
    summary = drift.run(params)
    assert summary["current"] == str(prepare.TEST)
    assert "no current batch configured" in summary["note"]


def test_sample_cap(params, project):
    prepare.run(params)
    params["drift"]["sample_cap"] = 50
    summary = drift.run(params)
    assert summary["sampled_rows"] == {"reference": 50, "current": 50}
    assert summary["current_rows"] > 50


def test_exit_code_reports_drift(params, project):
    prepare.run(params)
    train = pd.read_csv(prepare.TRAIN)
    target = params["data"]["target"]
    numeric = [c for c in train.select_dtypes("number").columns if c != target]
    # A drifted batch that still passes the schema: resample rows towards the top of every range.
    drifted = pd.concat([train.nlargest(20, c) for c in numeric]).drop_duplicates().drop(columns=[target])
    drifted.to_csv(project / "drifted.csv", index=False)
    result = run_cli("drift", "--current", "drifted.csv")
    assert result.returncode == 3, result.stderr
    assert "dataset drift detected" in result.stderr
    assert json.loads((project / "reports/drift.json").read_text())["dataset_drift"] is True
    assert run_cli("drift", "--current", "drifted.csv", "--exit-zero").returncode == 0
