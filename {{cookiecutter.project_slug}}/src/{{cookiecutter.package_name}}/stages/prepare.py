"""Split the checked data into train and test sets (stratified for classification, seeded)."""

from __future__ import annotations

from ..paths import TEST, TRAIN


def run(params: dict) -> tuple[int, int]:
    # Imported here: `export` imports this module and runs it only when the split is missing. The data is
    # read with the contract's dtypes (contract.read refuses a file that does not match them); `check`, which
    # the stage depends on, has enforced every other rule, so pandera is not needed (nor its import).
    from sklearn.model_selection import train_test_split

    from .. import contract

    frame = contract.read(params["data"]["path"], contract.load(params["data"]["schema"]))
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
