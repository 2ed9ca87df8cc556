"""evaluate: the metrics for the gate, and every plot as a PNG and as DVC plot data, without MLflow."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import user_frame
from PIL import Image
from sklearn import metrics as skm

from {{ cookiecutter.package_name }}.paths import METRICS, TEST
from {{ cookiecutter.package_name }}.stages import plots, prepare, train

PNG_SIZE = (640, 480)
PNGS = {
    "classification": {"confusion", "roc", "precision_recall", "calibration", "importance"},
    "regression": {"predicted_vs_actual", "residuals", "importance"},
}
# Run the stage as dvc does, then report which heavy modules it imported.
STAGE = ("import sys; from {{ cookiecutter.package_name }}.cli import main; code = main(['evaluate']); "
         "print(sorted(m for m in ('mlflow', 'evidently', 'matplotlib.pyplot') if m in sys.modules)); sys.exit(code)")


def check_png(path) -> None:
    """A PNG that decodes, has the size every plot has, and is not blank."""
    with Image.open(path) as image:
        image.load()
        assert image.format == "PNG" and image.size == PNG_SIZE, (path, image.size)
        colours = image.convert("RGB").getcolors(maxcolors=PNG_SIZE[0] * PNG_SIZE[1])
    assert len(colours) > 20, f"{path}: only {len(colours)} colours: blank?"


def test_evaluate_writes_metrics_and_every_plot_without_mlflow(params, project):
    if "n_estimators" in (params["model"].get("params") or {}):
        params["model"]["params"]["n_estimators"] = 20  # what is tested here does not need the demo's 200 trees
    prepare.run(params)
    train.run(params)
    stage = subprocess.run([sys.executable, "-c", STAGE], capture_output=True, text=True)
    assert stage.returncode == 0, stage.stderr
    assert stage.stdout.splitlines()[-1] == "[]"  # no MLflow, no Evidently, no pyplot: a fast stage
    result = json.loads(METRICS.read_text())
    X, y = train.read_split(TEST, params)
    task = params["task"]

    assert {p.stem for p in (project / "plots").glob("*.png")} == PNGS[task]
    for png in (project / "plots").glob("*.png"):
        check_png(png)

    importance = pd.read_csv(project / "plots/importance.csv")
    assert list(importance.columns) == ["feature", "importance", "std"]
    assert sorted(importance["feature"]) == sorted(X.columns)  # every input column, once
    assert importance["importance"].is_monotonic_decreasing and (importance["std"] >= 0).all()
    assert importance["importance"].iloc[0] > 0  # some column matters

    if task == "classification":
        confusion = pd.read_csv(project / "plots/confusion.csv", dtype=str)
        assert list(confusion.columns) == ["actual", "predicted"] and len(confusion) == len(y)
        assert (confusion["actual"].to_numpy() == y.to_numpy()).all()
        assert (confusion["actual"] == confusion["predicted"]).mean() == pytest.approx(result["accuracy"], abs=1e-6)
        labels = sorted(set(y))
        binary = len(labels) == 2  # two classes: the curves are the positive class's; more: one per class
        roc = pd.read_csv(project / "plots/roc.csv", dtype={"class": str})
        assert list(roc.columns) == ["class", "fpr", "tpr"]
        assert set(roc["class"]) == ({labels[1]} if binary else set(labels))
        for _, curve in roc.groupby("class"):
            assert curve["fpr"].iloc[0] == 0 and curve["fpr"].iloc[-1] == 1 and curve["tpr"].iloc[-1] == 1
            assert curve["fpr"].is_monotonic_increasing and curve["tpr"].is_monotonic_increasing
        pr = pd.read_csv(project / "plots/precision_recall.csv", dtype={"class": str})
        assert list(pr.columns) == ["class", "recall", "precision"]
        assert (pr.groupby("class")["recall"].first() == 1).all()
        calibration = pd.read_csv(project / "plots/calibration.csv", dtype={"class": str})
        assert list(calibration.columns) == ["class", "predicted", "observed"]
        assert calibration.groupby("class").size().between(2, plots.CALIBRATION_BINS).all()
        assert calibration[["predicted", "observed"]].stack().between(0, 1).all()
        per_class = json.loads((project / "plots/per_class.json").read_text())
        assert list(per_class) == labels and sum(c["support"] for c in per_class.values()) == len(y)
        assert np.mean([c["f1"] for c in per_class.values()]) == pytest.approx(result["f1_macro"], abs=1e-5)
        if binary:
            positive = labels[1]
            assert skm.auc(roc["fpr"], roc["tpr"]) == pytest.approx(result["roc_auc"], abs=1e-6)
            assert per_class[positive]["roc_auc"] == result["roc_auc"] and 0 <= per_class[positive]["brier"] < 0.25
    else:
        predictions = pd.read_csv(project / "plots/predictions.csv")
        assert list(predictions.columns) == ["actual", "predicted", "residual"] and len(predictions) == len(y)
        np.testing.assert_allclose(predictions["actual"], y.to_numpy(), atol=1e-6)
        np.testing.assert_allclose(predictions["residual"], predictions["actual"] - predictions["predicted"],
                                   atol=2e-6)
        assert skm.r2_score(predictions["actual"], predictions["predicted"]) == pytest.approx(result["r2"], abs=1e-4)


def test_more_than_two_classes_get_a_curve_each(params, project):
    frame = user_frame("classification", rows=300)
    frame["label"] = np.select([frame["size"] < 9, frame["size"] < 11], ["small", "medium"], "large")
    params = {**params, "task": "classification", "data": {**params["data"], "target": "label"},
              "model": {"family": "logistic_regression", "seed": 0, "params": {}}}
    X, y = train.split_xy(frame, params)
    model = train.build_pipeline(params, X).fit(X, y)
    written = plots.write("classification", model, X, y, model.predict(X), model.predict_proba(X), seed=0)

    assert {p.name for p in written} >= {"roc.png", "precision_recall.csv", "per_class.json", "importance.png"}
    for name in ("roc", "precision_recall", "calibration"):
        curves = pd.read_csv(project / f"plots/{name}.csv")
        assert set(curves["class"]) == {"large", "medium", "small"}, name  # one-vs-rest, one per class
    per_class = json.loads((project / "plots/per_class.json").read_text())
    assert set(per_class) == {"large", "medium", "small"}
    assert all(0.5 < c["roc_auc"] <= 1 and "average_precision" in c for c in per_class.values())
    importance = pd.read_csv(project / "plots/importance.csv").set_index("feature")["importance"]
    assert importance["size"] > 0.1 and abs(importance["noise"]) < 0.05  # the label is made from size alone
    check_png(project / "plots/roc.png")


def test_fast_scores_match_scikit_learn():
    rng = np.random.default_rng(0)
    for _ in range(50):
        truth, guess = rng.choice(list("abc"), 40), rng.choice(list("abcd"), 40)
        expected = skm.f1_score(truth, guess, average="macro", zero_division=0)
        assert plots.f1_macro(truth, guess) == pytest.approx(expected)
        actual, noise = rng.normal(size=30), rng.normal(size=30)
        assert plots.r2(actual, actual + noise) == pytest.approx(skm.r2_score(actual, actual + noise))
