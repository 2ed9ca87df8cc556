"""What batch.yml needs around `score`: whether there is a champion to score with, and the job summary.

`plan` reads only champion.json and params.yaml (no pandas: the core dependencies only), so the job that decides
runs without the pipeline's libraries; with no champion yet, the scoring job is skipped and the summary says
what to do.
"""

from __future__ import annotations

from pathlib import Path

from .. import reporting
from . import actions

NO_CHAMPION = ("No champion yet, so batch scoring was skipped: champion.json names the model it scores with. "
               "Train (the retraining workflow), merge the promotion pull request it opens, and the next run "
               "scores `{input}`.")
NO_INPUT = ("Batch scoring was skipped: no input. Set `batch.input` in params.yaml (the scheduled runs score it), "
            "or run the workflow by hand with an input path.")


def plan(params: dict, source: str | None, record: Path | str = actions.CHAMPION) -> dict:
    """{ready, input, reason}; in Actions also as step outputs and, when not ready, the job summary."""
    # params.yaml directly, not serving.batch: this job installs no pandas (the runtime dependencies only)
    source = source or (params.get("batch") or {}).get("input") or ""
    if not source:
        reason = NO_INPUT
    elif not Path(record).is_file():
        reason = NO_CHAMPION.format(input=source)
    else:
        reason = ""
    actions.set_outputs({"ready": "false" if reason else "true", "input": source})
    if reason:
        actions.add_summary(reporting.render("batch_skipped.md", reason=reason))
    return {"ready": not reason, "input": source, "reason": reason}


def summary_markdown(summary: dict) -> str:
    """The job summary of a scoring run (templates/batch_summary.j2)."""
    mix = summary["prediction_mix"]
    training = summary.get("training_mix") or {}
    if summary["task"] == "classification":
        labels = sorted(set(mix) | set(training))
        rows = [{"label": label, "rows": mix.get(label, {}).get("rows", 0),
                 "share": mix.get(label, {}).get("share", 0.0),
                 "training": training[label]["share"] if label in training else None} for label in labels]
    else:
        rows = [{"label": key, "value": mix.get(key), "training": training.get(key)}
                for key in ("mean", "p10", "p50", "p90")]
    return reporting.render("batch_summary", s=summary, mix_rows=rows, has_training=bool(training))


def publish(folder: str | Path) -> dict:
    """Push the predictions folder to the DVC remote (`dvc add`, then `dvc push` of its .dvc file).

    Without a remote nothing is pushed and the workflow uploads the folder as an artifact instead. With
    one, the artifact holds `<folder>.dvc`: put it in a checkout and `dvc pull` it to get the files.
    """
    from .. import remote
    from ..errors import PipelineError

    folder = Path(folder)
    if not folder.is_dir():
        raise PipelineError(f"{folder}: not found; run `score` first")
    name = remote.default()
    if name is None:
        actions.set_outputs({"pushed": "false"})
        return {"pushed": False, "message": f"no DVC remote configured: {folder} goes up as the run's artifact"}
    remote.authenticate(name)
    for args in (("add", str(folder)), ("push", f"{folder}.dvc")):
        done = remote.dvc(*args)
        if done.returncode != 0:
            raise PipelineError(f"`dvc {' '.join(args)}` with remote '{name}' failed: {done.stderr.strip()[-500:]}")
    pointer = Path(f"{folder}.dvc")
    actions.set_outputs({"pushed": "true", "pointer": str(pointer)})
    message = (f"pushed {folder} to the DVC remote '{name}'; {pointer} (in the run's artifact) names it: "
               f"`dvc pull {pointer}` in a checkout fetches it")
    actions.add_summary(reporting.render("batch_published.md", message=message))
    return {"pushed": True, "message": message, "pointer": str(pointer)}
