"""Data checks: enforce the contract in schema.yaml on every run, and report the data's distribution.

Contract rules stop the pipeline: the file is a readable CSV with a unique header; the schema's
columns, dtypes and nullability (pandera); finite numbers; the rules declared in schema.yaml; and for
the training data the target present and never missing, enough rows per class, no duplicate rows and
no empty column. Distribution findings never stop anything: a current batch's values outside the
training data's ranges or categories it does not have, and extreme values in the training data.
Every failure names file, column, rule and CSV line numbers (the header is line 1), once per bad value.
"""

from __future__ import annotations

import copy
import csv
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from .. import contract
from ..errors import CheckFailed, PipelineError

EXAMPLES = 5  # distinct bad values quoted per failure
LINES_SHOWN = 10  # line numbers in a message; the JSON report keeps up to LINES_KEPT
LINES_KEPT = 100
TRAINING, CURRENT = "training", "current"


@dataclass
class Failure:
    """A failed rule (or, in `findings`, a distribution finding) on one column of one file."""

    file: str
    column: str
    rule: str
    count: int
    examples: list[Any] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)  # CSV line numbers, the header being line 1
    detail: str = ""  # what went wrong, where a count of values does not say it
    finding: bool = False  # a distribution finding: reported, never a failure

    def message(self) -> str:
        where = f"column '{self.column}'" if self.column else "dataset"
        text = f"{self.file}: {where}: " + (f"finding {self.rule}" if self.finding else f"rule {self.rule} failed")
        if self.lines:
            shown = ", ".join(map(str, self.lines[:LINES_SHOWN]))
            more = f" and {self.count - LINES_SHOWN} more" if self.count > LINES_SHOWN else ""
            text += f" for {self.count} value(s) on line{'s' if self.count > 1 else ''} {shown}{more}"
            if self.examples:
                text += ": " + ", ".join(repr(e) for e in self.examples)
            return text + (f" ({self.detail})" if self.detail else "")
        return f"{text}: {self.detail}" if self.detail else text


# --------------------------------------------------------------------------- reading


def read_file(path: str | Path, str_columns: list[str] = ()) -> tuple[pd.DataFrame | None, Failure | None]:
    """The CSV as pandas reads it (text columns of the contract kept as text), or the reason it cannot be checked."""
    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"{path}: file not found")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:  # as pandas reads it, BOM or not
            header = next(csv.reader(handle), [])
    except UnicodeDecodeError as exc:
        return None, Failure(str(path), "", "readable_csv", 1, detail=f"not UTF-8 text: {exc}")
    if not header:
        return None, Failure(str(path), "", "not_empty", 1, detail="the file is empty")
    repeated = [name for name, n in Counter(header).items() if n > 1]
    if repeated:
        name = repeated[0]
        places = " and ".join(str(i + 1) for i, h in enumerate(header) if h == name)
        return None, Failure(str(path), name, "unique_column_names", 1,
                             detail=f"the header has it {header.count(name)} times (columns {places})")
    try:
        frame = pd.read_csv(path, dtype={name: "str" for name in str_columns if name in header})
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        return None, Failure(str(path), "", "readable_csv", 1, detail=f"not a readable CSV: {exc}")
    if frame.empty:
        return None, Failure(str(path), "", "not_empty", 1, detail="the file has a header but no rows")
    return frame, None


def read_csv(path: str | Path, str_columns: list[str] = ()) -> pd.DataFrame:
    """Read a CSV, failing clearly (CheckFailed) on an empty or unreadable file or a repeated column name."""
    frame, problem = read_file(path, str_columns)
    if problem is not None:
        raise CheckFailed(problem.message())
    return frame


# --------------------------------------------------------------------------- the contract


def _numbers(frame: pd.DataFrame, schema: pa.DataFrameSchema, source: str) -> tuple[pd.DataFrame, list[Failure], set]:
    """Numeric columns as numbers: text, non-integers in int64 columns and infinities fail here.

    pandera would truncate 3.5 to 3 when coercing to int64, and cannot tell text from a missing value.
    Returns the frame (bad cells emptied), the failures and the (column, line) cells they cover.
    """
    frame, failures, cells = frame.copy(), [], set()
    for name, column in schema.columns.items():
        dtype = str(column.dtype)
        if name not in frame or dtype not in contract.NUMERIC:
            continue
        raw = frame[name]
        numbers = pd.to_numeric(raw, errors="coerce") if raw.dtype == object else raw.astype("float64")
        text = raw.notna() & numbers.isna()
        infinite = np.isinf(numbers)
        fraction = numbers.notna() & ~infinite & numbers.mod(1).ne(0) if dtype == "int64" else pd.Series(
            False, index=raw.index)
        wrong_type = f"coerce_dtype('{dtype}')"
        for mask, rule, shown in ((text, wrong_type, raw), (fraction, wrong_type, numbers), (infinite, "finite", raw)):
            if mask.any():
                failures.append(_failure(source, name, rule, mask, shown))
                cells.update((name, line) for line in contract.lines(mask))
        numbers = numbers.mask(text | fraction | infinite)
        frame[name] = numbers.astype("int64") if dtype == "int64" and numbers.notna().all() else numbers
    return frame, _merge(failures), cells


def _failure(source: str, column: str, rule: str, mask: pd.Series, values: pd.Series | None = None,
             detail: str = "", finding: bool = False) -> Failure:
    examples = [] if values is None else [_plain(v) for v in values[mask].drop_duplicates().head(EXAMPLES)]
    found = contract.lines(mask)
    return Failure(source, column, rule, len(found), examples, found[:LINES_KEPT], detail, finding)


def _merge(failures: list[Failure]) -> list[Failure]:
    """One failure per (column, rule): a text value and a fraction in one int64 column are one rule."""
    merged: dict[tuple[str, str], Failure] = {}
    for f in failures:
        if (f.column, f.rule) in merged:
            into = merged[f.column, f.rule]
            into.count += f.count
            into.lines = sorted(into.lines + f.lines)[:LINES_KEPT]
            into.examples = (into.examples + f.examples)[:EXAMPLES]
        else:
            merged[f.column, f.rule] = f
    return list(merged.values())


def _runtime_schema(schema: pa.DataFrameSchema, params: dict, role: str, target: str,
                    present: bool) -> pa.DataFrameSchema:
    """The file's contract: schema.yaml plus the rules that depend on the file's role and on params."""
    columns = dict(schema.columns)
    if target in columns:
        if not present:
            columns.pop(target)
        else:
            # Training: the target is never missing, whatever the file says. Current batch: labels may come later.
            columns[target] = _nullable(columns[target], role == CURRENT)
    dataset_checks = []
    if role == TRAINING:
        for name, column in columns.items():
            columns[name] = column.set_checks(
                [*column.checks, pa.Check(lambda s: bool(s.notna().any()), name="not_all_null", ignore_na=False)])
        if present and params["task"] == "classification":
            minimum = int(params["checks"].get("min_rows_per_class", 1))
            rare = pa.Check(lambda s: s.map(s.value_counts()) >= minimum, name=f"min_rows_per_class({minimum})")
            columns[target] = columns[target].set_checks([*columns[target].checks, rare])
        if not params["checks"].get("allow_duplicates", False):
            dataset_checks.append(pa.Check(lambda df: ~df.duplicated(keep="first"), name="no_duplicate_rows"))
    return pa.DataFrameSchema(columns, checks=dataset_checks, strict=schema.strict, name=schema.name)


def _nullable(column: pa.Column, nullable: bool) -> pa.Column:
    column = copy.copy(column)
    column.nullable = nullable
    return column


def validate(frame: pd.DataFrame, schema: pa.DataFrameSchema, params: dict, source: str,
             role: str = TRAINING) -> tuple[pd.DataFrame, list[Failure]]:
    """The frame with the contract's dtypes, and every contract failure (empty when the file passes)."""
    target = params["data"]["target"]
    frame = frame.reset_index(drop=True)  # index = row position, so line = index + 2
    failures = []
    if target not in frame.columns and role == TRAINING:
        failures.append(Failure(source, target, "target_present", 1,
                                detail="the target column (data.target in params.yaml) is missing"))
    typed, wrong, done = _numbers(frame, schema, source)
    failures += wrong
    full = _runtime_schema(schema, params, role, target, target in frame.columns)
    try:
        typed = full.validate(typed, lazy=True)
    except SchemaErrors as exc:
        failures += _pandera_failures(exc.failure_cases, source, done)
    return typed, failures


def _pandera_failures(cases: pd.DataFrame, source: str, done: set) -> list[Failure]:
    """pandera's failure cases as one Failure per (column, rule), each bad cell reported once."""
    cases = cases.astype({"check": str, "column": object}).fillna({"column": ""})
    failures = []
    for _, case in cases[cases["index"].isna()].iterrows():
        rule, value = case["check"], case["failure_case"]
        if rule == "column_in_schema":
            failures.append(Failure(source, str(value), rule, 1, detail="the column is not in the schema"))
        elif rule == "column_in_dataframe":
            failures.append(Failure(source, str(value), rule, 1, detail="the column is missing from the file"))
        elif rule == "not_all_null":
            failures.append(Failure(source, str(case["column"]), rule, 1, detail="every value is missing"))
        elif not rule.startswith("dtype("):  # a dtype failure follows a coercion failure already reported
            failures.append(Failure(source, str(case["column"]), rule, 1, detail=str(value)))
    cells = cases[cases["index"].notna()].copy()
    cells["line"] = cells["index"].astype(int) + 2
    cells["missing"] = cells["failure_case"].isna()
    # A missing value fails not_nullable, and also coercion to int64: report the first, once.
    cells = cells[~cells["missing"] | (cells["check"] == "not_nullable")]
    cells["rank"] = cells["check"].map(lambda c: 0 if c == "not_nullable" else 1 if c.startswith("coerce") else 2)
    dataset = cells["schema_context"] == "DataFrameSchema"
    cells.loc[dataset, "column"] = ""
    cells = cells.sort_values("rank", kind="stable").drop_duplicates(["column", "line"])
    fresh = [(c, line) not in done for c, line in zip(cells["column"], cells["line"], strict=True)]
    cells = cells.loc[np.array(fresh, dtype=bool)]
    for (column, rule), group in cells.groupby(["column", "check"], sort=False):
        group = group.sort_values("line")
        examples = [] if rule in ("not_nullable", "no_duplicate_rows") else [
            _plain(v) for v in group["failure_case"].drop_duplicates().head(EXAMPLES)]
        detail = "a copy of an earlier row" if rule == "no_duplicate_rows" else ""
        failures.append(Failure(source, str(column), rule, len(group), examples,
                                group["line"].head(LINES_KEPT).tolist(), detail))
    return failures


def _plain(value: Any) -> Any:
    """JSON-safe example value."""
    if hasattr(value, "item"):
        value = value.item()
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


# --------------------------------------------------------------------------- the distribution


def findings(current: pd.DataFrame, reference: pd.DataFrame | None, schema: pa.DataFrameSchema, params: dict,
             source: str, role: str) -> tuple[list[Failure], list[tuple[str, str]]]:
    """(findings, the (column, rule) pairs examined): never failures, whatever they find."""
    target = params["data"]["target"]
    max_categories = int(params["checks"].get("max_categories", 50))
    found, examined = [], []
    for name, column in schema.columns.items():
        if name not in current:
            continue
        values = current[name]
        numeric = str(column.dtype) in contract.NUMERIC
        if role == TRAINING:
            if numeric and name != target:
                examined.append((name, "extreme_value"))
                far = contract.outliers(values.astype("float64"))
                if far.any():
                    found.append(_failure(source, name, "extreme_value", far, values,
                                          "far outside the column's other values: a typo or a placeholder code?", True))
            continue
        if reference is None or name not in reference:
            continue
        known = reference[name].dropna()
        if numeric:
            examined.append((name, "outside_training_range"))
            low, high = known.min(), known.max()
            outside = (values < low) | (values > high)
            if outside.any():
                found.append(_failure(source, name, "outside_training_range", outside, values,
                                      f"training range {low:.6g} to {high:.6g}", True))
        elif known.nunique() <= max_categories:
            rule = "label_not_in_training" if name == target else "new_category"
            examined.append((name, rule))
            new = values.notna() & ~values.isin(set(known))
            if new.any():
                found.append(_failure(source, name, rule, new, values, f"training has {known.nunique()} "
                                      f"{'labels' if name == target else 'categories'}", True))
        if values.isna().all() and known.notna().any():
            found.append(Failure(source, name, "all_missing", len(values), detail="every value is missing",
                                 finding=True))
    if role == CURRENT:
        examined.append(("", "duplicate_rows"))
        copies = current.duplicated(keep="first")
        if copies.any():
            found.append(_failure(source, "", "duplicate_rows", copies, detail="a copy of an earlier row",
                                  finding=True))
    return found, examined


# --------------------------------------------------------------------------- the report


def profile(raw: pd.DataFrame, typed: pd.DataFrame, schema: pa.DataFrameSchema, target: str, task: str) -> dict:
    """Rows, class balance and a per-column summary: what a reader needs to judge the file."""
    columns = {}
    for name in raw.columns:
        entry = {"dtype": str(schema.columns[name].dtype) if name in schema.columns else str(raw[name].dtype),
                 "missing": int(raw[name].isna().sum()), "distinct": int(raw[name].nunique())}
        values = typed[name]
        if pd.api.types.is_numeric_dtype(values) and values.notna().any():
            entry.update({key: round(float(getattr(values, key)()), 6) for key in ("min", "median", "mean", "max")})
        else:
            entry["top"] = {str(k): int(v) for k, v in raw[name].value_counts().head(5).items()}
        columns[str(name)] = entry
    result = {"rows": len(raw), "columns": len(raw.columns), "column_summary": columns}
    if task == "classification" and target in raw:
        labels = raw[target].fillna("(missing)").astype(str)
        result["class_balance"] = {str(k): int(v) for k, v in labels.value_counts().items()}
    return result


def rules_checked(schema: pa.DataFrameSchema, params: dict, role: str, present: list[str]) -> list[tuple[str, str]]:
    """(column, rule) for every contract rule applied to a file, in the names failures use."""
    target = params["data"]["target"]
    rules = [("", "readable_csv"), ("", "not_empty"), ("", "unique_column_names"), ("", "column_in_schema")]
    if role == TRAINING:
        rules.append((target, "target_present"))
        if not params["checks"].get("allow_duplicates", False):
            rules.append(("", "no_duplicate_rows"))
    for name, column in schema.columns.items():
        if name == target and target not in present and role == CURRENT:
            continue
        dtype = str(column.dtype)
        rules += [(name, "column_in_dataframe"), (name, f"coerce_dtype('{dtype}')")]
        if (name == target and role == TRAINING) or (name != target and not column.nullable):
            rules.append((name, "not_nullable"))
        if dtype in contract.NUMERIC:
            rules.append((name, "finite"))
        rules += [(name, check.error or check.name) for check in column.checks]
        if role == TRAINING:
            rules.append((name, "not_all_null"))
            if name == target and params["task"] == "classification":
                rules.append((name, f"min_rows_per_class({int(params['checks'].get('min_rows_per_class', 1))})"))
    return rules


def _results(checked: list[tuple[str, str]], problems: list[Failure], kind: str, bad: str) -> list[dict]:
    counts = {(f.column, f.rule): f.count for f in problems}
    rows = [{"column": c, "rule": r, "kind": kind, "result": bad if (c, r) in counts else "passed",
             "count": counts.get((c, r), 0)} for c, r in checked]
    listed = set(checked)
    rows += [{"column": f.column, "rule": f.rule, "kind": kind, "result": bad, "count": f.count}
             for f in problems if (f.column, f.rule) not in listed]
    return rows


def write_report(results: dict[str, dict], json_path: str | Path, html_path: str | Path, schema_path: str) -> dict:
    """Write the check report as JSON (for machines) and HTML (for people); return the summary."""
    from . import check_report

    failures = [f for r in results.values() for f in r["failures"]]
    noted = [f for r in results.values() for f in r["findings"]]
    summary = {
        "passed": not failures,
        "schema": schema_path,
        "files": {name: {"passed": not r["failures"], "failures": len(r["failures"]), "findings": len(r["findings"]),
                         "role": r["role"], "rules": r["rules"], **r["profile"],
                         **({"note": r["note"]} if r.get("note") else {})} for name, r in results.items()},
        "failures": [vars(f) | {"message": f.message()} for f in failures],
        "findings": [vars(f) | {"message": f.message()} for f in noted],
    }
    Path(json_path).parent.mkdir(parents=True, exist_ok=True)
    Path(json_path).write_text(json.dumps(summary, indent=2, default=str) + "\n")
    Path(html_path).write_text(check_report.render(summary))
    return summary


def text_columns(schema: pa.DataFrameSchema) -> list[str]:
    """Columns read as text, so that codes such as '007' or '12' stay what they are."""
    return [name for name, column in schema.columns.items() if str(column.dtype) == "str"]


def check_file(path: str, schema: pa.DataFrameSchema, params: dict, role: str,
               reference: pd.DataFrame | None = None) -> tuple[pd.DataFrame | None, dict]:
    """Check one file: (the typed frame if it passed, its report entry: failures, findings, rules, profile)."""
    frame, problem = read_file(path, text_columns(schema))
    if problem is not None:
        # The file cannot be read as a table, so no other rule could be checked.
        return None, {"role": role, "failures": [problem], "findings": [], "profile": {},
                      "rules": _results([], [problem], "contract", "failed")}
    typed, failures = validate(frame, schema, params, path, role)
    found, examined = findings(typed, reference, schema, params, path, role)
    rules = _results(rules_checked(schema, params, role, list(frame.columns)), failures, "contract", "failed")
    rules += _results(examined, found, "distribution", "finding")
    entry = {"role": role, "failures": failures, "findings": found, "rules": rules,
             "profile": profile(frame, typed, schema, params["data"]["target"], params["task"])}
    if role == CURRENT and reference is None:
        entry["note"] = "not compared with the training data, which failed its checks"
    return (typed if not failures else None), entry


def run_checks(params: dict, json_path: str, html_path: str) -> dict:
    """The `check` stage: the training data, then the current batch (if configured) against it."""
    schema_path = params["data"]["schema"]
    schema = contract.pandera_schema(schema_path)
    results: dict[str, dict] = {}
    training, results[params["data"]["path"]] = check_file(params["data"]["path"], schema, params, TRAINING)
    current = params["drift"].get("current")
    if current:
        results[current] = check_file(current, schema, params, CURRENT, reference=training)[1]
    summary = write_report(results, json_path, html_path, schema_path)
    if not summary["passed"]:
        lines = "\n".join(f["message"] for f in summary["failures"])
        raise CheckFailed(f"data checks failed (report: {html_path}):\n{lines}")
    return summary
