"""Write the demo CSVs bundled into generated projects, from scikit-learn's bundled datasets.

Run from the template root: `python scripts/make_demo_data.py`. The output is committed, so a
generated project never needs scikit-learn's data loaders or the network to get its data.
The target column's header is a Jinja placeholder, so it follows the `target_column` answer.
"""

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer, load_diabetes

OUT = Path(__file__).resolve().parents[1] / "{{cookiecutter.project_slug}}" / "data" / "raw"
TARGET = "{{ cookiecutter.target_column }}"
CURRENT_SHARE = 0.2


def breast_cancer() -> pd.DataFrame:
    data = load_breast_cancer(as_frame=True)
    frame = data.frame.rename(columns=lambda c: c.replace(" ", "_"))
    frame["target"] = data.target_names[data.target]  # string labels: malignant / benign
    return frame


def diabetes() -> pd.DataFrame:
    frame = load_diabetes(as_frame=True, scaled=False).frame
    return frame.astype({"age": int, "sex": int})


def split_current(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out a random 'current' batch, keeping every column's extremes in the main data
    so that a schema inferred from the main data also accepts the current batch."""
    rng = np.random.default_rng(42)
    current = rng.random(len(frame)) < CURRENT_SHARE
    numeric = frame.select_dtypes("number")
    numeric = numeric.loc[:, numeric.nunique() > 10]  # codes such as sex have no "extreme" rows
    extremes = (numeric == numeric.min()).any(axis=1) | (numeric == numeric.max()).any(axis=1)
    current &= ~extremes.to_numpy()
    return frame[~current], frame[current]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, frame in {"breast_cancer": breast_cancer(), "diabetes": diabetes()}.items():
        main_part, current = split_current(frame.rename(columns={"target": TARGET}))
        main_part.to_csv(OUT / f"{name}.csv", index=False)
        current.to_csv(OUT / f"{name}_current.csv", index=False)
        print(f"{name}: {len(main_part)} rows + {len(current)} current")


if __name__ == "__main__":
    main()
