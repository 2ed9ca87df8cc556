"""Benchmark harness: `make bench` (the full run; writes benchmarks/RESULTS.md) or, for CI's smoke test,
`python -m benchmarks.run --smoke` (tiny sizes, no Docker, no waiting).

Order matters on a 2-core machine: the pipeline first (it trains the champion the rest uses), then the
in-process hot-path profile, serving, the image and drift at scale, one at a time so that no
measurement shares the CPU with another.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

from . import batch_scale, deploy, drift_scale, image, monitor_scale, observability, project, report, serving

HERE = Path(__file__).resolve().parent
REGRESSION = {"mlops_level": "0", "task": "regression", "project_name": "Bench Regression"}
ANALYSIS_MARK = "<!-- analysis: written by hand; `make bench` keeps everything below this line -->"
PRESETS = {
    # workers: one per core. connections: 4 per worker saturates both servers without piling up a queue.
    "full": {"workers": 2, "connections": 8, "seconds": 20.0, "warmup": 3.0, "drift_rows": [100_000, 1_000_000],
             "monitor_records": 1_000_000,
             "cold_starts": 3, "repeats": 50, "suite_args": [], "image": True, "uncompiled": True,
             "batch_rows": 1_000_000,
             "captured_requests": 100_000, "rounds": 3},
    # Drift above 1,000 rows: below that Evidently switches to other tests (KS, chi-squared) than at scale.
    "smoke": {"workers": 1, "connections": 2, "seconds": 1.0, "warmup": 0.3, "drift_rows": [2_000, 3_000],
              "monitor_records": 5_000,
              "cold_starts": 1, "repeats": 3, "suite_args": ["tests/test_comment.py"], "image": False,
              "uncompiled": False, "batch_rows": 2_000,
              "captured_requests": 2_000},
}


def wait_for_quiet(threshold: float, max_wait: float, poll: float = 60) -> list[float]:
    """Other jobs on the machine distort every number: wait (bounded) for the 1-minute load to fall."""
    samples = [os.getloadavg()[0]]
    deadline = time.monotonic() + max_wait
    while samples[-1] >= threshold and time.monotonic() < deadline:
        print(f"bench: 1-minute load {samples[-1]:.2f} >= {threshold}; waiting {poll:.0f} s", file=sys.stderr)
        time.sleep(poll)
        samples.append(os.getloadavg()[0])
    return samples


def hot_path(clone: Path, package: str, repeats: int) -> dict:
    result = subprocess.run([sys.executable, str(HERE / "hotpath.py"), package, "demo-model", "diagnosis",
                             str(repeats)], cwd=clone, env=project.env_for(clone), capture_output=True, text=True,
                            timeout=1800)
    if result.returncode != 0:
        raise RuntimeError(f"hotpath.py exited {result.returncode}:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def agreement(clone: Path, package: str, workdir: Path) -> dict:
    """Served (ONNX) vs the scikit-learn pipeline on the held-out split: the pipeline's champion, and a
    regression champion trained and exported from a second generated project (agreement.py)."""
    regression = project.generate(workdir / "render-regression", REGRESSION)
    results = {}
    for directory, pkg, mode in ((clone, package, "champion"),
                                 (regression, regression.name.replace("-", "_"), "train")):
        result = subprocess.run([sys.executable, str(HERE / "agreement.py"), pkg, mode], cwd=directory,
                                env=project.env_for(directory), capture_output=True, text=True, timeout=1800)
        if result.returncode != 0:
            raise RuntimeError(f"agreement.py ({mode}) exited {result.returncode}:\n{result.stderr[-3000:]}")
        answer = json.loads(result.stdout.strip().splitlines()[-1])
        results[answer["task"]] = answer
    return results


# What every other part needs: a project, its pipeline run and an exported champion.
ALWAYS = {"generate", "pipeline", "champion"}
SECTIONS = ["hotpath", "agreement", "serving", "image", "observability", "drift", "monitor", "deploy", "batch"]


def run_all(config: dict, workdir: Path) -> dict:
    results: dict = {"config": config, "errors": {}, "skipped": {}, "sections": {}}

    def section(name: str, fn, keep: bool = True):
        """Run one part, timed, with the load average at its start; a failure is recorded, not raised."""
        if config.get("only") and name not in config["only"] | ALWAYS:
            results["skipped"][name] = "not selected (--only)"
            return None
        started, load = time.perf_counter(), os.getloadavg()[0]
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        try:
            value = fn()
        except Exception as exc:  # one broken section must not hide the others' numbers
            results["errors"][name] = "".join(traceback.format_exception_only(exc)).strip()[-3000:]
            results["skipped"][name] = f"failed: {str(exc).splitlines()[0][:120]}"
            print(traceback.format_exc(), file=sys.stderr)
            return None
        results["sections"][name] = {"seconds": time.perf_counter() - started, "load_at_start": load}
        if keep:
            results[name] = value
        return value

    generated = section("generate", lambda: project.generate(workdir / "render"), keep=False)
    if generated is None:
        return results
    package = generated.name.replace("-", "_")
    clone = workdir / "clone"
    timings = section("pipeline", lambda: project.pipeline(generated, clone, config["suite_args"],
                                                                 config["uncompiled"]))
    if timings is None or section("champion", lambda: project.champion(clone, package) or True, keep=False) is None:
        return results  # nothing to serve
    section("hotpath", lambda: hot_path(clone, package, config["repeats"]))
    section("agreement", lambda: agreement(clone, package, workdir))
    section("serving", lambda: serving.measure(
        clone, package, "demo-model", "diagnosis", workdir, workers=config["workers"],
        connections=config["connections"], seconds=config["seconds"], warmup=config["warmup"]))
    if config["image"]:
        # The capture/metrics rows (O) run against the same image, before it is removed.
        built = section("image", lambda: image.measure(
            clone, package, workdir, config["cold_starts"],
            observe=lambda tag: observability.measure_image(tag, clone, "diagnosis", config, "demo-model",
                                                                workdir / "observability")))
        observed = (built or {}).pop("observability", None)
        if "image" in results["skipped"] and not results["errors"].get("image"):
            results["skipped"]["observability"] = results["skipped"]["image"]
        elif observed and "error" not in observed:
            results["observability"] = observed
        else:
            results["skipped"]["observability"] = f"failed: {(observed or {}).get('error', 'no image')}"
            results["errors"]["observability"] = results["skipped"]["observability"]
    else:
        results["skipped"]["image"] = "skipped in the smoke run (Docker-free)"
        # The same measurements against the image's command on the host, so the code cannot rot.
        section("observability", lambda: observability.measure_host(clone, package, "diagnosis",
                                                                    workdir / "observability", config))
    section("drift", lambda: [drift_scale.measure(clone, package, rows) for rows in config["drift_rows"]])
    section("monitor", lambda: monitor_scale.measure(clone, package, workdir / "monitor", config["monitor_records"]))
    if config["image"]:
        section("deploy", lambda: deploy.measure(workdir))
    else:
        results["skipped"]["deploy"] = "skipped in the smoke run (Docker-free)"
    section("batch", lambda: batch_scale.measure(clone, package, config["batch_rows"], workdir / "batch",
                                                 project.env_for(clone)))
    return results


def _hot_path_table(hot: dict) -> str:
    labels = {
        "validate": "pydantic: parse + validate the JSON body",
        "records_to_dump": "records → dicts (`model_dump(by_alias=True)`)",
        "frame": "scikit-learn fallback: dicts → DataFrame (cast only columns whose dtype differs)",
        "predict_proba": "scikit-learn fallback: `predict_proba` of the exported Pipeline",
        "onnx_feed": "ONNX: dicts → one numpy array per column",
        "onnx_run": "ONNX: `InferenceSession.run` (the whole converted Pipeline)",
        "app_total": "**ours, whole app, ONNX** (ASGI call: middleware, validation, model, response)",
        "app_total_sklearn": "ours, whole app, scikit-learn fallback",
        "mlflow_predict": "MLflow pyfunc `predict` (schema enforcement + `model.predict`)",
        "mlflow_total": "**MLflow, whole scoring function** (`scoring_server.invocations`)",
    }
    lines = ["| step | 1 record | 100 records |", "|---|---|---|"]
    for key, label in labels.items():
        lines.append(f"| {label} | {report.num(hot['single'][key], 2)} | {report.num(hot['batch'][key], 2)} |")
    return "\n".join(lines)


def document(results: dict, started: datetime, seconds: float, loads: dict, smoke: bool) -> str:
    m, c = report.machine(), results["config"]
    out = [
        "# Benchmark results" + (" (smoke run: tiny sizes, numbers meaningless)" if smoke else ""),
        "",
        f"{'Smoke' if smoke else 'Full'} run started {started:%Y-%m-%d %H:%M} UTC with "
        f"`{'python -m benchmarks.run --smoke' if smoke else 'make bench'}`; took {seconds / 60:.1f} min.",
        "",
        f"**Machine:** {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB RAM; {m['os']}, kernel {m['kernel']}; "
        f"Python {m['python']}; Docker engine {m['docker']}. {m['packages']}.",
        "",
        "**Load average (1 min)** before waiting for a quiet machine: "
        f"{loads['before'][0]:.2f} (5 min {loads['before'][1]:.2f}); at the start: {loads['start']:.2f} "
        f"(waited {loads['waited_s'] / 60:.0f} min); at each section's start (includes this run's own load): "
        + ", ".join(f"{k} {v['load_at_start']:.2f}" for k, v in results["sections"].items())
        + f"; at the end: {loads['end']:.2f}.",
        "",
        report.table(results),
        "",
    ]
    missed = report.missed(results)
    out += [f"**Goals missed:** {', '.join(missed) if missed else 'none'}"
            + (" (why, and what would close each: see the analysis below)." if missed else "."), ""]
    out += [
        "**How it was measured.**",
        f"- Serving (S): the champion exported by the pipeline, served by ours (`uvicorn --factory "
        f"<pkg>.serving.serve:from_env`, the image's command, with the runtime export chose: "
        f"{results.get('agreement', {}).get('classification', {}).get('runtime', '?')}) and by "
        f"`mlflow models serve --env-manager local` from the registry's version `champion.json` names, "
        f"each with {c['workers']} worker(s), one server at a time. Load from "
        f"`benchmarks/loadgen.py` on 127.0.0.1 (asyncio, keep-alive): max load = {c['connections']} connections "
        f"back to back for {c['seconds']:g} s after {c['warmup']:g} s warm-up; half load = open loop at 50% of "
        "that server's own max requests/s, latency counted from each request's scheduled start. Ratio = ours / "
        "MLflow. Errors = non-200 answers, timeouts and connection failures. S13/S14: our served model "
        "(in process, `serving/runtimes.py`, as the app scores) against the scikit-learn pipeline's `predict` on the "
        "held-out split: the pipeline's classification champion, and a regression champion trained by the "
        "same code from a second generated project (`benchmarks/agreement.py`; no registry).",
        "- Image (I): built like tests/test_docker.py (debootstrapped bookworm base, host wheelhouse of the "
        "project and build/model/requirements.txt, the runtime export chose). Image minus base = `docker image "
        "inspect` size of the image minus the base's. I1's goal is half the scikit-learn dependency floor measured "
        "when the goal was set (275 MB). Floor = apparent size of site-packages in a fresh venv (without pip) after "
        "`pip install` of the project wheel and a runtime's requirements from a wheelhouse: I4 gives it for the "
        "image's own set and, as baseline, for the scikit-learn runtime at this run's versions. Cold start = "
        "`docker run` until GET /health answers 200 (polled every 20 ms), a new container each time.",
        "- Observability (O): prediction capture and /metrics on (the defaults) against off (`CAPTURE_ENABLED=0 "
        "METRICS_ENABLED=0`), the same image or command switched by environment only, run by "
        f"`benchmarks/observability.py` with the S rows' workers, loads and durations; O5 keeps loading until "
        f"{c['captured_requests']:,} requests were captured; O6 runs the other event loop and HTTP parser (the "
        "host venv's uvloop and httptools mounted into the image, or `UVICORN_LOOP=asyncio UVICORN_HTTP=h11`).",
        f"- Pipeline (P): {project.DEFINITIONS}",
        "  Generated test suite: `pytest -q` in the clone"
        + (f" (smoke: only {' '.join(c['suite_args'])})." if c["suite_args"] else "."),
        "- Drift (D): seeded synthetic data (`benchmarks/drift_scale.py`: 20 numeric columns of three shapes, "
        "5 categorical; 5 columns shifted well past Evidently's thresholds), reference and current of equal size. "
        "Ours = the drift stage's `_cap` (drift.sample_cap rows per side) then `detect`; baseline = `detect` on "
        "all rows, i.e. Evidently's `DataDriftPreset` on the full data. Time excludes data generation; peak "
        "memory is the subprocess's ru_maxrss, which includes imports and the frames; the same process's peak "
        "just before detection started was "
        + ", ".join(f"{d['before_mb']:,.0f} MB at {d['rows']:,} rows" for d in results.get("drift", []))
        + " (so a peak equal to it means detection added nothing above holding the data).",
        "- Batch (B): `benchmarks/batch_scale.py`. The file: the demo data's rows resampled (seeded) with a 1% "
        "jitter, input columns only, as CSV. Ours = `python -m <pkg> score FILE --no-capture` (the champion "
        "champion.json names, in the runtime export chose, 100,000 rows a chunk; the export is made before, as "
        "`score` reuses one of the same bytes); baseline = `mlflow models predict -m models:/<name>/<version> "
        "-t csv --env-manager local` on the registered version champion.json names. Each command's time is its "
        "wall time as a child process, start-up included; peak memory is that child's ru_maxrss. B4 is ours with "
        "a capture record per row. B5: `score --chunk-rows 16` on the held-out split against the champion's "
        "scikit-learn pipeline in one piece.",
        "",
    ]
    if "pipeline" in results:
        stages = results["pipeline"]["warm"]["stages"]
        cold = results["pipeline"]["cold"]["stages"]
        out += ["**Pipeline per stage (s; a stage runs until the next one starts, so DVC's own work is included):**",
                "", "| stage | " + " | ".join(stages) + " |", "|---|" + "---|" * len(stages),
                "| cold | " + " | ".join(report.num(cold.get(k)) for k in stages) + " |",
                "| warm | " + " | ".join(report.num(v) for v in stages.values()) + " |"]
        if "uncompiled" in results["pipeline"]:
            slow = results["pipeline"]["uncompiled"]["stages"]
            out += ["| warm, uncompiled | " + " | ".join(report.num(slow.get(k)) for k in stages) + " |"]
        out += [""]
    if "hotpath" in results:
        out += [f"**Hot path, in process** (ms per request, median of {c['repeats']}; no HTTP, no concurrency):",
                "", _hot_path_table(results["hotpath"]), ""]
    if "serving" in results:
        cpu = max(r[p][k]["client_cpu_share"] for r in (results["serving"]["ours"], results["serving"]["mlflow"])
                  for p in ("single", "batch") for k in ("max", "half"))
        out += [f"The load generator used at most {cpu:.0%} of one core during any serving run.", ""]
    if results["errors"]:
        out += ["**Errors:**", ""] + [f"- {k}: `{v.splitlines()[-1]}`" for k, v in results["errors"].items()] + [""]
    return "\n".join(out)


def write(path: Path, generated: str) -> None:
    """Replace the generated part of the results file; keep the hand-written analysis below the mark."""
    analysis = ""
    if path.exists() and ANALYSIS_MARK in path.read_text():
        analysis = path.read_text().split(ANALYSIS_MARK, 1)[1]
    path.write_text(generated + "\n" + ANALYSIS_MARK + (analysis or "\n"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes and durations, no Docker, no waiting")
    parser.add_argument("--out", type=Path, help="results file to write (the full run: benchmarks/RESULTS.md)")
    parser.add_argument("--workdir", type=Path, default=HERE.parent / "build" / "bench",
                        help="scratch directory, emptied first (default: build/bench)")
    parser.add_argument("--no-image", action="store_true", help="skip the Docker image section")
    parser.add_argument("--quiet-load", type=float, default=0.8, help="wait until the 1-minute load is below this")
    parser.add_argument("--max-wait", type=float, default=1500, help="seconds to wait for that at most (0: no wait)")
    parser.add_argument("--json", type=Path, help="also write the raw results as JSON here")
    parser.add_argument("--only", type=lambda s: set(s.split(",")), default=set(),
                        help=f"run only these parts (comma-separated, of {','.join(SECTIONS)}; image includes the "
                             "O rows), to re-measure a few rows")
    args = parser.parse_args(argv)

    config = dict(PRESETS["smoke" if args.smoke else "full"])
    if args.only - set(SECTIONS):
        parser.error(f"--only: unknown part(s) {', '.join(sorted(args.only - set(SECTIONS)))}")
    if args.only and args.out and args.out.resolve() == (HERE / "RESULTS.md").resolve():
        parser.error("--only measures a few rows: it never overwrites RESULTS.md (copy its rows in by hand)")
    config["only"] = args.only
    if args.only:  # the P rows are not what --only re-measures: a short pipeline run that leaves a champion
        config.update(uncompiled=False, suite_args=PRESETS["smoke"]["suite_args"])
    if args.no_image:
        config["image"] = False
    before = os.getloadavg()
    waited = time.monotonic()
    if not args.smoke and args.max_wait > 0:
        wait_for_quiet(args.quiet_load, args.max_wait)
    loads = {"before": before, "waited_s": time.monotonic() - waited, "start": os.getloadavg()[0]}
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    started, clock = datetime.now(timezone.utc), time.perf_counter()  # noqa: UP017 (keep 3.10-compatible)
    results = run_all(config, args.workdir)
    loads["end"] = os.getloadavg()[0]
    text = document(results, started, time.perf_counter() - clock, loads, args.smoke)
    print(text)
    if args.out:
        write(args.out, text)
    if args.json:
        args.json.write_text(json.dumps({k: v for k, v in results.items()}, indent=2, default=str))
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
