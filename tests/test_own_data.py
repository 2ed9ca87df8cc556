"""The generated README's "Your own data" steps, on data sets made here (issue 12).

Two valid data sets carry between them every characteristic a user's data may have: string labels,
a categorical first column, categorical features with gaps, integer columns, numbers with gaps, a
column name with a space, a declared hard rule, no current batch (classification) and a current
batch far outside the training ranges (regression). Each goes through infer-schema, `dvc repro`,
the project's own test suite and a real MLflow client scoring the raw CSV. Invalid data sets stop
at the data check, named by file, column, rule and CSV line, without a traceback.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import render

PACKAGE = "own_data"


def classification_data(rows: int = 360, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    city = rng.choice(["Lyon", "Oslo", "Porto"], rows)
    age = rng.integers(18, 80, rows)
    spend = rng.normal(50, 15, rows).round(2)
    visits = rng.integers(0, 30, rows).astype(float)
    score = spend / 10 + np.where(city == "Oslo", 3.0, 0.0) + visits / 5 + rng.normal(0, 0.3, rows)
    tier = np.select([score < np.quantile(score, 1 / 3), score < np.quantile(score, 2 / 3)], ["bronze", "silver"],
                     "gold")
    frame = pd.DataFrame({"city": city, "age": age, "monthly spend": spend, "visits": visits, "tier": tier})
    frame.loc[rng.choice(rows, 15, replace=False), "city"] = np.nan
    frame.loc[rng.choice(rows, 15, replace=False), "monthly spend"] = np.nan
    frame.loc[rng.choice(rows, 15, replace=False), "visits"] = np.nan  # integers with gaps: read as floats
    return frame


def regression_data(rows: int = 360, seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    district = rng.choice(["North", "South", "East"], rows)
    rooms = rng.integers(1, 7, rows)
    area = rng.normal(80, 20, rows).round(1)
    year = rng.integers(1950, 2021, rows)
    price = (2000 * rooms + 30 * area + np.where(district == "North", 3000, 0) + rng.normal(0, 500, rows)).round(0)
    frame = pd.DataFrame({"district": district, "rooms": rooms, "area": area, "year": year, "price": price})
    frame.loc[rng.choice(rows, 12, replace=False), "area"] = np.nan
    # The current batch: no target, every number far outside the training ranges, a district never seen.
    current = frame.drop(columns=["price"]).sample(120, random_state=seed).reset_index(drop=True)
    current["rooms"] *= 3
    current["area"] *= 4
    current["year"] += 100
    current.loc[::3, "district"] = "Harbour"
    return frame, current


def run(project: Path, *args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    # The venv's python first on PATH: DVC stages call `python -m ...`. The project's own MLflow store only.
    environment = {key: value for key, value in os.environ.items() if key != "MLFLOW_TRACKING_URI"}
    environment.update(PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
                       PYTHONPATH=str(project / "src"), **(env or {}))
    result = subprocess.run([sys.executable, *args], cwd=project, capture_output=True, text=True, env=environment,
                            timeout=1800)
    if check:
        assert result.returncode == 0, f"{' '.join(args)}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def cli(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run(project, "-m", PACKAGE, *args, check=check)


@pytest.fixture(scope="module")
def blank(tmp_path_factory):
    """A freshly generated level-2 project per task (rendered once), copied for each test."""
    cache: dict[str, Path] = {}

    def get(task: str, dest: Path) -> Path:
        if task not in cache:
            cache[task] = render(tmp_path_factory.mktemp(f"own-{task}"), project_name="Own Data", task=task,
                                 mlops_level="2")
        shutil.copytree(cache[task], dest)
        return dest

    return get


def use_own_data(project: Path, task: str, frame: pd.DataFrame, target: str, gate: dict,
                 current: pd.DataFrame | None = None) -> str:
    """The README's steps 1 and 2: the CSV in data/raw/, the demo CSVs gone, params.yaml edited."""
    for demo in (project / "data/raw").glob("*.csv"):
        demo.unlink()
    frame.to_csv(project / "data/raw/mine.csv", index=False)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["data"].update(path="data/raw/mine.csv", target=target)
    params["gate"]["thresholds"] = gate
    params["drift"]["current"] = ""
    if current is not None:
        current.to_csv(project / "data/raw/mine_current.csv", index=False)
        params["drift"]["current"] = "data/raw/mine_current.csv"
    params["mlflow"].update(model_name=f"mine-{task}", experiment=f"mine-{task}")
    params["slices"]["columns"] = []  # the README's step 2: the demo's slice columns are not in this data
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return params["mlflow"]["model_name"]


def declare(project: Path, column: str, rule: str) -> None:
    """README step 3: a hard rule added to a column of the inferred schema.yaml."""
    schema = project / "schema.yaml"
    text, count = re.subn(rf"^(  {re.escape(column)}: {{.*?)}}", rf"\1, {rule}}}", schema.read_text(), flags=re.M)
    assert count == 1, f"no line for {column} in schema.yaml"
    schema.write_text(text)


def git_commit(project: Path) -> None:
    for args in (["init", "-q", "-b", "main"], ["add", "-A"],
                 ["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "my data"]):
        subprocess.run(["git", *args], cwd=project, check=True, capture_output=True)


def scores_raw_csv(project: Path, model_name: str, csv: str) -> None:
    """A real MLflow client, as a user would call it, on the CSV the model was trained from."""
    out = project / "predictions.json"
    run(project, "-m", "mlflow", "models", "predict", "-m", f"models:/{model_name}/1", "-i", csv, "-t", "csv",
        "--env-manager", "local", "-o", str(out), env={"MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}"})
    predictions = json.loads(out.read_text())["predictions"]
    assert len(predictions) == len(pd.read_csv(project / csv))


def own_suite_passes(project: Path) -> None:
    # Left out: what never reads the project's data, and test_generated_suite runs for this same template:
    # test_ci and test_comment (GitHub stand-ins), test_users_own_csv (brings its own CSV), and the remote
    # tracking server (the same pipeline, against a server).
    result = run(project, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0", "-x", "--ignore=tests/test_ci.py",
                 "--ignore=tests/test_comment.py", "--deselect=tests/test_e2e.py::test_remote_tracking_server",
                 "--deselect=tests/test_e2e.py::test_users_own_csv", check=False)
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr[-2000:]
    assert result.returncode == 0, result.stdout[-6000:]
    assert int(re.search(r"(\d+) passed", summary).group(1)) >= 60 and "failed" not in summary, summary


def test_classification_with_strings_integers_gaps_and_no_current_batch(blank, tmp_path):
    project = blank("classification", tmp_path / "c")
    name = use_own_data(project, "classification", classification_data(), "tier", {"f1_macro": {"min": 0.6}})
    inferred = cli(project, "infer-schema")
    assert "warning" not in inferred.stderr, inferred.stderr
    schema = yaml.safe_load((project / "schema.yaml").read_text())["columns"]
    assert list(schema) == ["city", "age", "monthly spend", "visits", "tier"]
    assert {c: (e["dtype"], e.get("nullable", False)) for c, e in schema.items()} == {
        "city": ("str", True), "age": ("int64", False), "monthly spend": ("float64", True),
        "visits": ("float64", True), "tier": ("str", False)}
    assert schema["tier"]["isin"] == ["bronze", "gold", "silver"]
    declare(project, "age", "in_range: {min_value: 0, max_value: 120}")
    git_commit(project)

    run(project, "-m", "dvc", "repro")
    check = json.loads((project / "reports/data_check.json").read_text())
    assert check["passed"] is True and list(check["files"]) == ["data/raw/mine.csv"]
    assert check["files"]["data/raw/mine.csv"]["class_balance"].keys() == {"bronze", "silver", "gold"}
    assert any(r["column"] == "age" and r["rule"].startswith("in_range") and r["result"] == "passed"
               for r in check["files"]["data/raw/mine.csv"]["rules"])
    drift = json.loads((project / "reports/drift.json").read_text())
    assert drift["current"] == "data/prepared/test.csv" and "no current batch configured" in drift["note"]
    assert json.loads((project / "reports/registration.json").read_text())["model_name"] == name

    scores_raw_csv(project, name, "data/raw/mine.csv")
    own_suite_passes(project)


def test_regression_with_a_current_batch_far_outside_the_training_ranges(blank, tmp_path):
    project = blank("regression", tmp_path / "r")
    frame, current = regression_data()
    name = use_own_data(project, "regression", frame, "price", {"r2": {"min": 0.5}}, current)
    cli(project, "infer-schema")
    declare(project, "rooms", "greater_than_or_equal_to: 1")
    git_commit(project)

    # The batch drifts: the data check reports it, and monitoring still reaches its verdict.
    run(project, "-m", "dvc", "repro")
    check = json.loads((project / "reports/data_check.json").read_text())
    assert check["passed"] is True
    found = {(f["column"], f["rule"]) for f in check["findings"] if f["file"] == "data/raw/mine_current.csv"}
    assert found == {("rooms", "outside_training_range"), ("area", "outside_training_range"),
                     ("year", "outside_training_range"), ("district", "new_category")}
    assert "Findings (4)" in (project / "reports/data_check.html").read_text()
    drift = json.loads((project / "reports/drift.json").read_text())
    assert drift["dataset_drift"] is True and drift["current"] == "data/raw/mine_current.csv"
    result = cli(project, "drift", check=False)
    assert result.returncode == 3 and "dataset drift detected" in result.stderr, result.stderr
    assert "<title>Drift report: data/raw/mine_current.csv" in (project / "reports/drift.html").read_text()[:3000]

    scores_raw_csv(project, name, "data/raw/mine.csv")
    scores_raw_csv(project, name, "data/raw/mine_current.csv")  # integers and all: the batch MLflow would score
    own_suite_passes(project)


def assert_clean_failure(result: subprocess.CompletedProcess, expected: str, code: int | None = 1) -> None:
    assert result.returncode == code if code else result.returncode != 0, result.stderr
    assert "Traceback" not in result.stderr and expected in result.stderr, result.stderr


def test_missing_labels_fail_the_check(blank, tmp_path):
    project = blank("classification", tmp_path / "c")
    frame = classification_data(rows=120)
    frame.loc[[3, 50], "tier"] = np.nan
    use_own_data(project, "classification", frame, "tier", {"f1_macro": {"min": 0.6}})
    inferred = cli(project, "infer-schema")
    assert ("warning: data/raw/mine.csv: column 'tier': the target is missing on 2 row(s) (lines 5, 52)"
            in inferred.stderr)
    git_commit(project)
    result = run(project, "-m", "dvc", "repro", check=False)
    assert "failed to reproduce 'check'" in result.stderr
    assert_clean_failure(result, "data/raw/mine.csv: column 'tier': rule not_nullable failed for 2 value(s) "
                                 "on lines 5, 52", code=None)  # dvc's own exit code
    assert not (project / "data/prepared").exists()


def test_regression_target_with_missing_values_fails_the_check(blank, tmp_path):
    project = blank("regression", tmp_path / "r")
    frame, _ = regression_data(rows=120)
    frame.loc[[0, 7, 8], "price"] = np.nan
    use_own_data(project, "regression", frame, "price", {"r2": {"min": 0.5}})
    cli(project, "infer-schema")
    assert_clean_failure(cli(project, "check", check=False),
                         "data/raw/mine.csv: column 'price': rule not_nullable failed for 3 value(s) on lines 2, 9, 10")


def test_corrupted_values_are_named_by_infer_schema_and_check(blank, tmp_path):
    project = blank("regression", tmp_path / "r")
    frame, _ = regression_data(rows=120)
    frame["area"] = frame["area"].astype(object)
    frame.loc[4, "area"] = "n.a."
    frame["year"] = frame["year"].astype(float)
    frame.loc[6, "year"] = np.inf
    use_own_data(project, "regression", frame, "price", {"r2": {"min": 0.5}})
    inferred = cli(project, "infer-schema")
    assert "warning: data/raw/mine.csv: column 'area': 1 value(s) are not numbers" in inferred.stderr
    assert "warning: data/raw/mine.csv: column 'year': 1 value(s) are infinite (line 8: inf)" in inferred.stderr
    result = cli(project, "check", check=False)
    assert_clean_failure(result, "data/raw/mine.csv: column 'area': rule coerce_dtype('float64') failed for 1 value(s) "
                                 "on line 6: 'n.a.'")
    assert "data/raw/mine.csv: column 'year': rule finite failed for 1 value(s) on line 8: inf" in result.stderr


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_committed_demo_schema_is_what_infer_schema_writes(blank, tmp_path, task):
    project = blank(task, tmp_path / task)
    cli(project, "infer-schema", "--out", "inferred.yaml")
    assert (project / "inferred.yaml").read_text() == (project / "schema.yaml").read_text()
