"""Do the served ONNX model's predictions equal the scikit-learn pipeline's on the held-out split?

Run by run.py in a subprocess, from a generated project's root (its src/ on PYTHONPATH):

    python <template>/benchmarks/agreement.py PACKAGE champion   # build/model, as `export` wrote it
    python <template>/benchmarks/agreement.py PACKAGE train      # train and export here first (no registry)

`train` is for the regression champion: the same pipeline code (`prepare`, `train.build_pipeline` with
params.yaml, `export.write`) without MLflow, so the benchmark needs one pipeline run, not two.
Prints one JSON object: rows, identical predictions (labels, or values bit for bit), values within
the tolerance export verifies, and the largest difference.
"""

from __future__ import annotations

import importlib
import json
import sys


def main(package: str, mode: str) -> dict:
    config, contract, paths, export, prepare, serve, train = (importlib.import_module(f"{package}.{name}") for name in (
        "config", "contract", "paths", "serving.export", "stages.prepare", "serving.serve", "stages.train"))
    params = config.load_params(paths.PARAMS)
    out = paths.MODEL_DIR
    if mode == "train":
        prepare.run(params)
        X, y = train.read_split(paths.TRAIN, params)
        model = train.build_pipeline(params, X).fit(X, y)
        columns = contract.input_schema(params, list(X.columns))
        metadata = {"model_name": params["mlflow"]["model_name"], "version": 1, "task": params["task"],
                    "target": params["data"]["target"]}
        export.write(out, model, metadata, columns, export.held_out_split(params, columns))
    served, metadata, columns = serve.load_model_dir(out)
    pipeline = importlib.import_module("joblib").load(out / paths.MODEL_FILE)
    frame = export.held_out_split(params, columns)
    records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    ours, probabilities = served.score(records)
    theirs = pipeline.predict(frame).tolist()
    tolerance = metadata["conversion"].get("tolerance", 0.0)
    if probabilities is not None:  # classification: labels must be identical; probabilities are compared too
        diffs = abs(probabilities - pipeline.predict_proba(frame)).max(axis=1).tolist()
        scale = [1.0] * len(diffs)
    else:
        diffs = [abs(a - b) for a, b in zip(ours, theirs, strict=True)]
        scale = [max(1.0, abs(b)) for b in theirs]
    return {
        "task": params["task"], "runtime": metadata["runtime"], "family": params["model"]["family"],
        "rows": len(records), "identical": sum(a == b for a, b in zip(ours, theirs, strict=True)),
        "within_tolerance": sum(d <= tolerance * s for d, s in zip(diffs, scale, strict=True)),
        "max_abs_diff": max(diffs), "tolerance": tolerance,
    }


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:3])))
