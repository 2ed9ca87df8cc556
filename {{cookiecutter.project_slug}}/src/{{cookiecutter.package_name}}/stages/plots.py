"""The plots a reviewer expects, as PNG files and as DVC plot data, all under plots/.

Classification: confusion matrix; ROC, precision-recall and calibration curves (the positive class for
two classes, one curve per class, one-vs-rest, for more); per-class metrics. Regression: predicted vs
actual, and residuals. Both: permutation feature importance on the test split. The CSV files are what
`dvc plots show` draws (dvc.yaml's `plots:`); the PNGs draw the same data the same way round, for the
report and the MLflow run. Matplotlib is imported only here, as its Agg canvas (no pyplot, no display).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from ..paths import CONFUSION, IMPORTANCE, PER_CLASS, PLOTS, PREDICTIONS

SIZE, DPI = (6.4, 4.8), 100  # every PNG is 640 x 480 pixels
MAX_POINTS = 200  # per curve: enough to draw it, small enough to keep in git
CALIBRATION_BINS = 10
IMPORTANCE_REPEATS = 5
IMPORTANCE_ROWS = 2000  # test rows the importance uses: a seeded sample of larger splits
BATCH_ROWS = 100_000  # rows per model call while scoring the shuffled copies
TOP_FEATURES = 20  # bars in the importance PNG
LABEL = 24  # characters of a class or feature name in a PNG
# Each curve's columns (x, y), and its PNG: title, axis labels, what the legend says per class, diagonal.
CURVES = {"roc": ["fpr", "tpr"], "precision_recall": ["recall", "precision"], "calibration": ["predicted", "observed"]}
CURVE_PNGS = {
    "roc": ("ROC curve (test split)", "false positive rate", "true positive rate", "AUC {roc_auc:.3f}", True),
    "precision_recall": ("Precision-recall curve (test split)", "recall", "precision", "AP {average_precision:.3f}",
                         False),
    "calibration": ("Calibration (test split)", "mean predicted probability", "observed frequency",
                    "Brier {brier:.3f}", True),
}


def write(task: str, model, X: pd.DataFrame, y: pd.Series, predicted: np.ndarray, proba: np.ndarray | None,
          *, seed: int = 0) -> list[Path]:
    """Write every plot of `task` for the test split; return the files written."""
    PLOTS.mkdir(exist_ok=True)
    if task == "classification":
        written = _classification(model, y, predicted, proba)
        scorer, metric = f1_macro, "f1_macro"
    else:
        written = _regression(y, predicted)
        scorer, metric = r2, "r2"
    importance = permutation_importance(model, X, y, scorer, seed)
    written.append(_csv(importance, IMPORTANCE.name))
    written.append(_importance_png(importance, metric))
    return written


# --------------------------------------------------------------------------- data


# The importance scores a few hundred shuffled copies: scikit-learn's metrics spend ~10 ms each validating
# their input, so these two compute the same numbers (f1_score(average="macro"), r2_score) directly.
def f1_macro(truth: np.ndarray, guess: np.ndarray) -> float:
    scores = []
    for label in np.union1d(truth, guess):
        hit, said = truth == label, guess == label
        both = np.count_nonzero(hit & said)
        total = np.count_nonzero(hit) + np.count_nonzero(said)
        scores.append(2 * both / total if total else 0.0)
    return float(np.mean(scores))


def r2(truth: np.ndarray, guess: np.ndarray) -> float:
    spread = np.sum((truth - truth.mean()) ** 2)
    error = np.sum((truth - guess) ** 2)
    return float(1 - error / spread) if spread else (1.0 if error == 0 else 0.0)


def permutation_importance(model, X: pd.DataFrame, y: pd.Series, scorer, seed: int) -> pd.DataFrame:
    """How much the score drops when one input column is shuffled, over IMPORTANCE_REPEATS seeded shuffles.

    sklearn.inspection.permutation_importance's definition, but the shuffled copies are stacked and scored
    in one model call per batch instead of one call per column and repeat: a forest spends most of a call
    on overhead, so this takes a fraction of a second instead of seconds.
    """
    rng = np.random.default_rng(seed)
    if len(X) > IMPORTANCE_ROWS:
        keep = np.sort(rng.choice(len(X), IMPORTANCE_ROWS, replace=False))
        X, y = X.iloc[keep], y.iloc[keep]
    X, truth = X.reset_index(drop=True), y.to_numpy()
    baseline = scorer(truth, model.predict(X))
    jobs = [column for column in X.columns for _ in range(IMPORTANCE_REPEATS)]
    per_call = max(1, BATCH_ROWS // len(X))
    scores: list[float] = []
    for start in range(0, len(jobs), per_call):
        copies = []
        for column in jobs[start:start + per_call]:
            shuffled = X.copy()
            shuffled[column] = rng.permutation(shuffled[column].to_numpy())
            copies.append(shuffled)
        guesses = model.predict(pd.concat(copies, ignore_index=True))
        scores += [scorer(truth, part) for part in np.split(guesses, len(copies))]
    drops = baseline - np.array(scores).reshape(len(X.columns), IMPORTANCE_REPEATS)
    frame = pd.DataFrame({"feature": X.columns, "importance": drops.mean(axis=1), "std": drops.std(axis=1)})
    return frame.round(6).sort_values(["importance", "feature"], ascending=[False, True], ignore_index=True)


def _thin(*columns: np.ndarray) -> list[np.ndarray]:
    """At most MAX_POINTS evenly spaced points of a curve, keeping both ends."""
    if len(columns[0]) <= MAX_POINTS:
        return list(columns)
    keep = np.unique(np.linspace(0, len(columns[0]) - 1, MAX_POINTS).round().astype(int))
    return [column[keep] for column in columns]


def curves(labels: list[str], y: pd.Series, proba: np.ndarray | None) -> tuple[dict[str, pd.DataFrame], dict]:
    """ROC, precision-recall and calibration points per class, and what each curve sums up per class."""
    rows: dict[str, list[pd.DataFrame]] = {name: [] for name in CURVES}
    summary = {}
    truth_labels = y.to_numpy()
    # Two classes: the positive one says it all. No probabilities: no curves (every family here has them).
    for label in [] if proba is None else labels[1:] if len(labels) == 2 else labels:
        truth = truth_labels == label
        if truth.all() or not truth.any():  # a class absent from the split (or alone in it) has no curve
            continue
        score = proba[:, labels.index(label)]
        fpr, tpr = _thin(*skm.roc_curve(truth, score)[:2])
        precision, recall = _thin(*skm.precision_recall_curve(truth, score)[:2])
        observed, predicted = calibration_curve(truth, score, n_bins=CALIBRATION_BINS)
        rows["roc"].append(pd.DataFrame({"class": label, "fpr": fpr, "tpr": tpr}))
        rows["precision_recall"].append(pd.DataFrame({"class": label, "recall": recall, "precision": precision}))
        rows["calibration"].append(pd.DataFrame({"class": label, "predicted": predicted, "observed": observed}))
        summary[label] = {"roc_auc": skm.roc_auc_score(truth, score),
                          "average_precision": skm.average_precision_score(truth, score),
                          "brier": skm.brier_score_loss(truth, score)}
    frames = {name: pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["class", *CURVES[name]])
              for name, parts in rows.items()}
    return frames, summary


def per_class(labels: list[str], y: pd.Series, predicted: np.ndarray, summary: dict) -> dict[str, dict]:
    precision, recall, f1, support = skm.precision_recall_fscore_support(y, predicted, labels=labels,
                                                                         zero_division=0)
    table = {}
    for i, label in enumerate(labels):
        row = {"precision": precision[i], "recall": recall[i], "f1": f1[i], **summary.get(label, {})}
        table[label] = {key: round(float(value), 6) for key, value in row.items()} | {"support": int(support[i])}
    return table


# --------------------------------------------------------------------------- per task


def _classification(model, y: pd.Series, predicted: np.ndarray, proba: np.ndarray | None) -> list[Path]:
    labels = [str(label) for label in getattr(model, "classes_", sorted(set(y) | set(predicted)))]
    written = [_csv(pd.DataFrame({"actual": y.to_numpy(), "predicted": predicted}), CONFUSION.name),
               _confusion_png(skm.confusion_matrix(y, predicted, labels=labels), labels)]
    frames, summary = curves(labels, y, proba)
    for name, frame in frames.items():
        written += [_csv(frame, f"{name}.csv"), _curves_png(name, frame, summary)]
    PER_CLASS.write_text(json.dumps(per_class(labels, y, predicted, summary), indent=2) + "\n")
    return [*written, PER_CLASS]


def _regression(y: pd.Series, predicted: np.ndarray) -> list[Path]:
    actual = y.to_numpy(dtype=float)
    frame = pd.DataFrame({"actual": actual, "predicted": predicted, "residual": actual - predicted}).round(6)
    return [_csv(frame, PREDICTIONS.name),
            _scatter_png(frame, "actual", "predicted", "Predicted vs actual (test split)", "predicted_vs_actual.png",
                         identity=True),
            _scatter_png(frame, "predicted", "residual", "Residuals (test split): actual - predicted", "residuals.png")]


# --------------------------------------------------------------------------- files


def _csv(frame: pd.DataFrame, name: str) -> Path:
    path = PLOTS / name
    frame.round(6).to_csv(path, index=False)
    return path


def _short(text: object) -> str:
    text = str(text)
    return text if len(text) <= LABEL else text[: LABEL - 1] + "…"


def _figure(left: float = 0.11, bottom: float = 0.11):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=SIZE, dpi=DPI)
    FigureCanvasAgg(figure)
    # Fixed margins: a layout engine would cost a second draw of every figure.
    figure.subplots_adjust(left=left, bottom=bottom, right=0.97, top=0.92)
    return figure, figure.add_subplot()


def _save(figure, name: str) -> Path:
    path = PLOTS / name
    figure.savefig(path)
    return path


def _confusion_png(grid: np.ndarray, labels: list[str]) -> Path:
    figure, ax = _figure(left=0.2, bottom=0.2)
    ax.imshow(grid, cmap="Blues")
    ticks, names, crowded = range(len(labels)), [_short(label) for label in labels], len(labels) > 4
    ax.set_xticks(ticks, names, rotation=45 if crowded else 0, ha="right" if crowded else "center")
    ax.set_yticks(ticks, names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    if len(labels) <= 20:
        peak = grid.max() or 1
        for (i, j), value in np.ndenumerate(grid):
            ax.text(j, i, str(value), ha="center", va="center", color="white" if value > peak / 2 else "black")
    ax.set_title("Confusion matrix (test split)")
    return _save(figure, "confusion.png")


def _curves_png(name: str, frame: pd.DataFrame, summary: dict) -> Path:
    title, xlabel, ylabel, note, diagonal = CURVE_PNGS[name]
    x, y = CURVES[name]
    figure, ax = _figure()
    for label, points in frame.groupby("class", sort=False):
        ax.plot(points[x], points[y], marker="o" if name == "calibration" else None,
                label=f"{_short(label)} ({note.format(**summary[label])})")
    if diagonal:  # chance (ROC), perfect calibration
        ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel=xlabel, ylabel=ylabel, title=title)
    if len(frame):
        ax.legend(loc="best", fontsize="small")
    return _save(figure, f"{name}.png")


def _scatter_png(frame: pd.DataFrame, x: str, y: str, title: str, name: str, *, identity: bool = False) -> Path:
    figure, ax = _figure()
    ax.scatter(frame[x], frame[y], s=10, alpha=0.6)
    if identity and len(frame):
        low, high = min(frame[x].min(), frame[y].min()), max(frame[x].max(), frame[y].max())
        ax.plot([low, high], [low, high], color="grey", linestyle="--", linewidth=1)
    elif not identity:
        ax.axhline(0, color="grey", linestyle="--", linewidth=1)
    ax.set(xlabel=x, ylabel=y, title=title)
    return _save(figure, name)


def _importance_png(frame: pd.DataFrame, metric: str) -> Path:
    figure, ax = _figure(left=0.3)
    top = frame.head(TOP_FEATURES).iloc[::-1]  # largest at the top
    ax.barh([_short(f) for f in top["feature"]], top["importance"], xerr=top["std"], color="tab:blue")
    ax.set(xlabel=f"drop in {metric} when the column is shuffled",
           title=f"Permutation importance (test split, top {min(TOP_FEATURES, len(frame))})")
    ax.tick_params(axis="y", labelsize="small")
    return _save(figure, "importance.png")
