"""Data checks: the contract, its inference, and failures that name file, column, rule and CSV lines, once each."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import declare, run_cli, user_frame, write_schema

from {{ cookiecutter.package_name }} import contract
from {{ cookiecutter.package_name }}.errors import CheckFailed, PipelineError
from {{ cookiecutter.package_name }}.stages import checks

SOURCE = "data/raw/user.csv"


@pytest.fixture
def user_params(params):
    params = {**params, "task": "classification"}
    params["data"] = {**params["data"], "target": "label"}
    return params


@pytest.fixture
def user_schema(tmp_path):
    write_schema(user_frame("classification"), tmp_path / "schema.yaml")
    return contract.pandera_schema(tmp_path / "schema.yaml")


def failures_for(frame, schema, params, role=checks.TRAINING):
    return checks.validate(frame, schema, params, SOURCE, role)[1]


def test_schema_lists_the_data_columns_and_the_data_passes(params):
    schema = contract.load(params["data"]["schema"])
    assert list(schema.columns) == list(pd.read_csv(params["data"]["path"], nrows=0).columns)
    assert checks.run_checks(params, "reports/check.json", "reports/check.html")["passed"] is True


def test_schema_file_round_trips(tmp_path):
    write_schema(user_frame("classification"), tmp_path / "schema.yaml")
    loaded = contract.load(tmp_path / "schema.yaml")
    assert [loaded.dtype(c) for c in loaded.columns] == ["str", "float64", "float64", "int64", "str"]
    assert loaded.nullable("colour") and loaded.nullable("noise") and not loaded.nullable("size")
    assert loaded.rules("label") == {"isin": ["no", "yes"]} and loaded.rules("size") == {}  # no ranges: distribution
    pandera = contract.pandera_schema(tmp_path / "schema.yaml")
    assert str(pandera.columns["count"].dtype) == "int64" and pandera.columns["colour"].nullable
    text = (tmp_path / "schema.yaml").read_text()
    assert text.startswith(contract.HEADER) and "size: {dtype: float64, coerce: true}  # observed:" in text


def test_demo_data_passes_and_writes_reports(params, project):
    summary = checks.run_checks(params, "reports/check.json", "reports/check.html")
    assert summary["passed"] is True and summary["failures"] == []
    report = json.loads((project / "reports/check.json").read_text())
    training = report["files"][params["data"]["path"]]
    rows = len(pd.read_csv(params["data"]["path"]))
    assert training["passed"] is True and training["rows"] == rows and training["failures"] == 0
    assert {r["rule"] for r in training["rules"]} >= {"readable_csv", "unique_column_names", "not_nullable",
                                                      "target_present"}
    assert all(r["result"] == "passed" for r in training["rules"] if r["kind"] == "contract")
    assert set(training["column_summary"]) == set(pd.read_csv(params["data"]["path"], nrows=0).columns)
    if params["task"] == "classification":
        assert sum(training["class_balance"].values()) == rows
    page = (project / "reports/check.html").read_text()
    assert "<title>Data checks passed</title>" in page and "<style>" in page
    assert not any(tag in page for tag in ("<script", "<link", " src=", "url(")), "external assets"
    assert f"{rows}</dd>" in page and "✓ target_present" in page


def test_clean_user_data_passes(user_schema, user_params):
    assert failures_for(user_frame("classification"), user_schema, user_params) == []


def _set(column, index, value):
    def corrupt(frame):
        frame = frame.copy()
        frame[column] = frame[column].astype(object)
        frame.loc[index, column] = value
        return frame
    return corrupt


# (corruption, column, rule, CSV lines, examples): line = row index + 2 (the header is line 1)
BAD_INPUT = {
    "missing-column": (lambda f: f.drop(columns=["size"]), "size", "column_in_dataframe", [], []),
    "extra-column": (lambda f: f.assign(extra=1), "extra", "column_in_schema", [], []),
    "text-in-numbers": (_set("size", 3, "big"), "size", "coerce_dtype('float64')", [5], ["big"]),
    "fraction-in-integers": (_set("count", 4, 2.5), "count", "coerce_dtype('int64')", [6], [2.5]),
    "infinite": (_set("size", 6, np.inf), "size", "finite", [8], [np.inf]),
    "all-null": (lambda f: f.assign(noise=np.nan), "noise", "not_all_null", [], []),
    "null": (_set("size", 5, np.nan), "size", "not_nullable", [7], []),
    "missing-label": (_set("label", 2, np.nan), "label", "not_nullable", [4], []),
    "unknown-label": (_set("label", 0, "maybe"), "label", "isin(['no', 'yes'])", [2], ["maybe"]),
    "missing-target": (lambda f: f.drop(columns=["label"]), "label", "target_present", [], []),
    "duplicate-rows": (lambda f: pd.concat([f, f.iloc[[1]]]), "", "no_duplicate_rows", [242], []),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_named_once_with_its_lines(user_schema, user_params, case):
    corrupt, column, rule, lines, examples = BAD_INPUT[case]
    found = failures_for(corrupt(user_frame("classification")), user_schema, user_params)
    assert [(f.column, f.rule) for f in found] == [(column, rule)], [f.message() for f in found]
    failure = found[0]
    assert failure.lines == lines and failure.examples == examples
    message = failure.message()
    assert message.startswith(f"{SOURCE}: " + (f"column '{column}'" if column else "dataset") + f": rule {rule}")
    if lines:
        assert f"line {lines[0]}" in message
    assert "nan" not in message.lower()  # no noise such as [nan] or [0.0]


def test_the_target_is_never_nullable_in_training_data(tmp_path, user_params):
    frame = user_frame("classification")
    frame.loc[[3, 10], "label"] = np.nan
    write_schema(frame, tmp_path / "schema.yaml")
    assert not contract.load(tmp_path / "schema.yaml").nullable("label")
    # Even a schema that says otherwise: missing targets would crash training.
    text = (tmp_path / "schema.yaml").read_text().replace("label: {dtype: str,", "label: {dtype: str, nullable: true,")
    (tmp_path / "schema.yaml").write_text(text)
    found = failures_for(frame, contract.pandera_schema(tmp_path / "schema.yaml"), user_params)
    assert [(f.column, f.rule, f.lines) for f in found] == [("label", "not_nullable", [5, 12])]
    # A current batch's labels may come later.
    assert failures_for(frame, contract.pandera_schema(tmp_path / "schema.yaml"), user_params, checks.CURRENT) == []


def test_declared_ranges_and_categories_are_contract(tmp_path, user_params):
    write_schema(user_frame("classification"), tmp_path / "schema.yaml")
    declare(tmp_path / "schema.yaml", "size", "in_range: {min_value: 0, max_value: 100}")
    declare(tmp_path / "schema.yaml", "colour", "isin: [red, green, blue]")
    frame = _set("size", 9, 1e6)(_set("colour", 2, "purple")(user_frame("classification")))
    found = failures_for(frame, contract.pandera_schema(tmp_path / "schema.yaml"), user_params)
    assert sorted((f.column, f.rule.split("(")[0], f.lines, f.examples) for f in found) == [
        ("colour", "isin", [4], ["purple"]), ("size", "in_range", [11], [1e6])]


def test_a_drifting_current_batch_is_a_finding_not_a_failure(project, user_params, tmp_path):
    training = user_frame("classification")
    current = training.sample(60, random_state=1).drop(columns=["label"]).reset_index(drop=True)
    current["size"] = current["size"] * 10  # far outside the training range
    current.loc[4, "colour"] = "purple"  # a category training never saw
    training.to_csv("train.csv", index=False)
    current.to_csv("current.csv", index=False)
    write_schema(training, tmp_path / "schema.yaml")
    data = {**user_params["data"], "path": "train.csv", "schema": str(tmp_path / "schema.yaml")}
    params = {**user_params, "data": data, "drift": {**user_params["drift"], "current": "current.csv"}}
    summary = checks.run_checks(params, "reports/check.json", "reports/check.html")
    assert summary["passed"] is True
    found = {(f["file"], f["column"], f["rule"]): f for f in summary["findings"]}
    outside = found["current.csv", "size", "outside_training_range"]
    assert outside["count"] == int((current["size"] > training["size"].max()).sum())
    assert outside["message"].startswith("current.csv: column 'size': finding outside_training_range for ")
    assert "(training range " in outside["message"]
    assert found["current.csv", "colour", "new_category"]["lines"] == [6]
    page = (project / "reports/check.html").read_text()
    assert "Findings (2)" in page and "outside_training_range" in page and "purple" in page


def test_infer_schema_warns_on_values_that_look_wrong():
    frame = user_frame("regression")
    frame["size"] = frame["size"].astype(object)
    frame.loc[7, "size"] = "12,5"  # text in a column of numbers
    frame.loc[2, "noise"] = np.inf
    frame.loc[30, "count"] = 10**9  # an extreme outlier, say a placeholder code
    frame.loc[[5, 9], "label"] = np.nan
    frame["member"] = frame.index % 3 == 0  # True/False: pandas (and so MLflow's clients) reads booleans
    inferred = contract.infer(frame, "label", "regression", 50, SOURCE)
    assert inferred.entries["size"]["dtype"] == "float64"  # the intended type: `check` then names line 9
    warnings = "\n".join(inferred.warnings)
    assert f"{SOURCE}: column 'size': 1 value(s) are not numbers" in warnings and "line 9: '12,5'" in warnings
    assert f"{SOURCE}: column 'noise': 1 value(s) are infinite (line 4: inf)" in warnings
    assert f"{SOURCE}: column 'count': 1 extreme value(s)" in warnings and "line 32: 1000000000" in warnings
    assert f"{SOURCE}: column 'label': the target is missing on 2 row(s) (lines 7, 11)" in warnings
    assert f"{SOURCE}: column 'member': True/False values; typed str, so write them as words" in warnings
    assert "nullable" not in inferred.entries["label"]
    with pytest.raises(PipelineError, match="the target of a regression must be numbers"):
        contract.infer(frame.assign(label="high"), "label", "regression", 50, SOURCE)


def test_infer_schema_keeps_comments_and_declared_rules(tmp_path):
    path = tmp_path / "schema.yaml"
    frame = user_frame("classification")
    write_schema(frame, path)
    path.write_text(path.read_text().replace("# Data contract", "# Owned by the data team.\n# Data contract", 1))
    declare(path, "size", "greater_than_or_equal_to: 0")
    write_schema(frame, path)
    rewritten = path.read_text()
    assert rewritten.startswith("# Owned by the data team.\n# Data contract")
    assert contract.load(path).rules("size") == {"greater_than_or_equal_to": 0}
    # What earlier versions inferred as hard rules (the observed range) is distribution now, and is dropped.
    low, high = float(frame["size"].min()), float(frame["size"].max())
    path.write_text(rewritten.replace("greater_than_or_equal_to: 0",
                                      "in_range: {" + f"min_value: {low}, max_value: {high}" + "}"))
    write_schema(frame, path)
    assert contract.load(path).rules("size") == {}


def test_repeated_header_is_named(project, params):
    data = project / params["data"]["path"]
    header, rest = data.read_text().split("\n", 1)
    first = header.split(",")[0]
    data.write_text(f"{header},{first}\n" + "".join(line + ",x\n" for line in rest.splitlines()))
    result = run_cli("check")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    count = header.split(",").count(first) + 1
    assert (f"{params['data']['path']}: column '{first}': rule unique_column_names failed: the header has it "
            f"{count} times (columns 1 and {len(header.split(',')) + 1})") in result.stderr
    assert ".1'" not in result.stderr  # not pandas' renamed copy


def test_too_few_rows_per_class(tmp_path, user_params):
    frame = user_frame("classification")
    frame.loc[:2, "label"] = "rare"
    write_schema(frame, tmp_path / "schema.yaml")
    found = failures_for(frame, contract.pandera_schema(tmp_path / "schema.yaml"), user_params)
    assert [(f.rule, f.lines, f.examples) for f in found] == [("min_rows_per_class(10)", [2, 3, 4], ["rare"])]


def test_empty_and_header_only_files(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(CheckFailed, match=r"empty\.csv: dataset: rule not_empty failed: the file is empty"):
        checks.read_csv(empty)
    header = tmp_path / "header.csv"
    header.write_text("a,b\n")
    with pytest.raises(CheckFailed, match=r"header\.csv: .*no rows"):
        checks.read_csv(header)


def test_check_command_fails_with_report(project, params):
    data = project / params["data"]["path"]
    frame = pd.read_csv(data)
    frame.loc[[0, 4], params["data"]["target"]] = np.nan  # whatever the data, the target may not be missing
    frame.to_csv(data, index=False)
    result = run_cli("check")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    expected = f"{params['data']['path']}: column '{params['data']['target']}': rule not_nullable failed for 2 value(s)"
    assert f"{expected} on lines 2, 6" in result.stderr
    report = json.loads((project / "reports/data_check.json").read_text())
    assert report["passed"] is False and report["failures"][0]["lines"] == [2, 6]
    page = (project / "reports/data_check.html").read_text()
    assert "Failures (1)" in page and "2, 6" in page


def test_infer_schema_command(project, params):
    (project / "other.csv").write_text("a,b\n1,2\n")
    result = run_cli("infer-schema", "other.csv", "--out", "s.yaml")
    assert result.returncode == 2
    assert f"target column '{params['data']['target']}'" in result.stderr
    assert not (project / "s.yaml").exists()
    result = run_cli("infer-schema", "--out", "s.yaml")
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load((project / "s.yaml").read_text())["columns"].keys() == \
        yaml.safe_load((project / params["data"]["schema"]).read_text())["columns"].keys()


def test_missing_schema_names_the_command(project, params):
    (project / params["data"]["schema"]).unlink()
    result = run_cli("check")
    assert result.returncode == 2 and "schema not found" in result.stderr
    assert "infer-schema`" in result.stderr


def test_data_check_page_is_data_plus_a_template(project, params):
    from {{ cookiecutter.package_name }}.stages import check_report

    checks.run_checks(params, "reports/check.json", "reports/check.html")
    summary = json.loads((project / "reports/check.json").read_text())
    page = check_report.page(summary)
    training = page["files"][0]
    assert page["passed"] and page["verdict"] == "passed" and training["name"] == params["data"]["path"]
    assert training["contract_rules"] == sum(r["kind"] == "contract" for r in training["rules"]) > 0
    assert [c["name"] for c in training["column_rows"]] == list(training["column_summary"])
    shares = [share for _, _, share in training["balance"]]  # class balance: classification only
    assert sum(shares) == pytest.approx(1.0) if params["task"] == "classification" else shares == []
    # The layout: one card and one section per file; values from the data are escaped, never markup.
    summary["failures"] = [{"file": "x.csv", "column": "<b>c</b>", "rule": "isin", "count": 1, "lines": [2],
                            "examples": ["<i>"]}]
    html = check_report.render({**summary, "passed": False})
    assert html.startswith("<!doctype html>") and html.count("<div class=card>") == len(page["files"])
    assert "&lt;b&gt;c&lt;/b&gt;" in html and "<b>c</b>" not in html and "Failures (1)" in html


def test_infer_schema_keeps_names_and_labels_that_look_like_other_yaml_types(tmp_path):
    """schema.yaml is written with ruamel.yaml and read by PyYAML (pandera): `yes`, `no` and `007` stay strings."""
    frame = pd.DataFrame({"yes": [1, 2, 3] * 4, "007": ["a", "b", "on"] * 4, "label": ["no", "yes", "no"] * 4})
    contract.write(tmp_path / "schema.yaml", contract.infer(frame, "label", "classification", 50, SOURCE))
    loaded = contract.load(tmp_path / "schema.yaml")
    assert list(loaded.columns) == ["yes", "007", "label"] and loaded.rules("label") == {"isin": ["no", "yes"]}
    assert list(contract.pandera_schema(tmp_path / "schema.yaml").columns) == ["yes", "007", "label"]
