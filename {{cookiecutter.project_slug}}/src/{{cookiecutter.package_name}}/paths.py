"""Every file and folder the project reads or writes, by name: the one home of each path.

Relative to the project root, where every command runs. dvc.yaml names the same files (DVC needs them
written out); tests/test_layout.py checks that the two agree. Any layer may import this: it imports
only the standard library and errors.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

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

# Production monitoring (stages/collect.py, monitor.py, history.py): monitoring.* in params.yaml may move the
# folders; these are the defaults.
COLLECT = Path("reports/collect.json")  # collect's summary
MONITOR = Path("reports/monitor.json")  # monitor's summary (monitoring.py reads it back)
MONITOR_HTML = Path("reports/monitor.html")
LABELS = Path("data/labels")  # monitoring.labels: label files, record_id and the target
PRODUCTION = Path("data/production/current.csv")  # monitoring.current: the collected batch
MONITOR_HISTORY = Path("data/production/history")  # monitoring.history, and the names inside it:
WATERMARK_FILE = "watermark.json"  # where the last monitored window ended
WORKSPACE_DIR = "workspace"  # the Evidently workspace
LABELLED_FILE = "labelled.csv"  # production's labelled records (`collect --labelled`)
REMOTE_HISTORY = "monitoring-workspace"  # the history's folder on the DVC remote, beside its cache

# Prediction capture (capture.py): capture.dir's default, the folder the image uses ($CAPTURE_DIR, on the
# `capture` volume), and a capture file's name in its day folder (<YYYY-MM-DD>/predictions-...jsonl).
CAPTURE_DIR = Path("captures")
CAPTURE_MOUNT = Path("/var/lib/capture")
CAPTURE_PREFIX = "predictions-"
CAPTURE_SUFFIX = ".jsonl"
CAPTURE_FILES = f"{CAPTURE_PREFIX}*{CAPTURE_SUFFIX}"

# Batch scoring (serving/batch.py): batch.output's default, and the files written beside the output.
BATCH_OUTPUT = Path("predictions/predictions.parquet")
REJECTS_SUFFIX = ".rejects.csv"
BATCH_SUMMARY_SUFFIX = ".summary.json"
SCORE_MODEL_DIR = Path("build/score-model")  # score's own export, when build/model holds another model

# The champion, in git (champion.py).
CHAMPION = Path("champion.json")
CHAMPION_MODEL = Path("champion/model.joblib")
CHAMPION_DVC = Path("champion/model.joblib.dvc")
SIGNATURE_SUFFIX = ".sig"  # a signature sits beside the model file it signs: <model>.sig (signing.py)
CHAMPION_SIGNATURE = CHAMPION_MODEL.with_name(CHAMPION_MODEL.name + SIGNATURE_SUFFIX)
SIGNING_KEY = Path("signing/champion.pub")  # signing.py: committed, it makes every champion signed by its key

RETRAIN_WORKFLOW = "retrain.yml"  # in .github/workflows: what monitor-alert starts on new labelled rows

# The template's answers and commit (cruft), for template updates (ci/template.py).
CRUFT_STATE = Path(".cruft.json")

# Deploys: the Swarm stack and the files it mounts as configs (ci/swarm.py); Kustomize overlays (ci/kube.py).
STACK = Path("deploy/stack.yml")
NGINX_CONFIG = Path("deploy/nginx.conf")
PROMETHEUS_CONFIG = Path("monitoring/prometheus.yml")
ALERT_RULES = Path("monitoring/alerts.yml")
K8S_OVERLAYS = Path("deploy/k8s/overlays")
KUSTOMIZATION = "kustomization.yaml"  # the file Kustomize reads in each folder
K8S_BUILD = Path("build/k8s")  # one Kustomization per deploy, wrapping the overlay with the image

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


def read(path: Path | str, missing: str, parse: Callable[[str], Any] = json.loads, kind: str = "JSON",
         invalid: tuple[type[Exception], ...] = (ValueError,)) -> Any:
    """A file's parsed text (JSON unless `parse` says otherwise); a PipelineError naming the file when it is not
    valid `kind`, or when it is absent, with `missing`: what makes it."""
    path = Path(path)
    try:
        return parse(path.read_text())
    except FileNotFoundError:
        raise PipelineError(f"{path}: not found; {missing}") from None
    except invalid as exc:
        raise PipelineError(f"{path}: not valid {kind}: {exc}") from None


def read_output(path: Path, stage: str) -> dict:
    """A stage's JSON output, or a PipelineError naming the stage to run first."""
    return read(path, f"run the {stage} stage first")
