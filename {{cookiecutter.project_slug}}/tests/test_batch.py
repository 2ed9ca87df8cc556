"""Batch scoring (`score`), in process: the sha256-checked champion in the serving runtime, chunk by chunk.

Chunked scoring equals scoring in one piece and the pipeline itself; rows that break the contract go to
the rejects file without stopping the batch; a missing or unexpected column, an unreadable line deep in
the file and a champion whose bytes differ from champion.json stop it with a message naming the cause,
and leave nothing half-written (an earlier output stays as it was, no temporary or capture files).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import declare, numeric_features, run_cli

from {{ cookiecutter.package_name }} import champion, contract, paths, remote
from {{ cookiecutter.package_name }}.errors import PipelineError
from {{ cookiecutter.package_name }}.serving import batch
from {{ cookiecutter.package_name }}.stages import prepare, train

CAPTURE_KEYS = {"record_id", "request_id", "time", "source", "model_version", "model_sha256", "inputs",
                "prediction", "probabilities", "latency_ms"}


def set_params(project: Path, **batch) -> dict:
    """Small, fast models (this is about scoring, not accuracy) and the given `batch:` settings."""
    settings = yaml.safe_load((project / "params.yaml").read_text())
    settings["model"] = {**settings["model"], "family": "random_forest", "params": {"n_estimators": 10}}
    settings["batch"] = {**(settings.get("batch") or {}), **batch}
    settings["capture"] = {**(settings.get("capture") or {}), "dir": "capture"}
    os.environ.pop("CAPTURE_DIR", None)  # conftest points the app's capture elsewhere; these tests read capture.dir
    (project / "params.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    return settings


def make_champion(params: dict) -> dict:
    """What a merged promotion leaves: champion.json naming champion/model.joblib by its sha256."""
    prepare.run(params)
    model = train.run(params)
    Path("champion").mkdir(exist_ok=True)
    shutil.copy2(model, paths.CHAMPION_MODEL)
    record = {"model_name": params["mlflow"]["model_name"], "version": 4, "model_sha256": champion.sha256_file(
        paths.CHAMPION_MODEL), "storage": "git"}
    champion.write(record)
    return record


def inputs(params: dict, path: str | Path | None = None) -> pd.DataFrame:
    """A file's model inputs, typed by the contract (the held-out split by default)."""
    known = contract.load(params["data"]["schema"])
    frame = contract.read(path or prepare.TEST, known)
    return frame.drop(columns=[params["data"]["target"]])


def files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} if folder.is_dir() else set()


def test_chunked_equals_one_piece_and_the_pipeline(project, monkeypatch):
    params = set_params(project, chunk_rows=7)
    record = make_champion(params)
    held_out = inputs(params)
    held_out.to_csv("held_out.csv", index=False)
    held_out.to_parquet("held_out.parquet", index=False)

    summary_file = project / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary_file))
    chunked = run_cli("score", "held_out.csv", "--out", "out/chunked.parquet")
    monkeypatch.delenv("GITHUB_STEP_SUMMARY")
    assert chunked.returncode == 0, chunked.stderr
    whole = run_cli("score", "held_out.parquet", "--out", "out/whole.csv", "--chunk-rows", "1000000", "--no-capture")
    assert whole.returncode == 0, whole.stderr
    a, b = pd.read_parquet("out/chunked.parquet"), pd.read_csv("out/whole.csv")
    assert len(a) == len(held_out) and a["row"].tolist() == list(range(len(held_out)))
    assert (a["model_version"] == 4).all() and (a["model_sha256"] == record["model_sha256"]).all()

    # Chunked (CSV in, 7 rows at a time) equals one piece (Parquet in, CSV out), and both the pipeline.
    model = joblib.load(paths.CHAMPION_MODEL)
    if params["task"] == "classification":
        assert a["prediction"].tolist() == b["prediction"].astype(str).tolist()
        assert a["prediction"].tolist() == [str(v) for v in model.predict(held_out)]
        expected = model.predict_proba(held_out)
        for i, label in enumerate(model.classes_):
            column = f"probability_{label}"
            np.testing.assert_allclose(a[column], b[column], atol=1e-9)
            np.testing.assert_allclose(a[column], expected[:, i], atol=1e-5)
    else:
        np.testing.assert_allclose(a["prediction"], b["prediction"], rtol=1e-9)
        np.testing.assert_allclose(a["prediction"], model.predict(held_out), rtol=1e-5, atol=1e-5)

    # What a job summary and the monitor see: counts, the model, the mix; one capture record per row.
    summary = json.loads(Path("out/chunked.summary.json").read_text())
    assert (summary["rows"], summary["scored"], summary["rejected"]) == (len(held_out), len(held_out), 0)
    assert summary["model"]["version"] == 4 and summary["training_mix"]
    text = summary_file.read_text()
    assert f"| Scored | {len(held_out)} |" in text and "v4" in text and "Prediction mix" in text
    (capture_file,) = [Path("capture") / name for name in files(Path("capture"))]
    assert capture_file.name.startswith("predictions-") and capture_file.suffix == ".jsonl"
    captured = [json.loads(line) for line in capture_file.read_text().splitlines()]
    assert len(captured) == len(held_out) and set(captured[0]) == CAPTURE_KEYS
    assert {c["source"] for c in captured} == {"batch"} and {c["model_version"] for c in captured} == {"4"}
    assert [c["record_id"] for c in captured[:2]] == [f"{summary['request_id']}-0", f"{summary['request_id']}-1"]
    assert set(captured[0]["inputs"]) == set(held_out.columns) and captured[0]["time"].endswith("Z")
    assert [c["prediction"] for c in captured] == a["prediction"].tolist()
    assert files(Path("out")) == {"chunked.parquet", "chunked.rejects.csv", "chunked.summary.json",
                                  "whole.csv", "whole.rejects.csv", "whole.summary.json"}  # no temporary left

    # A file far larger than a chunk, with its own row ids: every row, in order, once.
    big = pd.concat([held_out] * (2000 // len(held_out) + 1), ignore_index=True).head(2000)
    big.insert(0, "key", [f"id-{i}" for i in range(len(big))])
    big.to_csv("big.csv", index=False)
    set_params(project, id_column="key", chunk_rows=64)
    large = run_cli("score", "big.csv", "--out", "out/big.parquet", "--no-capture")
    assert large.returncode == 0, large.stderr
    scored = pd.read_parquet("out/big.parquet")
    assert scored["key"].tolist() == big["key"].tolist()
    assert scored["prediction"].tolist()[: len(held_out)] == a["prediction"].tolist()

    # Killed midway with --resume, then rerun: the chunks finished before the kill are kept, the rest are
    # scored, and the output is the uninterrupted run's; nothing appeared before, no work folder stays after.
    argv = ["score", "big.csv", "--out", "out/resumed.parquet", "--no-capture", "--resume", "--chunk-rows", "16"]
    work = Path("out/.resumed.parquet.work")
    killed = subprocess.Popen([sys.executable, "-m", "{{ cookiecutter.package_name }}", *argv],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        while len(list(work.glob("*.done.json"))) < 2:
            assert killed.poll() is None, f"the run ended before it could be interrupted: {killed.stderr.read()}"
            time.sleep(0.002)
    finally:
        killed.kill()
        killed.wait()
    assert not Path("out/resumed.parquet").exists()
    resumed = run_cli(*argv)
    assert resumed.returncode == 0 and "kept from an interrupted run" in resumed.stdout, resumed.stderr
    straight = run_cli("score", "big.csv", "--out", "out/straight.parquet", "--no-capture", "--chunk-rows", "16")
    assert straight.returncode == 0, straight.stderr
    assert pd.read_parquet("out/resumed.parquet").equals(pd.read_parquet("out/straight.parquet")) and not work.exists()
    assert pd.read_parquet("out/resumed.parquet")["key"].tolist() == big["key"].tolist()


def test_bad_rows_are_rejected_and_bad_files_stop_before_anything_is_written(project):
    params = set_params(project)
    make_champion(params)
    frame = inputs(params)
    column = (numeric_features(params) or [None])[0]
    assert column is not None, "the demo data and the own-data sets all have a numeric column"
    declare("schema.yaml", column, "less_than_or_equal_to: 1.0e+12")  # a rule the user declared
    frame[column] = frame[column].astype(object)
    frame.loc[1, column] = "not a number"
    frame.loc[4, column] = np.inf
    frame.loc[5, column] = 1e13
    frame.to_csv("bad_rows.csv", index=False)

    done = run_cli("score", "bad_rows.csv", "--out", "out/p.parquet")
    assert done.returncode == 0, done.stderr
    assert "3 rejected" in done.stdout
    rejects = pd.read_csv("out/p.rejects.csv")
    assert rejects["row"].tolist() == [1, 4, 5] and rejects["line"].tolist() == [3, 6, 7]
    reasons = rejects["reasons"].tolist()
    assert reasons[:2] == [f"{column}: coerce_dtype('{contract.load('schema.yaml').dtype(column)}') ('not a number')",
                           f"{column}: finite ('inf')"]
    # Every rule the row breaks is named: the declared one, and any range the user's contract already had.
    assert f"{column}: less_than_or_equal_to(1000000000000.0) (10000000000000.0)" in reasons[2].split("; ")
    scored = pd.read_parquet("out/p.parquet")
    assert len(scored) == len(frame) - 3 and not {1, 4, 5} & set(scored["row"])
    before = {name: Path("out", name).read_bytes() for name in files(Path("out"))}
    capture_before = files(Path("capture"))

    good = inputs(params)
    missing, extra = good.columns[0], "surprise"
    good.drop(columns=[missing]).to_csv("missing.csv", index=False)
    good.assign(**{extra: 1}).to_csv("extra.csv", index=False)
    text = good.to_csv(index=False).splitlines()
    ragged = "\n".join([*text, *text[1:], text[1] + ",1,2", *text[1:]]) + "\n"  # a broken line past chunk 1
    Path("ragged.csv").write_text(ragged)
    broken = f"not a readable CSV: line {2 * len(good) + 2} has {len(good.columns) + 2} fields"  # named, past chunk 1
    for name, needle in (("missing.csv", f"'{missing}' missing"), ("extra.csv", f"'{extra}' not in the data contract"),
                         ("ragged.csv", broken)):
        failed = run_cli("score", name, "--out", "out/p.parquet", "--chunk-rows", "5")
        assert failed.returncode == 2, (name, failed.stdout)
        assert needle in failed.stderr and "nothing was written" in failed.stderr, failed.stderr
    # The earlier run's outputs are untouched; no temporary file or capture record of the failed runs.
    assert {name: Path("out", name).read_bytes() for name in files(Path("out"))} == before
    assert files(Path("capture")) == capture_before


def test_champion_bytes_must_match_champion_json(project):
    params = set_params(project)
    make_champion(params)
    inputs(params).to_csv("batch.csv", index=False)
    with open(paths.CHAMPION_MODEL, "ab") as model:
        model.write(b"\0")  # one byte more than the recorded model
    refused = run_cli("score", "batch.csv", "--out", "out/p.parquet")
    assert refused.returncode == 2 and "differs from champion.json" in refused.stderr, refused.stderr
    assert not Path("out").exists() and not Path("capture").exists()

    # The candidate can be scored on purpose; it has no version yet.
    candidate = run_cli("score", "batch.csv", "--out", "out/p.parquet", "--model", "candidate", "--no-capture")
    assert candidate.returncode == 0, candidate.stderr
    scored = pd.read_parquet("out/p.parquet")
    assert scored["model_version"].isna().all()
    assert (scored["model_sha256"] == champion.sha256_file(train.MODEL)).all()


def test_score_plan_skips_without_a_champion(project, tmp_path, monkeypatch):
    set_params(project)
    outputs, summary = tmp_path / "outputs", tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = run_cli("score-plan", "--input", "")
    assert result.returncode == 0 and "No champion yet" in result.stdout
    assert "ready=false" in outputs.read_text().splitlines() and "No champion yet" in summary.read_text()
    champion.write({"model_name": "m", "version": 1, "model_sha256": "0" * 64})
    assert run_cli("score-plan", "--input", "x.csv").returncode == 0
    assert outputs.read_text().splitlines()[-2:] == ["ready=true", "input=x.csv"]
    # batch.yml's plan job installs only the runtime dependencies: no pandas, no scikit-learn.
    probe = ("import sys; from {{ cookiecutter.package_name }}.cli import main; code = main(['score-plan']); "
             "sys.exit(code or ' '.join(sorted({'pandas', 'sklearn', 'pyarrow'} & set(sys.modules))) or None)")
    light = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert light.returncode == 0, light.stderr


def test_publish_pushes_predictions_to_the_remote(project, tmp_path, monkeypatch):
    """With a DVC remote, the folder is pushed and its .dvc file names it (without one, batch.yml uploads the
    folder as an artifact: tests/test_workflows.py of the template runs that)."""
    outputs = tmp_path / "outputs"
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    Path("predictions/capture").mkdir(parents=True)
    Path("predictions/predictions.summary.json").write_text("{}\n")
    Path("predictions/capture/records.jsonl").write_text('{"source": "batch"}\n')
    store = tmp_path / "remote"
    assert remote.dvc("remote", "add", "--default", "store", str(store)).returncode == 0
    pushed = run_cli("publish-predictions", "predictions")
    assert pushed.returncode == 0, pushed.stderr
    assert outputs.read_text().splitlines() == ["pushed=true", "pointer=predictions.dvc"]
    pointer = yaml.safe_load(Path("predictions.dvc").read_text())["outs"][0]
    assert pointer["path"] == "predictions" and pointer["nfiles"] == 2
    assert len([p for p in store.rglob("*") if p.is_file()]) == 3  # the two files and the folder's listing

    # An input that DVC tracks and this clone lacks (a fresh CI checkout) is pulled from the remote to be scored;
    # one that nothing tracks is named as missing.
    Path("incoming").mkdir()
    Path("incoming/new.csv").write_text("a,b\n1,2\n")
    assert remote.dvc("add", "incoming/new.csv").returncode == 0
    assert remote.dvc("push", "incoming/new.csv.dvc").returncode == 0
    Path("incoming/new.csv").unlink()
    shutil.rmtree(".dvc/cache")
    assert batch.locate("incoming/new.csv").read_text() == "a,b\n1,2\n"
    with pytest.raises(PipelineError, match="file not found"):
        batch.locate("incoming/other.csv")
