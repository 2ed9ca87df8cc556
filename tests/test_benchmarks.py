"""The benchmark harness (benchmarks/, `make bench`) cannot rot: a smoke run with tiny sizes and
durations, no Docker, must print the full table with sane numbers. The goals themselves are not
asserted: they are for the full run, on a quiet machine (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks import report  # noqa: E402  (the harness lives beside tests/, not in a package on the path)
from benchmarks.run import ANALYSIS_MARK  # noqa: E402


def table_rows(markdown: str) -> dict[str, dict[str, str]]:
    """Row ID -> {column header: cell} for the results table in `markdown`."""
    rows = {}
    for line in markdown.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == len(report.HEADER) and cells[0] in report.ROW_IDS:
            assert cells[0] not in rows, f"row {cells[0]} twice"
            rows[cells[0]] = dict(zip(report.HEADER, cells, strict=True))
    return rows


def number(cell: str) -> float:
    found = re.match(r"^-?[\d,]+(\.\d+)?", cell)
    assert found, f"not a number: {cell!r}"
    return float(found.group(0).replace(",", ""))


def check_numbers(rows: dict[str, dict[str, str]]) -> None:
    for base in (1, 6):  # 1 record, then 100 records
        rps, p50, p99, errors, half = (rows[f"S{base + i}"] for i in range(5))
        for side in ("Ours", "Baseline"):
            assert number(rps[side]) > 0
            assert 0 < number(p50[side]) <= number(p99[side])
            assert errors[side] == "0"
            latency, rate = half[side].split(" @ ")
            assert number(latency) > 0 and number(rate) > 0
        assert number(rps["Ratio"]) > 0
    assert rows["S11"]["Met"] == "yes", rows["S11"]  # both servers must agree on every prediction
    for row in ("S13", "S14"):  # ONNX vs the scikit-learn pipeline, classification and regression champions
        assert rows[row]["Met"] == "yes" and re.match(r"(\d+)/\1 ", rows[row]["Ours"]), rows[row]
    assert number(rows["S12"]["Ours"]) > 0 and number(rows["S12"]["Baseline"]) > 0
    for row in ("I1", "I2", "I3", "I4", "W1", "W2", "W3"):  # Docker-free
        assert "skipped" in rows[row]["Measure"]
    # Capture + metrics on vs off: measured on the host in the smoke run (the image in a full one).
    on_off, half, mlflow, disk, memory, runtime = (rows[f"O{i}"] for i in range(1, 7))
    assert "host venv" in on_off["Measure"]
    for row in (on_off, mlflow, runtime):
        assert number(row["Ours"]) > 0 and number(row["Baseline"]) > 0 and number(row["Ratio"]) > 0
    assert all(number(side.split(" @ ")[0]) > 0 for side in (half["Ours"], half["Baseline"]))
    assert 300 < number(disk["Ours"]) < 5000  # one demo record: 30 numbers, ids, times, probabilities
    assert number(memory["Ours"]) > 50 and number(memory["Baseline"]) > 50
    cold, warm, noop, suite = (number(rows[f"P{i}"]["Ours"]) for i in range(1, 5))
    assert 0 < noop < cold and warm > noop and suite > 0
    assert rows["P4"]["Met"] == "yes" and re.search(r"\d+ passed", rows["P4"]["Measure"])
    for base in (1, 4):
        time_row, memory, flagged = (rows[f"D{base + i}"] for i in range(3))
        for side in ("Ours", "Baseline"):
            assert number(time_row[side]) > 0 and number(memory[side]) > 50  # a Python with pandas is > 50 MB
        assert re.match(r"\d+ flagged", flagged["Ours"]) and re.match(r"\d+ flagged", flagged["Baseline"])
    for side in ("Ours", "Baseline"):  # batch scoring: ours and `mlflow models predict` on the same file
        assert number(rows["B1"][side]) > 0 and number(rows["B2"][side]) > 50
    assert rows["B3"]["Ours"] == "identical" and rows["B3"]["Met"] == "yes"  # same model, same labels
    assert rows["B5"]["Met"] == "yes", rows["B5"]  # chunked == the pipeline in one piece, on the held-out split
    assert re.match(r"[\d.]+ s, \d+ MB", rows["B4"]["Ours"]), rows["B4"]


# One test, not several sharing a fixture: under `pytest -n 2` a module fixture would run once per worker.
def test_smoke_run_prints_every_row_with_sane_numbers(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--smoke", "--workdir", str(tmp_path / "work"),
         "--out", str(tmp_path / "RESULTS.md"), "--json", str(tmp_path / "results.json")],
        cwd=ROOT, capture_output=True, text=True, timeout=1500,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    rows = table_rows(result.stdout)
    assert list(rows) == report.ROW_IDS
    assert "Load average (1 min)" in result.stdout and "**Machine:**" in result.stdout
    check_numbers(rows)
    written = (tmp_path / "RESULTS.md").read_text()
    assert ANALYSIS_MARK in written and list(table_rows(written)) == report.ROW_IDS
    results = json.loads((tmp_path / "results.json").read_text())
    assert not results["errors"]
    assert set(results["sections"]) >= {"pipeline", "hotpath", "serving", "agreement", "drift"}


def test_committed_results_are_a_full_run_with_every_row():
    committed = (ROOT / "benchmarks" / "RESULTS.md").read_text()
    assert "smoke run" not in committed.splitlines()[0]
    rows = table_rows(committed)
    assert list(rows) == report.ROW_IDS
    assert all("skipped" not in row["Measure"] and "failed" not in row["Measure"] for row in rows.values())
    assert ANALYSIS_MARK in committed
