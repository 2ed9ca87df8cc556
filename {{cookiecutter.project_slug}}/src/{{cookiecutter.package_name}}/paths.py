"""Every file and folder the project reads or writes, by name: the one home of each path.

Relative to the project root, where every command runs. dvc.yaml names the same files (DVC needs them
written out); tests/test_layout.py checks that the two agree. Any layer may import this: it imports
only the standard library and errors.
"""

from __future__ import annotations

import json
from pathlib import Path

from .errors import PipelineError

PARAMS = Path("params.yaml")
SCHEMA = Path("schema.yaml")  # where a commit without data.schema in its params.yaml kept the contract

# The DVC stages' outputs, in pipeline order.
DATA_CHECK = Path("reports/data_check.json")  # check
DATA_CHECK_HTML = Path("reports/data_check.html")
ADDED = Path("reports/added.json")  # add-current: how many labelled rows joined, from production and the current batch
TRAIN = Path("data/prepared/train.csv")  # prepare
TEST = Path("data/prepared/test.csv")
MODEL = Path("models/model.joblib")  # train
METRICS = Path("metrics/metrics.json")  # evaluate
EVALUATION = Path("reports/evaluation.json")  # evaluate: bootstrap intervals and slice metrics, for gate and card
PLOTS = Path("plots")  # evaluate's plot data (what `dvc plots` draws) and the same charts as PNGs
CONFUSION = PLOTS / "confusion.csv"
PREDICTIONS = PLOTS / "predictions.csv"
PER_CLASS = PLOTS / "per_class.json"
IMPORTANCE = PLOTS / "importance.csv"
MODEL_CARD = Path("reports/model_card.md")  # card
VERDICT = Path("reports/gate.json")  # gate
DRIFT = Path("reports/drift.json")  # drift
DRIFT_HTML = Path("reports/drift.html")
REGISTRATION = Path("reports/registration.json")  # register
RUN_INFO = Path("models/run.json")

# What the MLflow run of a pipeline run holds besides the model: artifact folder -> files or folders.
LOGGED = {"metrics": (METRICS,), "plots": (PLOTS,),
          "reports": (DATA_CHECK, DATA_CHECK_HTML, VERDICT, DRIFT, DRIFT_HTML, EVALUATION, MODEL_CARD)}

# The champion, in git (champion.py).
CHAMPION = Path("champion.json")
CHAMPION_MODEL = Path("champion/model.joblib")
CHAMPION_DVC = Path("champion/model.joblib.dvc")
CHAMPION_SIGNATURE = Path("champion/model.joblib.sig")  # model-signing's bundle for CHAMPION_MODEL (signing.py)

# MLflow's embedded store, in the checkout (tracking.py).
MLFLOW_DB = Path("mlflow.db")
MLRUNS = Path("mlruns")
# Where the embedded store's artifact location points (tracking.link_artifacts): the same path on every machine.
MLFLOW_LINKS = Path("/tmp")
MLFLOW_LINK_PREFIX = "mlflow-artifacts-"

# The model directory `export` writes and the serving app reads: its folder and the names inside it.
MODEL_DIR = Path("build/model")
MODEL_FILE = "model.joblib"  # always written; the fallback runtime
ONNX_FILE = "model.onnx"  # written when the converted model passed verification
METADATA_FILE = "metadata.json"
SCHEMA_FILE = "input_schema.json"
REQUIREMENTS_FILE = "requirements.txt"  # the runtime's libraries, pinned (what the image installs)

# The PR report's own folder (`report`, read back by `post-comment`) and the names inside it.
REPORT_DIR = Path("pr-report")
REPORT = "report.md"
FULL_REPORT = "report-full.md"  # written when the comment had to be cut
PR_NUMBER_FILE = "pr-number"  # the PR the poster comments on
REPORT_OWNER = ".report-folder"  # marks a folder `report` made, which it may empty and rewrite


def read_output(path: Path, stage: str) -> dict:
    """A stage's JSON output, or a PipelineError naming the stage to run first."""
    if not path.is_file():
        raise PipelineError(f"{path}: not found; run the {stage} stage first")
    return json.loads(path.read_text())
