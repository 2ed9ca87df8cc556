"""Split the checked data into train and test sets (stratified for classification, seeded)."""

from __future__ import annotations

from .config import TEST, TRAIN

__all__ = ["TEST", "TRAIN", "run"]


def run(params: dict) -> tuple[int, int]:
    # Imported here: other stages import this module for its paths only.
    from sklearn.model_selection import train_test_split

    from . import checks

    schema = checks.load_schema(params["data"]["schema"])
    source = params["data"]["path"]
    frame, failures = checks.validate(checks.read_csv(source, checks.text_columns(schema)), schema, params, source)
    if failures:  # the check stage normally stops this first; never split unchecked data
        raise checks.CheckFailed("\n".join(f.message() for f in failures))
    target = frame[params["data"]["target"]]
    train, test = train_test_split(
        frame,
        test_size=params["split"]["test_size"],
        random_state=params["split"]["seed"],
        stratify=target if params["task"] == "classification" else None,
    )
    TRAIN.parent.mkdir(parents=True, exist_ok=True)
    train.to_csv(TRAIN, index=False)
    test.to_csv(TEST, index=False)
    return len(train), len(test)
