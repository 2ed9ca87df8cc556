"""Data checks: infer a schema from a CSV, and enforce it (plus dataset-level rules) on every run.

Column rules (dtype, nullability, range, allowed categories) live in the schema file and are
enforced by pandera. Rules that depend on params or on the training data (duplicates, rows per
class, labels seen at training time, all-null columns) are added as pandera checks at run time,
so every failure comes back in one table and one report.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from .errors import CheckFailed, PipelineError

EXAMPLES = 5  # bad values quoted per failure


def read_csv(path: str | Path) -> pd.DataFrame:
    """Read a CSV, failing clearly on a missing or empty file."""
    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"{path}: file not found")
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise CheckFailed(f"{path}: the file is empty (rule: not_empty)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise CheckFailed(f"{path}: not a readable CSV: {exc}") from None
    if frame.empty:
        raise CheckFailed(f"{path}: the file has a header but no rows (rule: not_empty)")
    return frame


def infer_schema(frame: pd.DataFrame, max_categories: int) -> pa.DataFrameSchema:
    """Columns, dtypes, ranges, allowed categories and nullability, as observed in `frame`."""
    columns = {}
    for name, values in frame.items():
        present = values.dropna()
        nullable = bool(values.isna().any())
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            # Always float: one missing value turns a pandas integer column into floats.
            checks = [pa.Check.in_range(float(present.min()), float(present.max()))] if len(present) else []
            columns[name] = pa.Column("float64", checks, nullable=nullable, coerce=True)
        else:
            present = present.astype(str)
            categories = sorted(present.unique())
            checks = [pa.Check.isin(categories)] if 0 < len(categories) <= max_categories else []
            columns[name] = pa.Column("str", checks, nullable=nullable, coerce=True)
    return pa.DataFrameSchema(columns, strict=True, name="data")


def save_schema(schema: pa.DataFrameSchema, path: str | Path) -> None:
    Path(path).write_text(schema.to_yaml())


def load_schema(path: str | Path) -> pa.DataFrameSchema:
    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"{path}: schema not found; create it with `schema --infer`")
    try:
        return pa.DataFrameSchema.from_yaml(path)
    except Exception as exc:  # pandera raises several types for a malformed file
        raise PipelineError(f"{path}: not a valid schema file: {exc}") from None


@dataclass
class Failure:
    file: str
    column: str
    rule: str
    count: int
    examples: list[Any] = field(default_factory=list)

    def message(self) -> str:
        where = f"column '{self.column}'" if self.column else "dataset"
        examples = ", ".join(repr(e) for e in self.examples)
        return f"{self.file}: {where}: rule {self.rule} failed for {self.count} value(s), e.g. [{examples}]"


def _runtime_checks(
    schema: pa.DataFrameSchema, params: dict, target: str, has_target: bool, known_labels: list | None
) -> pa.DataFrameSchema:
    """Add the rules that are not properties of a single column's values."""
    columns = dict(schema.columns)
    for name, column in columns.items():
        columns[name] = column.set_checks(
            [*column.checks, pa.Check(lambda s: bool(s.notna().any()), name="not_all_null", ignore_na=False)]
        )
    if has_target and params["task"] == "classification":
        minimum = int(params["checks"].get("min_rows_per_class", 1))
        checks = [
            pa.Check(lambda s: s.map(s.value_counts()) >= minimum, name=f"min_rows_per_class({minimum})"),
        ]
        if known_labels is not None:
            allowed = set(known_labels)
            checks.append(pa.Check(lambda s: s.isin(allowed), name="label_seen_in_training"))
        columns[target] = columns[target].set_checks([*columns[target].checks, *checks])
    if not has_target:
        columns.pop(target, None)
    dataset_checks = []
    if not params["checks"].get("allow_duplicates", False):
        dataset_checks.append(pa.Check(lambda df: ~df.duplicated(keep="first"), name="no_duplicate_rows"))
    return pa.DataFrameSchema(columns, checks=dataset_checks, strict=schema.strict, name=schema.name)


def validate(
    frame: pd.DataFrame,
    schema: pa.DataFrameSchema,
    params: dict,
    source: str,
    *,
    require_target: bool = True,
    known_labels: list | None = None,
) -> tuple[pd.DataFrame, list[Failure]]:
    """Return the coerced frame and the list of failures (empty when every rule passes)."""
    target = params["data"]["target"]
    if target not in frame.columns:
        if require_target:
            return frame, [Failure(source, target, "target_present", 1, ["<column missing>"])]
    full = _runtime_checks(schema, params, target, target in frame.columns, known_labels)
    try:
        return full.validate(frame, lazy=True), []
    except SchemaErrors as exc:
        return frame, _failures(exc.failure_cases, source)


def _failures(cases: pd.DataFrame, source: str) -> list[Failure]:
    failures = []
    cases = cases.astype({"check": str, "column": object})
    dataset_level = (cases["schema_context"] == "DataFrameSchema") & ~cases["check"].str.startswith("column_in_")
    # A dataset-level rule fails per row: report CSV line numbers (header is line 1), not cell values.
    rows = cases[dataset_level].drop_duplicates("index")
    for rule, group in rows.groupby("check", sort=False):
        lines = [f"line {int(i) + 2}" for i in group["index"].head(EXAMPLES)]
        failures.append(Failure(source, "", rule, len(group), lines))
    cases = cases[~dataset_level].fillna({"column": ""})
    for (column, rule), group in cases.groupby(["column", "check"], sort=False, dropna=False):
        values = group["failure_case"].drop_duplicates().head(EXAMPLES).tolist()
        if rule == "column_in_schema":  # pandera names the extra column in failure_case
            column, values = values[0], ["<not in schema>"]
        elif rule == "column_in_dataframe":
            column, values = values[0], ["<column missing>"]
        failures.append(Failure(source, str(column), rule, len(group), [_plain(v) for v in values]))
    return failures


def _plain(value: Any) -> Any:
    """JSON-safe example value."""
    if hasattr(value, "item"):
        value = value.item()
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


def write_report(results: dict[str, list[Failure]], json_path: str | Path, html_path: str | Path) -> dict:
    """Write the check report as JSON (for machines) and HTML (for people); return the summary."""
    failures = [f for fs in results.values() for f in fs]
    summary = {
        "passed": not failures,
        "files": {name: {"passed": not fs, "failures": len(fs)} for name, fs in results.items()},
        "failures": [vars(f) | {"message": f.message()} for f in failures],
    }
    Path(json_path).parent.mkdir(parents=True, exist_ok=True)
    Path(json_path).write_text(json.dumps(summary, indent=2, default=str) + "\n")
    rows = "".join(
        f"<tr><td>{html.escape(f.file)}</td><td>{html.escape(f.column)}</td><td>{html.escape(f.rule)}</td>"
        f"<td>{f.count}</td><td>{html.escape(', '.join(map(repr, f.examples)))}</td></tr>"
        for f in failures
    )
    verdict = "passed" if not failures else f"failed ({len(failures)} rule(s))"
    Path(html_path).write_text(
        "<!doctype html><meta charset='utf-8'><title>Data checks</title>"
        f"<h1>Data checks {verdict}</h1><p>Files: {html.escape(', '.join(results))}</p>"
        "<table border='1'><tr><th>file</th><th>column</th><th>rule</th><th>count</th><th>examples</th></tr>"
        f"{rows}</table>\n"
    )
    return summary


def run_checks(params: dict, json_path: str, html_path: str) -> dict:
    """The `check` stage: validate the training data and, if configured, the current batch."""
    schema = load_schema(params["data"]["schema"])
    results: dict[str, list[Failure]] = {}
    target = params["data"]["target"]
    sources = [(params["data"]["path"], True)]
    if params["drift"].get("current"):
        sources.append((params["drift"]["current"], False))
    labels = None  # labels seen in the training data, which a labelled current batch must not exceed
    for path, require_target in sources:
        try:
            frame = read_csv(path)
        except CheckFailed as exc:
            results[path] = [Failure(path, "", "readable_non_empty_csv", 1, [str(exc)])]
            continue
        results[path] = validate(frame, schema, params, path, require_target=require_target, known_labels=labels)[1]
        if require_target and target in frame.columns and params["task"] == "classification":
            labels = sorted(frame[target].dropna().astype(str).unique())
    summary = write_report(results, json_path, html_path)
    if not summary["passed"]:
        lines = "\n".join(f["message"] for f in summary["failures"])
        raise CheckFailed(f"data checks failed (report: {html_path}):\n{lines}")
    return summary
