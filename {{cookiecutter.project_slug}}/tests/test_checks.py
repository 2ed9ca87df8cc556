"""Data checks: the schema round-trips, and each bad input fails with a message naming file, column and rule."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import run_cli, user_frame

from {{ cookiecutter.package_name }} import checks
from {{ cookiecutter.package_name }}.errors import CheckFailed


@pytest.fixture
def user_params(params):
    params = {**params, "task": "classification"}
    params["data"] = {**params["data"], "target": "label"}
    return params


@pytest.fixture
def user_schema(params):
    return checks.infer_schema(user_frame("classification"), 50)


def failures_for(frame, schema, params, **kwargs):
    return checks.validate(frame, schema, params, "data/raw/user.csv", **kwargs)[1]


def test_committed_schema_matches_the_demo_data(params):
    inferred = checks.infer_schema(checks.read_csv(params["data"]["path"]), params["checks"]["max_categories"])
    assert inferred == checks.load_schema(params["data"]["schema"])


def test_schema_file_round_trips(tmp_path, user_schema):
    checks.save_schema(user_schema, tmp_path / "schema.yaml")
    loaded = checks.load_schema(tmp_path / "schema.yaml")
    assert loaded == user_schema
    assert loaded.columns["colour"].nullable and not loaded.columns["size"].nullable
    assert str(loaded.columns["size"].dtype) == "float64"


def test_demo_data_passes_and_writes_reports(params, project):
    summary = checks.run_checks(params, "reports/check.json", "reports/check.html")
    assert summary["passed"] is True
    assert json.loads((project / "reports/check.json").read_text())["passed"] is True
    assert "Data checks passed" in (project / "reports/check.html").read_text()


def test_clean_user_data_passes(user_schema, user_params):
    assert failures_for(user_frame("classification"), user_schema, user_params) == []


@pytest.mark.parametrize(
    ("corrupt", "column", "rule", "example"),
    [
        (lambda f: f.drop(columns=["size"]), "size", "column_in_dataframe", "<column missing>"),
        (lambda f: f.assign(extra=1), "extra", "column_in_schema", "<not in schema>"),
        (lambda f: f.assign(size=f["size"].astype(object).where(f.index != 3, "big")), "size",
         "coerce_dtype('float64')", "big"),
        (lambda f: f.assign(noise=np.nan), "noise", "not_all_null", False),
        (lambda f: f.assign(size=f["size"].where(f.index != 5, np.nan)), "size", "not_nullable", None),
        (lambda f: f.assign(colour=f["colour"].where(f.index != 7, "purple")), "colour", "isin", "purple"),
        (lambda f: f.assign(size=f["size"].where(f.index != 9, 1e6)), "size", "in_range", 1e6),
        (lambda f: f.drop(columns=["label"]), "label", "target_present", "<column missing>"),
        (lambda f: f.iloc[list(range(len(f))) + [0]], "", "no_duplicate_rows", None),
        (lambda f: f.assign(label=f["label"].where(f.index != 0, "maybe")), "label", "isin", "maybe"),
    ],
    ids=["missing-column", "extra-column", "wrong-dtype", "all-null", "null", "unknown-category",
         "out-of-range", "missing-target", "duplicate-rows", "unknown-label"],
)
def test_bad_input_is_named(user_schema, user_params, corrupt, column, rule, example):
    found = failures_for(corrupt(user_frame("classification")), user_schema, user_params)
    matching = [f for f in found if f.column == column and f.rule.startswith(rule)]
    assert matching, f"expected {rule} on {column!r}, got {[f.message() for f in found]}"
    message = matching[0].message()
    assert "data/raw/user.csv" in message and rule.split("(")[0] in message
    if column:
        assert f"column '{column}'" in message
    if example is not None:
        assert example in matching[0].examples or repr(example) in message


def test_too_few_rows_per_class(user_schema, user_params):
    frame = user_frame("classification")
    frame.loc[:2, "label"] = "rare"
    schema = checks.infer_schema(frame, 50)
    found = failures_for(frame, schema, user_params)
    assert [f.rule for f in found] == ["min_rows_per_class(10)"]
    assert found[0].examples == ["rare"]


def test_labels_not_seen_in_training(user_schema, user_params):
    frame = user_frame("classification")
    found = failures_for(frame, user_schema, user_params, known_labels=["no"])
    assert any(f.rule == "label_seen_in_training" and f.examples == ["yes"] for f in found)


def test_empty_and_header_only_files(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(CheckFailed, match=r"empty\.csv: the file is empty"):
        checks.read_csv(empty)
    header = tmp_path / "header.csv"
    header.write_text("a,b\n")
    with pytest.raises(CheckFailed, match=r"header\.csv: .*no rows"):
        checks.read_csv(header)


def test_check_command_fails_with_report(project, params):
    data = project / params["data"]["path"]
    frame = checks.read_csv(data)
    first = frame.columns[0]
    frame[first] = frame[first].astype(object)
    frame.loc[0, first] = "not-a-number"
    frame.to_csv(data, index=False)
    result = run_cli("check")
    assert result.returncode == 1
    assert f"{params['data']['path']}: column '{first}': rule coerce_dtype('float64')" in result.stderr
    assert "'not-a-number'" in result.stderr
    report = json.loads((project / "reports/data_check.json").read_text())
    assert report["passed"] is False and report["failures"][0]["column"] == first
    assert "not-a-number" in (project / "reports/data_check.html").read_text()


def test_infer_schema_command_requires_the_target(project, params):
    (project / "other.csv").write_text("a,b\n1,2\n")
    result = run_cli("infer-schema", "other.csv", "--out", "s.yaml")
    assert result.returncode == 2
    assert f"target column '{params['data']['target']}'" in result.stderr
    assert not (project / "s.yaml").exists()
