"""The results as one Markdown table (every row, with goals), plus the machine it ran on.

Rows have stable IDs (S = serving, I = image, P = pipeline, D = drift, W = deploy, B = batch scoring,
M = monitoring) so the smoke test can check that every row is there and the notes can point at one.
"""

from __future__ import annotations

import math
import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version

ROW_IDS = [f"S{i}" for i in range(1, 15)] + ["I1", "I2", "I3", "I4"] + [f"O{i}" for i in range(1, 7)] + \
    [f"P{i}" for i in range(1, 6)] + [f"D{i}" for i in range(1, 7)] + ["W1", "W2", "W3"] + \
    [f"B{i}" for i in range(1, 6)] + ["M1", "M2"]
HEADER = ["Row", "Area", "Measure", "Ours", "Baseline", "Ratio", "Goal", "Met"]
PACKAGES = ("scikit-learn", "pandas", "numpy", "mlflow", "evidently", "dvc", "fastapi", "uvicorn", "pydantic",
            "onnxruntime", "skl2onnx")
# The scikit-learn image's dependency floor when issue 14 set the image goal (RESULTS.md, 2026-11-23):
# the I1 goal is half of it. Each run also measures the floor afresh (I4).
SKLEARN_FLOOR_MB = 275.0


def num(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}"


def ratio(ours: float | None, baseline: float | None) -> float | None:
    return ours / baseline if ours is not None and baseline else None


def mb(n: int | float) -> float:
    return n / 1e6


# Issue 14's goals on the ratio ours / MLflow: payload -> {row offset: (goal text, test)}
GOALS = {
    "single": {0: ("≥ 10×", lambda r: r >= 10), 2: ("≤ 0.1×", lambda r: r <= 0.1),
               4: ("≤ 0.33×", lambda r: r <= 1 / 3)},
    "batch": {0: ("≥ 5×", lambda r: r >= 5)},
}


def _serving_rows(s: dict) -> list[list]:
    rows = []
    for index, (payload, label) in enumerate((("single", "1 record"), ("batch", "100 records"))):
        ours, ml = s["ours"][payload], s["mlflow"][payload]
        base = 1 + 5 * index
        ratios = [ratio(ours["max"]["rps"], ml["max"]["rps"]), ratio(ours["max"]["p50_ms"], ml["max"]["p50_ms"]),
                  ratio(ours["max"]["p99_ms"], ml["max"]["p99_ms"]), None,
                  ratio(ours["half"]["p99_ms"], ml["half"]["p99_ms"])]
        goals = [(GOALS[payload][i][0], ratios[i] is not None and GOALS[payload][i][1](ratios[i]))
                 if i in GOALS[payload] else None for i in range(5)]
        rows += [
            [f"S{base}", f"{label}: requests/s at max load", num(ours["max"]["rps"]), num(ml["max"]["rps"]),
             ratios[0], goals[0]],
            [f"S{base + 1}", f"{label}: p50 latency at max load (ms)", num(ours["max"]["p50_ms"]),
             num(ml["max"]["p50_ms"]), ratios[1], goals[1]],
            [f"S{base + 2}", f"{label}: p99 latency at max load (ms)", num(ours["max"]["p99_ms"]),
             num(ml["max"]["p99_ms"]), ratios[2], goals[2]],
            [f"S{base + 3}", f"{label}: errors (max load + half load)",
             str(ours["max"]["errors"] + ours["half"]["errors"]), str(ml["max"]["errors"] + ml["half"]["errors"]),
             None, None],
            [f"S{base + 4}", f"{label}: p99 latency at 50% of own max (ms; rate in requests/s)",
             f"{num(ours['half']['p99_ms'])} @ {num(ours['half']['target_rps'])}",
             f"{num(ml['half']['p99_ms'])} @ {num(ml['half']['target_rps'])}", ratios[4], goals[4]],
        ]
    agreed = f"{s['rows'] - s['disagreements']}/{s['rows']} identical"
    rows += [
        ["S11", "predictions on the held-out split, ours vs MLflow", agreed, agreed, None, ("all agree", s["agree"])],
        ["S12", "start-up: process start to healthy /health (s)", num(s["ours"]["startup_s"]),
         num(s["mlflow"]["startup_s"]), ratio(s["ours"]["startup_s"], s["mlflow"]["startup_s"]), None],
    ]
    return [["Serving", *row] for row in rows]


def _agreement_rows(a: dict) -> list[list]:
    """S13/S14: what we serve (ONNX) against the scikit-learn pipeline itself, one champion per task."""
    rows = []
    for row_id, task in (("S13", "classification"), ("S14", "regression")):
        r = a[task]
        if task == "classification":
            ours = f"{r['identical']}/{r['rows']} identical labels (probabilities: max diff {r['max_abs_diff']:.1e})"
            met = r["identical"] == r["rows"] and r["within_tolerance"] == r["rows"]
            goal = "all identical"
        else:
            ours = (f"{r['within_tolerance']}/{r['rows']} within {r['tolerance']:g} relative "
                    f"({r['identical']}/{r['rows']} bit-identical; max diff {r['max_abs_diff']:.1e})")
            met = r["within_tolerance"] == r["rows"]
            goal = "all within tolerance"
        rows.append([row_id, f"predictions on the held-out split, {r['runtime']} vs the scikit-learn pipeline: "
                     f"{task} champion ({r['family']})", ours, f"{r['rows']} rows", None, (goal, met)])
    return [["Serving", *row] for row in rows]


def _image_rows(i: dict) -> list[list]:
    above, floor, sklearn = mb(i["above_base_bytes"]), mb(i["floor_bytes"]), mb(i["sklearn_floor_bytes"])
    r = ratio(above, SKLEARN_FLOOR_MB)
    own = ratio(above, floor)
    starts = ", ".join(num(t, 2) for t in i["cold_start_s"])
    return [["Image", *row] for row in (
        ["I1", f"image minus base layer (MB; {i['runtime']} runtime) vs the scikit-learn dependency floor of "
               f"2026-11-23", num(above), num(SKLEARN_FLOOR_MB), r, ("≤ 0.5×", r is not None and r <= 0.5)],
        ["I2", "of which: venv / model (MB)", f"{num(mb(i['venv_bytes']))} / {num(mb(i['model_bytes']))}",
         "", None, None],
        ["I3", f"cold start: `docker run` to healthy /health (s, median of {starts})",
         num(i["cold_start_median_s"], 2), "", None, ("≤ 1 s", i["cold_start_median_s"] <= 1)],
        ["I4", "image minus base vs its own installed runtime deps (MB; baseline: the scikit-learn floor now)",
         f"{num(above)} vs {num(floor)}", num(sklearn), own, ("≤ 1.15× own", own is not None and own <= 1.15)],
    )]


def _observability_rows(results: dict) -> list[list]:
    """O rows: capture + metrics on against off, the runtime choice, disk and memory (observability.py)."""
    o = results["observability"]
    on, off, other, memory = o["on"], o["off"], o["other_runtime"], o["memory"]
    where = o["where"]
    r_max = ratio(on["max"]["rps"], off["max"]["rps"])
    r_half = ratio(on["half"]["p99_ms"], off["half"]["p99_ms"])
    if "mlflow" in o:  # measured in the same run, between off and on
        mlflow, source = o["mlflow"]["max"]["rps"], f"same run, median of {o['rounds']}"
    else:  # the smoke run: S1's
        mlflow, source = results.get("serving", {}).get("mlflow", {}).get("single", {}).get("max", {}).get("rps"), \
            "S1's baseline, this run"
    rounds = f", median of {o['rounds']} interleaved runs" if o.get("rounds", 1) > 1 else ""
    r_mlflow = ratio(on["max"]["rps"], mlflow)
    growth = ratio(memory["rss_bytes"], memory["rss_half_bytes"])
    shipped = "uvloop + httptools" if o["fast_in_image"] else "asyncio + h11"
    unshipped = "asyncio + h11" if o["fast_in_image"] else "uvloop + httptools"
    r_runtime = ratio(other["max"]["rps"], on["max"]["rps"])
    size = f"; they add {num(mb(o['fast_bytes']))} MB" if o["fast_bytes"] else ""
    return [["Observability", *row] for row in (
        ["O1", f"1 record: requests/s at max load, capture + metrics on vs off ({where}{rounds})",
         num(on["max"]["rps"]), num(off["max"]["rps"]), r_max, ("≥ 0.9×", r_max is not None and r_max >= 0.9)],
        ["O2", "1 record: p99 at 50% of own max, on vs off (ms; rate in requests/s)",
         f"{num(on['half']['p99_ms'])} @ {num(on['half']['target_rps'])}",
         f"{num(off['half']['p99_ms'])} @ {num(off['half']['target_rps'])}", r_half, None],
        ["O3", f"1 record: requests/s with capture + metrics on vs MLflow's scoring server ({source})",
         num(on["max"]["rps"]), num(mlflow), r_mlflow, ("≥ 20×", r_mlflow is not None and r_mlflow >= 20)],
        ["O4", f"capture: bytes on disk per record (1-record requests; {int(memory['records']):,} records)",
         num(memory["bytes_per_record"], 0), "", None, None],
        ["O5", f"resident memory after {memory['requests']:,} captured requests vs after half of them "
               f"(MB, all processes; after a tenth: {num(mb(memory['rss_tenth_bytes']))})",
         num(mb(memory["rss_bytes"])), num(mb(memory["rss_half_bytes"])), growth,
         ("≤ 1.05× (bounded)", growth is not None and growth <= 1.05)],
        ["O6", f"runtime: the image runs {shipped}; {unshipped} instead, 1 record requests/s at max load, "
               f"capture + metrics on{size}", num(other["max"]["rps"]), num(on["max"]["rps"]), r_runtime, None],
    )]


def _pipeline_rows(p: dict) -> list[list]:
    suite = p["suite"]
    outcome = f"{suite.get('passed', 0)} passed" + (f", {suite['failed']} failed" if suite.get("failed") else "")
    cold, warm, noop = (p[run]["seconds"] for run in ("cold", "warm", "noop"))
    # The suite's goal is for the whole suite (the full run); the smoke run times one file of it.
    whole = not p.get("suite_args")
    return [["Pipeline", *row] for row in (
        ["P1", "demo pipeline, cold (`dvc repro` in a fresh clone) (s)", num(cold), "", None, ("< 40 s", cold < 40)],
        ["P2", "demo pipeline, warm (`dvc repro --force`, caches hot, bytecode compiled) (s)", num(warm), "", None,
         ("< 30 s", warm < 30)],
        ["P3", "no-op `dvc repro` (s)", num(noop), "", None, ("< 3 s", noop < 3)],
        ["P4", f"generated test suite (s; {outcome})", num(suite["seconds"]), "", None,
         ("passes, < 150 s" if whole else "passes",
          suite["returncode"] == 0 and (suite["seconds"] < 150 or not whole))],
        ["P5", "demo pipeline, warm as P2 but with no bytecode cache: every module compiled from source (s"
         + ("; skipped: full run only)" if "uncompiled" not in p else ")"),
         num(p.get("uncompiled", {}).get("seconds")), "", None, None],
    )]


def _drift_rows(small: dict, large: dict) -> list[list]:
    rows = []
    for index, d in enumerate((small, large)):
        base, big = 1 + 3 * index, index == 1
        size = f"{d['rows']:,} rows × {d['columns']}"
        t = ratio(d["ours"]["seconds"], d["full"]["seconds"])
        flagged = f"{len(d['ours']['flagged'])} flagged, {'=' if d['known_columns'] else '≠'} planted"
        rows += [
            [f"D{base}", f"{size}: time (s)", num(d["ours"]["seconds"]), num(d["full"]["seconds"]), t,
             ("< 20 s", d["ours"]["seconds"] < 20) if big else None],
            [f"D{base + 1}", f"{size}: peak memory, ru_maxrss (MB)", num(d["ours"]["peak_mb"], 0),
             num(d["full"]["peak_mb"], 0), ratio(d["ours"]["peak_mb"], d["full"]["peak_mb"]), None],
            [f"D{base + 2}", f"{size}: drifted columns ({len(d['shifted'])} planted)",
             flagged, f"{len(d['full']['flagged'])} flagged", None,
             ("same columns", d["same_columns"]) if big else None],
        ]
    return [["Drift", *row] for row in rows]


def _monitor_rows(m: dict) -> list[list]:
    size = f"{m['records']:,} captured records ({m['bytes'] / 1e6:,.0f} MB of JSON lines)"
    return [["Monitoring", "M1", f"{size}: collect + monitor (s); collect alone {m['collect_seconds']:.1f} s",
             num(m["seconds"]), "", None, ("< 30 s", m["seconds"] < 30)],
            ["Monitoring", "M2", f"{size}: peak memory, ru_maxrss (MB)", num(m["peak_mb"], 0), "", None,
             ("< 2,048 MB", m["peak_mb"] < 2048)]]


def _batch_rows(b: dict) -> list[list]:
    """B1-B5: `score` against `mlflow models predict` on one file of the demo's columns."""
    size = f"{b['rows']:,} rows ({b['file_mb']:,.0f} MB CSV)"
    ours, ml, capture, agree = b["ours"], b["mlflow"], b["ours_capture"], b["agreement"]
    speed = ratio(ml["seconds"], ours["seconds"])
    labels = "identical" if b["same_labels_as_mlflow"] else f"{b['disagreements']:,} differ"
    held = agree["labels_equal"] and agree["max_probability_gap"] <= 1e-5
    rows = [
        ["B1", f"{size}: time to score (s); ratio = MLflow / ours", num(ours["seconds"]), num(ml["seconds"]), speed,
         ("≥ 10× faster", speed is not None and speed >= 10)],
        ["B2", f"{size}: peak memory, ru_maxrss (MB)", num(ours["peak_mb"], 0), num(ml["peak_mb"], 0),
         ratio(ours["peak_mb"], ml["peak_mb"]), ("< 1,000 MB", ours["peak_mb"] < 1000)],
        ["B3", f"{size}: labels, ours vs MLflow's", labels, "", None, ("identical", b["same_labels_as_mlflow"])],
        ["B4", f"{size}: ours with a capture record per row: time (s), peak (MB)",
         f"{num(capture['seconds'])} s, {num(capture['peak_mb'], 0)} MB", "", None, None],
        ["B5", f"held-out split in chunks of 16 ({agree['runtime']}) vs the scikit-learn pipeline in one piece",
         f"{agree['rows']} rows: labels {'equal' if agree['labels_equal'] else '**differ**'}, probabilities max diff "
         f"{agree['max_probability_gap']:.1e}", "", None, ("labels equal, ≤ 1e-5", held)],
    ]
    return [["Batch", *row] for row in rows]


def _missing(area: str, ids: list[str], why: str) -> list[list]:
    return [[area, row_id, why, "", "", None, None] for row_id in ids]


def _deploy_rows(w: dict) -> list[list]:
    return [["Deploy", *row] for row in (
        ["W1", f"requests through the proxy during a rolling update of {w['replicas']} replicas: errors / sent",
         f"{w['upgrade_failed']} / {w['upgrade_requests']}", "", None, ("0 failed", w["upgrade_failed"] == 0)],
        ["W2", f"`docker stack deploy` to converged, {w['replicas']} replicas updated (s)",
         num(w["converged_s"]), "", None, None],
        ["W3", "a failing health check: `docker stack deploy` to Swarm's rollback complete, the old version "
               "serving alone (s)", num(w["rollback_s"]), "", None, ("< 60 s", w["rollback_s"] < 60)],
    )]


def rows(results: dict) -> list[list]:
    """[area, id, measure, ours, baseline, ratio, (goal, met) | None] for every row, in ROW_IDS order."""
    out = []
    sections = (
        ("Serving", "serving", [f"S{i}" for i in range(1, 13)], lambda r: _serving_rows(r["serving"])),
        ("Serving", "agreement", ["S13", "S14"], lambda r: _agreement_rows(r["agreement"])),
        ("Image", "image", ["I1", "I2", "I3", "I4"], lambda r: _image_rows(r["image"])),
        ("Observability", "observability", [f"O{i}" for i in range(1, 7)], _observability_rows),
        ("Pipeline", "pipeline", [f"P{i}" for i in range(1, 6)], lambda r: _pipeline_rows(r["pipeline"])),
        ("Drift", "drift", [f"D{i}" for i in range(1, 7)], lambda r: _drift_rows(*r["drift"])),
        ("Deploy", "deploy", ["W1", "W2", "W3"], lambda r: _deploy_rows(r["deploy"])),
        ("Batch", "batch", [f"B{i}" for i in range(1, 6)], lambda r: _batch_rows(r["batch"])),
        ("Monitoring", "monitor", ["M1", "M2"], lambda r: _monitor_rows(r["monitor"])),
    )
    for area, key, ids, build in sections:
        if key in results:
            out += build(results)
        else:
            out += _missing(area, ids, results.get("skipped", {}).get(key, "not run"))
    return out


def table(results: dict) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for area, row_id, measure, ours, baseline, r, goal in rows(results):
        goal_text, met = ("", "") if goal is None else (goal[0], "yes" if goal[1] else "**no**")
        cells = [row_id, area, measure, ours, baseline, "" if r is None else f"{r:.2f}×", goal_text, met]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def missed(results: dict) -> list[str]:
    return [row[1] for row in rows(results) if row[6] is not None and not row[6][1]]


def _first(path: str, prefix: str) -> str:
    try:
        with open(path) as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith(prefix)), "?")
    except OSError:
        return "?"


def machine() -> dict:
    try:
        docker = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True,
                                text=True, timeout=10).stdout.strip() or "no engine"
    except (OSError, subprocess.TimeoutExpired):
        docker = "not installed"
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            pass
    return {
        "cpu": _first("/proc/cpuinfo", "model name"),
        "cores": os.cpu_count(),
        "memory_gib": round(int(_first("/proc/meminfo", "MemTotal").split()[0]) / 2**20, 1),
        "os": _os_name(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "docker": docker,
        "packages": ", ".join(versions),
    }


def _os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            fields = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
        return fields.get("PRETTY_NAME", "?").strip('"')
    except OSError:
        return "?"
