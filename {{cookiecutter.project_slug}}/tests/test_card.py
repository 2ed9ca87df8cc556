"""The model card: bootstrap intervals and slice metrics from evaluate, the card's data, its layout (one snapshot),
the gate's optional max_slice_gap rule, and the card in the PR report."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli
from sklearn import metrics as skm

from {{ cookiecutter.package_name }} import champion, reporting, slices
from {{ cookiecutter.package_name }}.ci import report
from {{ cookiecutter.package_name }}.config import primary_metric
from {{ cookiecutter.package_name }}.errors import CheckFailed, PipelineError
from {{ cookiecutter.package_name }}.paths import EVALUATION, METRICS, TRAIN
from {{ cookiecutter.package_name }}.stages import card, evaluate, gate, prepare, train


@pytest.fixture
def evaluated(params, project):
    if "n_estimators" in (params["model"].get("params") or {}):
        params["model"]["params"]["n_estimators"] = 20  # what is tested here does not need the demo's 200 trees
    prepare.run(params)
    if not params["slices"]["columns"]:  # a user's data without slice columns yet: slice on the first input column
        params["slices"]["columns"] = [next(c for c in pd.read_csv(TRAIN, nrows=0).columns
                                            if c != params["data"]["target"])]
    train.run(params)
    evaluate.run(params)
    return params


def test_card_from_a_real_evaluation(evaluated, project):
    params = evaluated
    metrics, evaluation = json.loads(METRICS.read_text()), json.loads(EVALUATION.read_text())
    intervals = evaluation["bootstrap"]["intervals"]
    assert set(intervals) == set(metrics) and evaluation["bootstrap"]["resamples"] >= 150
    for name, value in metrics.items():  # a percentile interval around the test-split value
        assert intervals[name]["low"] <= value <= intervals[name]["high"], (name, value, intervals[name])
        assert intervals[name]["low"] < intervals[name]["high"]
    sliced = evaluation["slices"]
    assert list(sliced["columns"]) == params["slices"]["columns"]
    assert sum(v["rows"] for v in next(iter(sliced["columns"].values())).values()) == evaluation["test_rows"]
    widest = sliced["widest_gap"]
    scores = {v: s[sliced["metric"]] for v, s in sliced["columns"][widest["column"]].items()
              if s["rows"] >= slices.MIN_ROWS}
    assert widest["gap"] == pytest.approx(max(scores.values()) - min(scores.values()), abs=1e-6)

    # A time column, a limitation of the user's, a champion to replace.
    frame = pd.read_csv(TRAIN)
    frame["day"] = pd.date_range("2026-01-05", periods=len(frame), freq="D").strftime("%Y-%m-%d")
    frame.to_csv(TRAIN, index=False)
    params["model_card"].update(time_column="day", limitations=["Only adults were measured."])
    champion.write({"model_name": "demo", "version": 3, "model_sha256": "ab" * 32,
                    "metrics": {primary_metric(params): 0.5}})
    data = card.data(params)
    training = data["training"]
    assert training["sha256"] == champion.sha256_file(params["data"]["path"]) and training["train_rows"] == len(frame)
    assert training["time"] == {"column": "day", "first": "2026-01-05T00:00:00+00:00",
                                "last": pd.Timestamp("2026-01-05", tz="UTC").__add__(
                                    pd.Timedelta(days=len(frame) - 1)).isoformat()}
    if params["task"] == "classification":
        assert sum(label["rows"] for label in training["labels"]) == len(frame)
    else:
        assert training["target"]["min"] <= training["target"]["mean"] <= training["target"]["max"]
    assert data["limitations"][0] == "Only adults were measured."
    assert [m["name"] for m in data["metrics"] if m["primary"]] == [primary_metric(params)]
    assert data["lineage"]["replaces"] == {"version": 3, "model_sha256": "ab" * 32, "metric": 0.5}
    flagged = [v["value"] for c in data["slices"]["columns"] for v in c["entries"] if v["flag"]]
    assert sorted(flagged) == sorted([widest["best"], widest["worst"]])

    result = run_cli("model-card")  # params.yaml as it is
    assert result.returncode == 0 and "reports/model_card.md" in result.stdout, result.stderr
    card.run(params)
    text = (project / "reports/model_card.md").read_text()
    assert "Dates (`day`): 2026-01-05 to" in text and "- Only adults were measured." in text
    assert f"**Widest gap: {widest['gap']:.4f}** in `{widest['column']}`" in text
    assert "Replaces: champion v3 (model sha256 `abababababab`" in text

    # The PR report folds the card in (levels 1 and 2).
    body = report.build(params, level=1)
    assert "<summary><b>Model card</b>" in body and "### Intended use" in body and "# Model card" not in body

    # The gate's optional rule: the widest slice gap above slices.max_gap fails the candidate, saying where.
    params["slices"]["max_gap"] = 0
    with pytest.raises(CheckFailed, match=rf"max_slice_gap: {sliced['metric']} differs by {widest['gap']:.4f} "
                                          rf"between {widest['column']}="):
        gate.run(params)
    verdict = json.loads((project / "reports/gate.json").read_text())
    assert verdict["max_slice_gap"] == 0 and verdict["widest_slice_gap"] == widest
    assert gate.slice_gap_reason(widest, "m", widest["gap"]) is None  # equal to the bound: allowed
    EVALUATION.write_text(json.dumps({**evaluation, "slices": None}))  # as evaluate writes it without slices.columns
    with pytest.raises(PipelineError, match="slices.max_gap is set in params.yaml but reports/evaluation.json has no"):
        gate.run(params)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_bootstrap_scores_are_sklearns_on_each_resample(task):
    rng = np.random.default_rng(0)
    if task == "classification":  # three labels, one rare: some resamples lack it in the truth or the guesses
        truth = rng.choice(["a", "b", "c"], 60, p=[0.5, 0.45, 0.05])
        guess = np.where(rng.random(60) < 0.8, truth, rng.choice(["a", "b", "c"], 60))
        proba = None
    else:
        truth = rng.normal(size=60)
        guess, proba = truth + rng.normal(scale=0.5, size=60), None
    rows = rng.integers(0, 60, (20, 60))
    fast = evaluate.resample_scores(task, truth, guess, proba, rows)
    for i in range(20):
        slow = evaluate.score(task, pd.Series(truth[rows[i]]), guess[rows[i]], proba)
        assert {k: round(float(v[i]), 6) for k, v in fast.items()} == pytest.approx(slow, abs=1e-6)
    binary = rng.choice(["no", "yes"], 60)
    scores = np.where(binary == "yes", 0.7, 0.3) + rng.normal(scale=0.3, size=60)
    proba = np.column_stack([1 - scores, scores])
    fast = evaluate.resample_scores("classification", binary, np.where(scores > 0.5, "yes", "no"), proba, rows)
    for i in range(20):
        assert fast["roc_auc"][i] == pytest.approx(skm.roc_auc_score(binary[rows[i]], scores[rows[i]]), abs=1e-9)


def test_slices_name_the_bad_column_and_keep_small_slices_out_of_the_gap():
    frame = pd.DataFrame({"group": ["a"] * 12 + ["b"] * 12 + ["c"] * 3, "n": range(27)})
    truth = ["x", "y"] * 6 + ["x"] * 12 + ["y"] * 3
    guess = ["x", "y"] * 6 + ["x"] * 6 + ["y"] * 6 + ["x"] * 3
    result = slices.slice_metrics(frame, truth, guess, ["group", "n"], "classification")
    assert result["columns"]["group"]["c"] == {"rows": 3, "f1_macro": 0.0}  # shown...
    assert result["widest_gap"]["column"] == "group" and result["widest_gap"]["worst"] == "b"  # ...not compared
    assert list(result["columns"]["n"]) == ["0 to 6.5", "6.5 to 13", "13 to 19.5", "19.5 to 26"]
    with pytest.raises(PipelineError, match=r"slices.columns in params.yaml names 'age', not a column"):
        slices.slice_metrics(frame, truth, guess, ["age"], "classification")


def test_card_layout_snapshot():
    data = {
        "model_name": "m", "task": "classification", "family": "random_forest", "target": "y",
        "intended_use": {"intended_use": "Triage.", "users": "Nurses.", "out_of_scope": "Children."},
        "training": {"path": "d.csv", "sha256": "0123456789abcdef" * 4, "train_rows": 90, "test_rows": 30,
                     "columns": 4, "labels": [{"label": card.cell("a|<b>"), "rows": 90, "share": 1.0}],
                     "target": None, "time": None},
        "metrics": [{"name": "f1_macro", "value": 0.9, "primary": True, "low": 0.8, "high": 0.95}],
        "bootstrap": {"resamples": 200, "level": 0.95},
        "slices": {"metric": "f1_macro", "min_rows": 10, "max_gap": 0.1, "exceeds": True,
                   "widest_gap": {"column": "g", "gap": 0.2, "best": "p", "worst": "q"},
                   "columns": [{"column": "g", "entries": [
                       {"value": "p", "rows": 15, "score": 1.0, "few": False, "flag": True},
                       {"value": "q", "rows": 15, "score": 0.8, "few": False, "flag": True}]}]},
        "limitations": ["Small."],
        "lineage": {"commit": "f" * 40, "uncommitted_changes": False, "data_sha256": "0123456789abcdef" * 4,
                    "replaces": None},
    }
    assert reporting.render("model_card", **data) == SNAPSHOT


SNAPSHOT = """\
# Model card: m

Classification of `y` with random forest (scikit-learn).

## Intended use

- **Purpose:** Triage.
- **Users:** Nurses.
- **Out of scope:** Children.

## Training data

- `d.csv`, sha256 `0123456789abcdef`: 90 training rows, 30 test rows, 4 input columns.

| label | training rows | share |
|---|---:|---:|
| a  b | 90 | 100.0% |

## Metrics (test split)

| metric | value | 95% interval |
|---|---:|---|
| **f1_macro** | 0.9000 | 0.8000 to 0.9500 |

Intervals: percentiles over 200 bootstrap resamples of the test rows (seeded).

## Slices

f1_macro per value of each column named in `slices.columns` (numeric columns with many values in quartiles).
**Widest gap: 0.2000** in `g`, between p and q; the gate allows 0.1 (slices.max_gap): **exceeded**.

| g | test rows | f1_macro |
|---|---:|---:|
| p ⚠ | 15 | 1.0000 |
| q ⚠ | 15 | 0.8000 |

## Limitations

- Small.

## Lineage

- Commit: `ffffffffffff`.
- Training data: sha256 `0123456789abcdef`.
- Replaces: no champion yet.
"""
