"""The data contract in schema.yaml: the one module that reads it, handing out the shape each user needs.

schema.yaml is a pandera schema file. `load` reads it as plain YAML: the columns, their dtypes (the
pandas dtypes `read` uses) and the model's input columns (`Contract.features`), so the stages that
need no more (prepare, train, drift, the gate) do not import pandera. `pandera_schema` is what
`check` enforces, `input_schema` the columns and bounds the serving app validates requests with,
`model_signature` MLflow's. `write` (infer-schema, with ruamel.yaml) keeps the file's comments and
the rules a user added.

The contract holds columns, dtypes, nullability, the target's labels and any rule the user declares.
Ranges and categories seen in the training data are its distribution: written as comments, checked
as findings (checks.py), never as rules, so a drifting batch is reported, not refused.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from .errors import PipelineError

NUMERIC = ("int64", "float64")
DTYPES = (*NUMERIC, "str")
# Keys of a pandera column that are options, not checks: every other key is a rule someone declared.
OPTIONS = {"dtype", "nullable", "coerce", "required", "unique", "regex", "title", "description", "default",
           "metadata", "drop_invalid_rows", "report_duplicates", "name"}
NUMERIC_SHARE = 0.9  # a text column whose values are at least this share numbers is a numeric column with typos
OUTLIER_SPREADS = 20  # a value this many interquartile ranges beyond the quartiles is worth a look
SHOWN = 5  # values or lines quoted in a message

HEADER = """\
# Data contract, enforced on every run by `python -m {{ cookiecutter.package_name }} check` (pandera's schema format).
# Write it from your CSV with `python -m {{ cookiecutter.package_name }} infer-schema`, then review it. Re-running
# infer-schema rewrites the columns but keeps these comments and the rules you added.
#
# Contract (a violation stops the pipeline): the columns; each one's dtype (int64, float64 or str);
# `nullable: true` where values may be missing; finite numbers; the target's labels (`isin`); and every
# rule you declare. The target may never be missing.
# Distribution (reported, never a stop): values outside the training data's ranges and categories the
# training data does not have. `check` lists them as findings in reports/data_check.html, and `drift`
# measures them. The `# observed:` comments show the training data's ranges and categories.
#
# To make a range or a list of categories a hard rule, add a pandera check to the column, e.g.
#   age: {dtype: int64, coerce: true, in_range: {min_value: 0, max_value: 120}}
#   colour: {dtype: str, nullable: true, coerce: true, isin: [red, green, blue]}
# (also greater_than_or_equal_to, less_than, str_matches, ...: see pandera's built-in checks).
"""


@dataclass(frozen=True)
class Contract:
    """schema.yaml as read: one pandera column entry per name, in file order."""

    path: str
    columns: dict[str, dict]
    header: str  # the file's leading comment block, kept when the file is rewritten

    def dtype(self, name: str) -> str:
        return self.columns[name]["dtype"]

    def nullable(self, name: str) -> bool:
        return bool(self.columns[name].get("nullable", False))

    def features(self, target: str) -> dict[str, str]:
        """{column: dtype} of the model's inputs: every column but the target, in file order."""
        return {name: entry["dtype"] for name, entry in self.columns.items() if name != target}

    def rules(self, name: str) -> dict:
        """The checks declared on a column (pandera's flat form and its `checks:` mapping)."""
        entry = self.columns[name]
        declared = {k: v for k, v in entry.items() if k not in OPTIONS and k != "checks"}
        return declared | dict(entry.get("checks") or {})


def load(path: str | Path) -> Contract:
    """Read schema.yaml, failing clearly on a missing or malformed file."""
    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"{path}: schema not found; create it from your data with "
                            f"`python -m {__package__} infer-schema`")
    text = path.read_text()
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PipelineError(f"{path}: not valid YAML: {exc}") from None
    columns = document.get("columns") if isinstance(document, dict) else None
    if not isinstance(columns, dict) or not columns:
        raise PipelineError(f"{path}: no `columns:` mapping; regenerate it with `python -m {__package__} infer-schema`")
    for name, entry in columns.items():
        if not isinstance(entry, dict) or entry.get("dtype") not in DTYPES:
            raise PipelineError(f"{path}: column '{name}': dtype must be one of {', '.join(DTYPES)}")
        if entry["dtype"] == "int64" and entry.get("nullable"):
            # pandas reads an integer column with gaps as floats, and MLflow would then refuse it.
            raise PipelineError(f"{path}: column '{name}': an int64 column cannot be nullable; use float64")
    return Contract(str(path), {str(k): v for k, v in columns.items()}, _header(text))


def pandera_schema(path: str | Path):
    """schema.yaml as a pandera DataFrameSchema, for `check` (pandera is imported here only: it is slow)."""
    import pandera.pandas as pa

    load(path)
    try:
        return pa.DataFrameSchema.from_yaml(Path(path))
    except Exception as exc:  # pandera raises several types for a malformed rule
        raise PipelineError(f"{path}: not a valid pandera schema: {exc}") from None


def features_of(text: str, target: str) -> dict[str, str]:
    """{column: dtype} of the input columns of a schema.yaml's text, as any commit may hold it (not validated)."""
    columns = (yaml.safe_load(text) or {}).get("columns") or {}
    return {str(name): str((spec or {}).get("dtype")) for name, spec in columns.items() if name != target}


def _header(text: str) -> str:
    lines = []
    for line in text.splitlines(keepends=True):
        if line.strip() and not line.startswith("#"):
            break
        lines.append(line)
    return "".join(lines).rstrip("\n") + "\n" if any(line.strip() for line in lines) else ""


def pandas_dtypes(contract: Contract, names: list[str] | None = None) -> dict[str, str]:
    """The read_csv dtypes for checked data: integers and floats as such, text never parsed as numbers."""
    wanted = contract.columns if names is None else [n for n in names if n in contract.columns]
    return {name: {"int64": "int64", "float64": "float64"}.get(contract.dtype(name), "str") for name in wanted}


def read(path: str | Path, contract: Contract) -> pd.DataFrame:
    """Read a CSV that passed `check` (a prepared split, the configured current batch) with the contract's dtypes."""
    try:
        return pd.read_csv(path, dtype=pandas_dtypes(contract, _header_names(path)))
    except FileNotFoundError:
        raise PipelineError(f"{path}: file not found") from None
    except (ValueError, pd.errors.ParserError) as exc:
        raise PipelineError(f"{path}: does not match {contract.path} ({exc}); run "
                            f"`python -m {__package__} check` for the details") from None


def _header_names(path: str | Path) -> list[str]:
    return list(pd.read_csv(path, nrows=0).columns)


# --------------------------------------------------------------------------- inference


@dataclass
class Inferred:
    """What infer-schema found: the column entries to write, and what the data showed."""

    target: str
    entries: dict[str, dict] = field(default_factory=dict)
    comments: dict[str, str] = field(default_factory=dict)  # `# observed: ...` per column
    seen: dict[str, Any] = field(default_factory=dict)  # (min, max) or the set of categories, per column
    warnings: list[str] = field(default_factory=list)


def infer(frame: pd.DataFrame, target: str, task: str, max_categories: int, source: str) -> Inferred:
    """The contract of a CSV read with plain pd.read_csv, with warnings for values that look wrong."""
    found = Inferred(target)
    entries, observed, warnings = found.entries, found.comments, found.warnings
    for name, values in frame.items():
        name = str(name)
        where = f"{source}: column '{name}'"
        dtype, numbers, bad = _infer_dtype(values)
        if bad.any():
            warnings.append(f"{where}: {int(bad.sum())} value(s) are not numbers in a column of numbers "
                            f"({_lines_and_values(values, bad)}); typed {dtype}, so `check` fails until you "
                            "fix them (or empty those cells and mark the column `nullable: true`)")
        if is_boolean(values) and name != target:
            # MLflow's clients read such a column as booleans, which the model's encoders do not take.
            warnings.append(f"{where}: True/False values; typed str, so write them as words (yes/no) or as 0/1, "
                            "or MLflow clients reading the CSV with pandas cannot score it")
        if name == target and task == "classification":
            dtype, numbers = "str", None  # labels are labels, even when they look like numbers
        elif name == target and dtype == "str":
            raise PipelineError(f"{where}: the target of a regression must be numbers, "
                                f"e.g. {_quote(values.dropna().head(SHOWN))}")
        entry: dict[str, Any] = {"dtype": dtype}
        missing = values.isna()
        if name == target:
            if missing.any():
                warnings.append(f"{where}: the target is missing on {int(missing.sum())} row(s) "
                                f"({_lines(missing)}); the target is never nullable, so `check` fails "
                                "until you fill in or drop those rows")
        elif missing.any():
            entry["nullable"] = True
        entry["coerce"] = True
        if numbers is not None:
            infinite = np.isinf(numbers)
            if infinite.any():
                warnings.append(f"{where}: {int(infinite.sum())} value(s) are infinite "
                                f"({_lines_and_values(values, infinite)}); numbers must be finite, so `check` "
                                "fails until you fix them")
            far = outliers(numbers[~infinite])
            if far.any():
                warnings.append(f"{where}: {int(far.sum())} extreme value(s) far outside the rest "
                                f"({_lines_and_values(values, far.reindex(values.index, fill_value=False))}); "
                                "check they are not typos or placeholder codes")
            observed[name] = _observed_range(numbers[~infinite], dtype)
            found.seen[name] = (numbers[~infinite].min(), numbers[~infinite].max())
        else:
            labels = sorted(values.dropna().astype(str).unique())
            if name == target:
                entry["isin"] = labels
                if len(labels) > max_categories:
                    warnings.append(f"{where}: {len(labels)} distinct labels: is `task: classification` right?")
            observed[name] = _observed_categories(labels, max_categories)
            found.seen[name] = set(labels)
        if missing.any():
            observed[name] += f"; {int(missing.sum())} missing"
        entries[name] = entry
    return found


def is_boolean(values: pd.Series) -> bool:
    """True/False cells, which pandas reads as booleans (without gaps) or as Python bools (with gaps)."""
    present = values.dropna()
    return pd.api.types.is_bool_dtype(values) or (
        len(present) > 0 and values.dtype == object and present.map(lambda v: isinstance(v, bool)).all())


def _infer_dtype(values: pd.Series) -> tuple[str, pd.Series | None, pd.Series]:
    """(dtype, the values as numbers or None, mask of cells that are text in a column of numbers)."""
    no_text = pd.Series(False, index=values.index)
    if is_boolean(values):
        return "str", None, no_text
    if pd.api.types.is_numeric_dtype(values):
        # pandas reads an integer column as int64 only when no value is missing: just what MLflow's clients see.
        return ("int64" if pd.api.types.is_integer_dtype(values) else "float64"), values.astype("float64"), no_text
    present = values.dropna()
    numbers = pd.to_numeric(present, errors="coerce")
    if len(present) == 0 or numbers.notna().mean() < NUMERIC_SHARE:
        return "str", None, no_text
    bad = (values.notna() & pd.to_numeric(values, errors="coerce").isna())
    integral = numbers.dropna().mod(1).eq(0).all() and not values.isna().any()
    return ("int64" if integral else "float64"), pd.to_numeric(values, errors="coerce"), bad


def outliers(numbers: pd.Series) -> pd.Series:
    """Values more than OUTLIER_SPREADS interquartile ranges beyond the quartiles (a typo, a sentinel, 1e308)."""
    present = numbers.dropna()
    if len(present) < 10:
        return pd.Series(False, index=numbers.index)
    q1, q3 = present.quantile([0.25, 0.75])
    spread = (q3 - q1) or (present.quantile(0.99) - present.quantile(0.01)) or max(abs(present.median()), 1.0)
    return (numbers < q1 - OUTLIER_SPREADS * spread) | (numbers > q3 + OUTLIER_SPREADS * spread)


def _observed_range(numbers: pd.Series, dtype: str) -> str:
    present = numbers.dropna()
    if present.empty:
        return "observed: no values"
    low, high = present.min(), present.max()
    if dtype == "int64":
        return f"observed: {int(low)} to {int(high)}"
    return f"observed: {low:.6g} to {high:.6g}"


def _observed_categories(labels: list[str], max_categories: int) -> str:
    if len(labels) > max_categories:
        return f"observed: {len(labels)} distinct values"
    shown = ", ".join(labels)
    return f"observed: {shown}" if len(shown) <= 80 else f"observed: {len(labels)} values: {shown[:77]}..."


def lines(mask: pd.Series) -> list[int]:
    """CSV line numbers of the rows where mask is true (the header is line 1; index = row position)."""
    return [int(i) + 2 for i in mask[mask].index]


def _lines(mask: pd.Series) -> str:
    found = lines(mask)
    more = f" and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
    return f"line{'s' if len(found) > 1 else ''} {', '.join(map(str, found[:SHOWN]))}{more}"


def _lines_and_values(values: pd.Series, mask: pd.Series) -> str:
    return f"{_lines(mask)}: {_quote(values[mask].drop_duplicates().head(SHOWN))}"


def _quote(values: pd.Series) -> str:
    return ", ".join(repr(v.item() if hasattr(v, "item") else v) for v in values)


# --------------------------------------------------------------------------- writing


def write(path: str | Path, inferred: Inferred) -> list[str]:
    """Write schema.yaml, keeping the old file's comments and settings, and the rules declared on columns that remain.

    ruamel.yaml reads the old file with its comments and writes it back with the columns replaced.
    Returns the names of the columns whose declared rules were kept.
    """
    from ruamel.yaml.comments import CommentedMap

    path = Path(path)
    kept = []
    old = _old(path)
    if old is not None:
        for name, entry in inferred.entries.items():
            rules = old.rules(name) if name in old.columns else {}
            rules = {k: v for k, v in rules.items() if not _was_inferred(k, v, inferred.seen.get(name))
                     and not (name == inferred.target and k == "isin")}  # the labels come from the data
            if rules:
                entry.update(rules)
                kept.append(name)
    document = _document(path, old)
    columns = CommentedMap()
    for name, entry in inferred.entries.items():
        key = _flow(name)  # a column named `yes` or `007` stays a string for PyYAML too
        columns[key] = _flow(entry)
        role = "the target: never nullable" if name == inferred.target else None
        if note := "; ".join(filter(None, [role, inferred.comments.get(name)])):
            # Two spaces after the entry: the column of `#` counts the two-space indent of the entry's line.
            columns.yaml_add_eol_comment(note, key, column=len(_dump({key: columns[key]}).rstrip("\n")) + 4)
    document["columns"] = columns
    # The previous template's two-line header is replaced; any other is the user's and stays in the document.
    header = HEADER if old is None or old.header.startswith(LEGACY_HEADER) or not old.header else ""
    if header:
        document.ca.comment = None
    path.write_text(header + _dump(document), encoding="utf-8")
    return kept


def _yaml():
    from ruamel.yaml import YAML

    round_trip = YAML()
    round_trip.width = 10**6  # one line per column
    round_trip.preserve_quotes = True
    return round_trip


def _dump(document: object) -> str:
    stream = io.StringIO()
    _yaml().dump(document, stream)
    return stream.getvalue()


def _document(path: Path, old: Contract | None):
    """The old file with its comments and settings (ruamel.yaml), or a new one when there is none to keep."""
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.error import YAMLError

    if old is not None:
        try:
            document = _yaml().load(path.read_text())
        except YAMLError:
            document = None  # PyYAML read it, ruamel.yaml does not: replaced whole
        if isinstance(document, CommentedMap):
            return document
    return CommentedMap([("schema_type", "dataframe"), ("api", "pandas"), ("columns", None), ("strict", True),
                         ("name", "data")])


def _flow(value: Any) -> Any:
    """A column entry as a one-line flow mapping, with strings quoted where PyYAML would read them otherwise."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.scalarstring import SingleQuotedScalarString

    if isinstance(value, dict):
        node = CommentedMap((str(k), _flow(v)) for k, v in value.items())
    elif isinstance(value, (list, tuple)):
        node = CommentedSeq(_flow(v) for v in value)
    elif isinstance(value, str) and yaml.safe_dump(value, allow_unicode=True).startswith(("'", '"')):
        # pandera reads the file with PyYAML (YAML 1.1): there yes, no, on, off and 007 are not strings.
        return SingleQuotedScalarString(value)
    else:
        return value
    node.fa.set_flow_style()
    return node


LEGACY_HEADER = "# Data contract enforced on every run by"


def _old(path: Path) -> Contract | None:
    try:
        return load(path) if path.is_file() else None
    except PipelineError:
        return None  # unreadable: replaced whole


def _was_inferred(rule: str, value: Any, seen: Any) -> bool:
    """An earlier infer-schema wrote the observed range or categories as rules; they are findings now."""
    if rule == "in_range" and isinstance(value, dict) and isinstance(seen, tuple):
        return (value.get("min_value"), value.get("max_value")) == tuple(float(v) for v in seen)
    return rule == "isin" and isinstance(seen, set) and set(map(str, value or [])) == seen


# --------------------------------------------------------------------------- serving and MLflow


# pandera check -> (its statistic, the input_schema.json key the server turns into a bound)
BOUND_CHECKS = {
    "greater_than_or_equal_to": ("min_value", "minimum"),
    "greater_than": ("min_value", "exclusive_minimum"),
    "less_than_or_equal_to": ("max_value", "maximum"),
    "less_than": ("max_value", "exclusive_maximum"),
}


def input_schema(params: dict, features: list[str] | None = None) -> list[dict]:
    """The model's input columns for serving (input_schema.json): dtype, nullability and the declared bounds
    and categories, as pandera reads them. `features`: the model's columns (default: all but the target)."""
    path = params["data"]["schema"]
    schema = pandera_schema(path)
    target = params["data"]["target"]
    names = features or [name for name in schema.columns if name != target]
    missing = [name for name in names if name not in schema.columns]
    if missing:
        raise PipelineError(f"{path}: no column(s) {', '.join(missing)}, which the model takes as input")
    return [_input_column(name, schema.columns[name]) for name in names]


def _input_column(name: str, column: Any) -> dict:
    # Numbers (int64 or float64 in the contract) are float64 for the API, which accepts integers as numbers.
    entry: dict[str, Any] = {"name": name, "dtype": "float64" if str(column.dtype) in NUMERIC else "str",
                             "nullable": bool(column.nullable)}
    for check in column.checks:
        stats = check.statistics or {}
        if entry["dtype"] == "float64" and check.name == "in_range":
            entry["minimum" if stats.get("include_min", True) else "exclusive_minimum"] = float(stats["min_value"])
            entry["maximum" if stats.get("include_max", True) else "exclusive_maximum"] = float(stats["max_value"])
        elif entry["dtype"] == "float64" and check.name in BOUND_CHECKS:
            statistic, key = BOUND_CHECKS[check.name]
            entry[key] = float(stats[statistic])
        elif entry["dtype"] == "str" and check.name == "isin":
            entry["allowed"] = sorted(str(value) for value in stats["allowed_values"])
    return entry


MLFLOW_TYPES = {"int64": "long", "float64": "double", "str": "string"}


def model_signature(params: dict, features: list[str]):
    """The MLflow signature of a model trained on `features`, typed from the contract in data.schema.

    Typed as pandas reads the raw CSV (integers without gaps are long, not double), so
    `mlflow models predict -t csv` and `pyfunc.predict(pd.read_csv(...))` accept the file the model
    was trained from: MLflow refuses to cast int64 to double. Log the model with it, and with an
    input example read by `read` (same dtypes).
    """
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    contract = load(params["data"]["schema"])
    inputs = Schema([ColSpec(MLFLOW_TYPES[contract.dtype(name)], name) for name in features])
    outputs = Schema([ColSpec("string" if params["task"] == "classification" else "double")])
    return ModelSignature(inputs=inputs, outputs=outputs)
