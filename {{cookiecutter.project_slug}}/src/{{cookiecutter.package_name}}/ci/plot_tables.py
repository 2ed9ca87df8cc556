"""What evaluate's plots show, as tables for the report: the confusion matrix and per-class metrics, or the
residuals' distribution; the permutation importance. Read from the plot data evaluate wrote (plots/)."""

from __future__ import annotations

import math
from collections import Counter

from .. import paths
from .artifact import read_json, read_rows


def _float(value: object) -> float | None:
    try:
        result = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) else None


def _label_key(label: str) -> tuple:
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def tables(task: str, max_classes: int) -> dict:
    """What evaluate's plots show, as tables: confusion matrix and per class, or residuals; importance."""
    data: dict = {"task": task, "metric": "f1_macro" if task == "classification" else "r2"}
    if task == "classification":
        pairs = [(row.get("actual", ""), row.get("predicted", "")) for row in read_rows(paths.CONFUSION)]
        counts = Counter(pairs)
        labels = sorted({a for a, _ in pairs} | {p for _, p in pairs}, key=_label_key)
        data["confusion"] = None if not pairs else {
            "labels": labels, "rows": len(pairs), "fits": len(labels) <= max_classes,
            "counts": [[counts[(a, p)] for p in labels] for a in labels],
            "correct": sum(v for (a, p), v in counts.items() if a == p)}
        table = read_json(paths.PER_CLASS)
        data["per_class"] = None if table is None else [(label, v) for label, v in table.items() if isinstance(v, dict)]
    else:
        residuals = [a - p for a, p in ((_float(r.get("actual")), _float(r.get("predicted")))
                                        for r in read_rows(paths.PREDICTIONS)) if a is not None and p is not None]
        data["residuals"] = _residuals(residuals) if residuals else None
    ranked = [(r.get("feature", ""), _float(r.get("importance")), _float(r.get("std")))
              for r in read_rows(paths.IMPORTANCE)]
    data["importance"] = sorted((r for r in ranked if r[1] is not None), key=lambda r: -r[1])
    return data


def _residuals(residuals: list[float], bins: int = 8) -> dict:
    mean = sum(residuals) / len(residuals)
    low, high = min(residuals), max(residuals)
    width = (high - low) / bins or 1.0
    counts = Counter(min(int((r - low) / width), bins - 1) for r in residuals)
    peak = max(counts.values())
    return {"rows": len(residuals), "mean": mean, "largest": max(abs(r) for r in residuals),
            "spread": math.sqrt(sum((r - mean) ** 2 for r in residuals) / len(residuals)),
            # (from, to, bar length, rows) per bin
            "bins": [(start, start + width, round(20 * counts[b] / peak), counts[b])
                     for b, start in ((b, low + b * width) for b in range(bins))]}
