"""The pipeline report: sections per level, missing outputs, untrusted values, GitHub's size limits, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import git, run_cli

from {{ cookiecutter.package_name }} import paths
from {{ cookiecutter.package_name }}.ci import report
from {{ cookiecutter.package_name }}.stages import checks, evaluate, gate, prepare, train

RUN_ENV = {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/demo", "GITHUB_RUN_ID": "4242"}
RUN_URL = "https://github.com/acme/demo/actions/runs/4242"
EVIL = "<img src=x onerror=alert(1)> @octocat | `tick`"


def write_json(path: str, data: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data))


def fake_outputs(task: str, *, passed: bool = True, champion: dict | None = None, failures: int = 0) -> None:
    """Pipeline outputs in the shapes the stages write them."""
    bad = [{"file": "data/raw/x.csv", "column": EVIL, "rule": "in_range", "count": 3, "examples": [EVIL, 1.5],
            "message": "..."} for _ in range(failures)]
    write_json("reports/data_check.json", {"passed": not bad, "files": {"data/raw/x.csv": {
        "passed": not bad, "failures": len(bad)}}, "failures": bad})
    Path("plots").mkdir(exist_ok=True)
    if task == "classification":
        candidate = {"accuracy": 0.91, "f1_macro": 0.9}
        thresholds = {"f1_macro": {"min": 0.8}}
        Path("plots/confusion.csv").write_text("actual,predicted\n" + "yes,yes\n" * 40 + "yes,no\n" * 3
                                               + "no,no\n" * 50 + "no,yes\n" * 2)
        write_json("plots/per_class.json", {
            "no": {"precision": 0.943396, "recall": 0.961538, "f1": 0.952381, "support": 52},
            "yes": {"precision": 0.952381, "recall": 0.930233, "f1": 0.941176, "support": 43, "roc_auc": 0.981,
                    "average_precision": 0.97, "brier": 0.061}})
        pngs = ["confusion", "roc", "precision_recall", "calibration", "importance"]
    else:
        candidate = {"r2": 0.5, "rmse": 50.0, "mae": 40.0}
        thresholds = {"r2": {"min": 0.3}}
        Path("plots/predictions.csv").write_text("actual,predicted,residual\n" + "".join(
            f"{100 + i},{100 + i + (i % 7) - 3},{3 - i % 7}\n" for i in range(60)))
        pngs = ["predicted_vs_actual", "residuals", "importance"]
    Path("plots/importance.csv").write_text("feature,importance,std\n" + "".join(
        f"f{i},{0.3 / (i + 1):.6f},0.01\n" for i in range(14)) + f"{EVIL},-0.001,0.002\n")
    for name in pngs:
        Path(f"plots/{name}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + name.encode())
    Path("plots/.gitignore").write_text("/confusion.png\n")  # DVC's, for the cached PNGs
    write_json("metrics/metrics.json", candidate)
    champions = [{"source": "git main", "metrics": champion}] if champion else []
    write_json("reports/gate.json", {
        "passed": passed, "reasons": ["all thresholds met and no regression against the champion"] if passed
        else ["f1_macro 0.9000 regresses against the champion (git main: 0.9500) by 0.0500, more than max_drop 0.02"],
        "candidate": candidate, "thresholds": thresholds, "max_drop": 0.02, "champions": champions})
    columns = [{"column": f"c{i}", "method": "K-S p_value", "score": 0.5 - i / 100, "threshold": 0.05,
                "drifted": False} for i in range(12)]
    columns += [{"column": "age", "method": "K-S p_value", "score": 0.0001, "threshold": 0.05, "drifted": True},
                {"column": EVIL, "method": "Wasserstein distance (normed)", "score": 0.3, "threshold": 0.1,
                 "drifted": True}]
    write_json("reports/drift.json", {"note": "current batch: data/raw/current.csv", "current": "data/raw/current.csv",
                                      "reference_rows": 300, "current_rows": 100, "dataset_drift": False,
                                      "drift_share": round(2 / 14, 6), "share_threshold": 0.5, "drifted_columns": 2,
                                      "columns": columns})


def classification(params: dict) -> dict:
    return {**params, "task": "classification", "gate": {**params["gate"], "thresholds": {"f1_macro": {"min": 0.8}}}}


def test_level_2_report_has_metrics_verdict_drift_plot_and_links(project, params):
    fake_outputs("classification", champion={"accuracy": 0.93, "f1_macro": 0.88})
    text = report.build(classification(params), level=2, out_dir=project / "pr-report", pr_number=7, env=RUN_ENV)
    assert text.splitlines()[0] == report.MARKER
    assert "for PR #7" in text and "**Gate ✅ passed · Data checks ✅ passed · Drift ✅ none (2/14 columns)**" in text
    # candidate against the champion, with deltas that know which way is better
    assert "| **`f1_macro`** | 0.9000 | 0.8800 | +0.0200 🟢 better | min 0.8, max drop 0.02 |" in text
    assert "| `accuracy` | 0.9100 | 0.9300 | -0.0200 🔴 worse |" in text
    assert "✅ **Passed**\n- all thresholds met and no regression against the champion" in text
    # drift: the share, and the drifted columns first, with their scores
    assert "2 of 14 columns drifted (share 0.14, threshold 0.50)" in text
    drift_rows = [line for line in text.splitlines()
                  if line.startswith("| `") and ("p_value" in line or "distance" in line)]
    assert drift_rows[0].startswith("| `age` | `K-S p_value` | 0.0001 | 0.050 | ⚠️ yes |")
    assert "⚠️ yes" in drift_rows[1] and len(drift_rows) == report.MAX_DRIFT_ROWS
    # the plots' numbers as tables: confusion matrix, per class with what the curves sum up, importances
    assert "| `no` | **50** | 2 |" in text and "| `yes` | 3 | **40** |" in text
    assert "| `no` | 0.9434 | 0.9615 | 0.9524 | 52 | – | – | – |" in text
    assert "| `yes` | 0.9524 | 0.9302 | 0.9412 | 43 | 0.9810 | 0.9700 | 0.0610 |" in text
    assert "one-vs-rest for the positive class: ROC AUC is the area under the ROC curve" in text
    importance = [line for line in text.splitlines() if line.startswith("| `f")]
    assert importance[0] == "| `f0` | 0.3000 | 0.0100 |" and len(importance) == report.MAX_FEATURES
    assert "Top 10 of 15 columns; all of them in `plots/importance.csv`." in text
    # the PNGs are in the report's folder, which is the artifact, and named in the text
    assert ("The plots as images: `plots/calibration.png`, `plots/confusion.png`, `plots/importance.png`, "
            "`plots/precision_recall.png`, `plots/roc.png` in the `pr-report` artifact of "
            f"[this run]({RUN_URL}#artifacts).") in text
    assert (project / "pr-report/plots/confusion.png").read_bytes().startswith(b"\x89PNG")
    assert (project / "pr-report/plots/per_class.json").is_file()
    assert "`plots/` (8 files: the PNGs and the data they draw)" in text
    assert not (project / "pr-report/plots/.gitignore").exists()
    assert f"[Workflow run]({RUN_URL})" in text and "`drift.html`" not in text  # no drift.html was written
    assert (project / "pr-report/gate.json").is_file() and (project / "pr-report/data_check.json").is_file()


def test_report_data_is_plain_and_complete(project, params):
    """The report is data plus a template (templates/report*.md.j2): the data says everything the text does."""
    fake_outputs("classification", champion={"accuracy": 0.93, "f1_macro": 0.88})
    data = report.gather(classification(params), level=2, pr_number=7, env=RUN_ENV)
    json.dumps(data)  # plain data: JSON all the way down
    assert data["headlines"] == ["Gate ✅ passed", "Data checks ✅ passed", "Drift ✅ none (2/14 columns)"]
    f1 = next(row for row in data["metrics"]["rows"] if row["metric"] == "f1_macro")
    assert f1["gated"] and f1["value"] == 0.9 and f1["bounds"] == "min 0.8, max drop 0.02"
    assert f1["champions"][0]["value"] == 0.88 and f1["champions"][0]["delta"]["better"]
    assert [c["column"] for c in data["drift"]["top"][:2]] == ["age", EVIL] and data["drift"]["drifted"] == 2
    confusion = data["plots"]["confusion"]
    assert confusion["labels"] == ["no", "yes"] and confusion["counts"] == [[50, 2], [3, 40]]
    assert confusion["correct"] == 90 and len(data["plots"]["importance"]) == 15
    assert data["links"]["run"] == RUN_URL and data["check"]["passed"] and data["pr_number"] == 7


def test_report_layout(project, params):
    """One snapshot of the layout: the sections in order, each heading after a blank line."""
    fake_outputs("classification", champion={"accuracy": 0.93, "f1_macro": 0.88})
    text = report.build(classification(params), level=2, pr_number=7, env=RUN_ENV)
    lines = text.splitlines()
    headings = [line for line in lines if line.startswith("#")]
    assert headings[0].startswith("## Pipeline report: `") and headings[0].endswith("` for PR #7")
    assert headings[1:] == ["### Metrics: candidate vs champion", "### Gate verdict", "### Drift",
                            "### Confusion matrix (test split)", "### Per class (test split)",
                            "### Feature importance (permutation, test split)", "### Data checks", "### Links"]
    assert all(lines[i - 1] == "" and lines[i + 1] == "" for i, line in enumerate(lines) if line.startswith("###"))
    assert lines[:6] == [report.MARKER, headings[0], "", "**Gate ✅ passed · Data checks ✅ passed · Drift ✅ none "
                         "(2/14 columns)**", "", f"[Workflow run]({RUN_URL}) · [artifacts]({RUN_URL}#artifacts)"]
    assert "\n\n\n" not in text and text.endswith("\n") and not text.endswith("\n\n")


def test_failed_gate_shows_reasons(project, params):
    fake_outputs("classification", passed=False, champion={"f1_macro": 0.95})
    text = report.build(classification(params), level=1)
    assert "**Gate ❌ failed" in text and "❌ **Failed**: the candidate is not registered." in text
    assert "f1\\_macro 0.9000 regresses against the champion (git main: 0.9500) by 0.0500" in text


def test_regression_residuals(project, params):
    fake_outputs("regression")
    regression = {**params, "task": "regression", "gate": {**params["gate"], "thresholds": {"r2": {"min": 0.3}}}}
    text = report.build(regression, level=2, out_dir=project / "out")
    assert "### Residuals (test split)" in text and "60 rows: mean residual" in text and "█" in text
    assert "| `rmse` | 50.0000 |" in text and "No champion yet" in text
    assert "### Feature importance (permutation, test split)" in text and "How much `r2` drops" in text
    assert "`plots/predicted_vs_actual.png`, `plots/residuals.png` in the report's folder." in text
    assert (project / "out/plots/residuals.png").is_file()
    assert "Built outside GitHub Actions" in text  # no GITHUB_* variables here


def test_level_0_has_the_data_checks_and_links_only(project, params, monkeypatch):
    for key, value in RUN_ENV.items():
        monkeypatch.setenv(key, value)
    fake_outputs("classification")
    text = report.build(params, level=0)
    assert "### Data checks" in text and f"[Workflow run]({RUN_URL})" in text
    for absent in ("Metrics", "Gate", "Drift", "Confusion", "Residuals", "importance", ".png"):
        assert absent not in text


def test_missing_outputs_are_named(project, params):
    text = report.build(params, level=2)
    assert "the `check` stage did not run" in text and "the pipeline stopped before the `evaluate` stage" in text
    assert "the `gate` stage did not run" in text and "the `drift` stage did not run" in text


def test_untrusted_values_cannot_inject_markup(project, params):
    fake_outputs("classification", failures=2)
    text = report.build(classification(params), level=2)
    assert "<img" not in text.replace("`<img", "")  # only ever inside inline code
    for line in text.splitlines():
        if "img src" in line:
            cells = line.split(" | ")
            assert all(cell.count("`") % 2 == 0 for cell in cells), line  # code spans closed in every cell
            assert "\\|" in line  # a pipe in a value cannot split the table
    assert "Data checks ❌ failed (2 rule(s))" in text


def test_truncated_to_the_comment_limit_and_says_so(project, params, monkeypatch):
    fake_outputs("classification", failures=5000)
    monkeypatch.setattr(report, "MAX_FAILURES", 10**6)  # as if the table were not capped
    summary = project / "summary.md"
    summary.write_text("earlier step output\n")
    result = report.write(classification(params), Path("pr-report"), pr_number="12",
                          summary_path=str(summary), level=2)
    comment = Path("pr-report/report.md").read_text()
    assert result["truncated"] and len(comment) <= report.COMMENT_LIMIT
    assert comment.startswith(report.MARKER + "\n") and "Truncated to fit GitHub's limit for a comment" in comment
    assert "`report-full.md` in the run's artifacts" in comment
    full = Path("pr-report/report-full.md").read_text()
    assert len(full) > report.COMMENT_LIMIT and full.startswith(comment.split("\n\n> [!WARNING]")[0])
    written = summary.read_text()
    assert written.startswith("earlier step output\n" + report.MARKER) and len(written.encode()) <= report.SUMMARY_LIMIT
    assert Path("pr-report/pr-number").read_text() == "12\n"


def test_truncate_counts_what_github_counts():
    text = "\n".join(["héllo ✅ wörld"] * 10_000)
    cut, was_cut = report.truncate(text, 5_000, "bytes", "job summary")
    assert was_cut and len(cut.encode()) <= 5_000 and "limit for a job summary (5,000 bytes)" in cut
    cut, was_cut = report.truncate(text, 5_000, "characters")
    assert was_cut and len(cut) <= 5_000 and len(cut.encode()) > 5_000
    one_line = "x" * 10_000
    cut, _ = report.truncate(one_line, 1_000)
    assert len(cut) <= 1_000 and cut.startswith("x" * 100)
    assert report.truncate("short", 1_000) == ("short", False)


@pytest.mark.parametrize("bad", ["0", "-1", "12abc", "1.5", "7 8"])
def test_bad_pr_number_is_refused(project, bad):
    result = run_cli("report", "--pr-number", bad, "--summary", "")
    assert result.returncode == 2 and "--pr-number: expected a positive integer" in result.stderr


def test_cli_writes_report_artifact_and_job_summary(project, params, monkeypatch):
    for key, value in RUN_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(project / "step-summary.md"))
    fake_outputs(params["task"], champion={k: v - 0.01 for k, v in {"f1_macro": 0.9, "r2": 0.5}.items()})
    result = run_cli("report", "--out", "pr-report", "--pr-number", "12")
    assert result.returncode == 0, result.stderr
    body = (project / "pr-report/report.md").read_text()
    assert "and to the job summary" in result.stdout
    assert (project / "step-summary.md").read_text() == body + "\n"
    assert (project / "pr-report/pr-number").read_text() == "12\n"
    assert f"[Workflow run]({RUN_URL})" in body and "### Data checks" in body
    assert ("### Metrics" in body) == (report.LEVEL >= 1)


def test_report_reads_what_the_real_stages_write(project, params):
    """Check, train, evaluate and gate for real, with a committed champion on main."""
    checks.run_checks(params, "reports/data_check.json", "reports/data_check.html")
    prepare.run(params)
    train.run(params)
    metrics = evaluate.run(params)
    champion = {k: round(v * 0.99, 6) for k, v in metrics.items()}
    Path("metrics/metrics.json").write_text(json.dumps(champion))
    git("add", "metrics/metrics.json", cwd=project)
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "champion", cwd=project)
    Path("metrics/metrics.json").write_text(json.dumps(metrics))
    verdict = gate.run(params)
    text = report.build(params, level=2, out_dir=project / "pr-report")
    primary = next(iter(params["gate"]["thresholds"]))
    assert f"| **`{primary}`** | {metrics[primary]:.4f} | {champion[primary]:.4f} |" in text
    assert "champion (`git main:metrics/metrics.json`)" in text and verdict["passed"] and "**Gate ✅ passed" in text
    assert "the `drift` stage did not run" in text  # drift was not run here
    assert (project / "pr-report/model/model.joblib").is_file()
    # evaluate's real plot data, as tables, and its PNGs in the folder
    X, _ = train.read_split(paths.TEST, params)
    assert "### Feature importance (permutation, test split)" in text
    ranked = [line for line in text.splitlines() if line.count("|") == 4 and line.split("`")[1:2] and
              line.split("`")[1] in X.columns]
    assert len(ranked) == min(report.MAX_FEATURES, len(X.columns))
    if params["task"] == "classification":
        assert "### Per class (test split)" in text and "### Confusion matrix (test split)" in text
        # Two classes: the positive class's ROC AUC is the metric; more: each class's one-vs-rest AUC.
        per_class = [v for v in json.loads(Path("plots/per_class.json").read_text()).values() if isinstance(v, dict)]
        aucs = [metrics["roc_auc"]] if "roc_auc" in metrics else [v["roc_auc"] for v in per_class]
        assert aucs and all(f"| {number_of(auc)} |" in text for auc in aucs)
    else:
        assert "### Residuals (test split)" in text
    pngs = sorted(p.name for p in (project / "pr-report/plots").glob("*.png"))
    assert len(pngs) >= 3 and all(f"`plots/{name}`" in text for name in pngs)


def number_of(value: float) -> str:
    return f"{value:.4f}"


def test_no_comparable_champion_says_why(project, params):
    fake_outputs("classification")
    gate_json = json.loads(Path("reports/gate.json").read_text())
    gate_json["incomparable"] = [{"source": "git main:champion.json (v3)",
                                  "reason": "it was trained on target 'churn', this candidate on 'label'"}]
    write_json("reports/gate.json", gate_json)
    text = report.build(classification(params), level=2)
    assert "**No comparable champion**, so no regression check:" in text
    assert "- `git main:champion.json (v3)`: it was trained on target 'churn', this candidate on 'label'" in text
    assert "No champion yet" not in text and "| champion (" not in text


def test_out_is_a_folder_of_its_own(project, params):
    fake_outputs(params["task"])
    home = project / "home"
    home.mkdir()
    (home / "notes.txt").write_text("mine")
    refused = run_cli("report", "--out", str(home), "--summary", "")
    assert refused.returncode == 2 and "holds files that `report` did not write" in refused.stderr
    assert sorted(p.name for p in home.iterdir()) == ["notes.txt"]  # nothing written beside the user's files
    as_file = run_cli("report", "--out", str(home / "r.md"), "--summary", "")
    assert as_file.returncode == 2 and "give the report's folder; report.md is written inside it" in as_file.stderr
    assert not (home / "r.md").exists()

    first = run_cli("report", "--out", "out/pr", "--summary", "")
    assert first.returncode == 0, first.stderr
    assert (project / "out/pr/report.md").read_text().startswith(report.MARKER)
    (project / "out/pr/stale.html").write_text("from an earlier run")
    Path("reports/drift.html").write_text("<html>drift</html>")
    again = run_cli("report", "--out", "out/pr", "--summary", "")
    assert again.returncode == 0, again.stderr
    written = {p.relative_to(project / "out/pr").as_posix() for p in (project / "out/pr").rglob("*") if p.is_file()}
    assert "stale.html" not in written and {"report.md", "data_check.json"} <= written
    assert ("drift.html" in written) == ("plots/importance.csv" in written) == (report.LEVEL >= 1)
    assert sorted(p.name for p in (project / "out").iterdir()) == ["pr"]
