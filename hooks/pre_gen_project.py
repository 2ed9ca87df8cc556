"""Reject bad answers before anything is written.

Cookiecutter renders this file first, so the answers below arrive as a JSON literal. On a bad answer
we print one message naming the variable and the value and exit non-zero; cookiecutter then
removes the half-made project directory.
"""

import json
import keyword
import re
import sys

# tojson escapes quotes, so no answer can break out of this string literal.
ANSWERS = json.loads(r'''{{ cookiecutter | tojson }}''')

SUPPORTED_PYTHONS = ("3.10", "3.11", "3.12", "3.13")
# minute, hour, day of month, month, day of week: (low, high) and the names cron accepts.
CRON_FIELDS = [
    (0, 59, ()),
    (0, 23, ()),
    (1, 31, ()),
    (1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")),
    (0, 6, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")),
]


def cron_problem(expression: str) -> str:
    """Why `expression` is not a 5-field cron schedule as GitHub Actions accepts it ('' if it is)."""
    fields = expression.split()
    if len(fields) != 5:
        return f"needs 5 fields (minute hour day month weekday), got {len(fields)}"
    for text, (low, high, names) in zip(fields, CRON_FIELDS, strict=True):
        for part in text.split(","):
            base, _, step = part.partition("/")
            if step and not (step.isdigit() and int(step) > 0):
                return f"bad step in '{part}'"
            if base == "*":
                continue
            for bound in base.split("-", 1):
                value = names.index(bound.lower()) + low if bound.lower() in names else None
                if value is None and bound.isdigit():
                    value = int(bound)
                if value is None or not low <= value <= high:
                    return f"'{bound}' in '{part}' is not in {low}-{high}"
    return ""


def share_problem(text: str) -> str:
    try:
        value = float(text)
    except ValueError:
        return "is not a number"
    return "" if 0 <= value <= 1 else "is not between 0 and 1"


def problems(a: dict) -> list[str]:
    found = []
    if not re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", a["project_slug"]):
        found.append(("project_slug", "must be lowercase letters and digits separated by single dashes"))
    name = a["package_name"]
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name) or keyword.iskeyword(name):
        found.append(("package_name", "must be a lowercase Python identifier that is not a keyword"))
    if a["python_version"] not in SUPPORTED_PYTHONS:
        found.append(("python_version", f"must be one of {', '.join(SUPPORTED_PYTHONS)}"))
    if a["mlops_level"] not in ("0", "1", "2"):
        found.append(("mlops_level", "must be 0, 1 or 2"))
    if a["task"] not in ("classification", "regression"):
        found.append(("task", "must be classification or regression"))
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", a["target_column"]):
        found.append(("target_column", "must start with a letter or _ and use only letters, digits, _ . -"))
    for key in ("gate_min_score", "gate_max_drop", "drift_share_threshold"):
        if why := share_problem(a[key]):
            found.append((key, why))
    for key in ("retrain_cron", "drift_cron", "batch_cron"):
        if why := cron_problem(a[key]):
            found.append((key, f"is not a valid cron schedule: {why}"))
    uri = a["mlflow_tracking_uri"]
    if uri and not re.fullmatch(r"(https?|sqlite|file|databricks)://?\S*|databricks", uri):
        found.append(("mlflow_tracking_uri", "must be empty, http(s)://, sqlite:///, file:// or databricks"))
    remote = a["dvc_remote"]
    if remote != "none" and (re.match(r"[a-z0-9+]+://", remote) and not re.match(r"(s3|gs|azure|ssh)://\S+$", remote)):
        found.append(("dvc_remote", "must be none, a local path, or an s3://, gs://, azure:// or ssh:// URL"))
    if not remote.strip() or any(c.isspace() for c in remote):
        found.append(("dvc_remote", "must be none, a local path, or a URL, with no spaces"))
    if not re.fullmatch(r"[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)*", a["container_registry"]):
        found.append(("container_registry", "must be a registry host such as ghcr.io"))
    if a["deploy_target"] not in ("swarm", "kubernetes", "none"):
        found.append(("deploy_target", "must be swarm, kubernetes or none"))
    if not re.fullmatch(r"[A-Za-z0-9](-?[A-Za-z0-9])*", a["github_owner"]):
        found.append(("github_owner", "must be a GitHub user or organisation name"))
    return [f"{key}={a[key]!r}: {why}" for key, why in found]


if __name__ == "__main__":
    bad = problems(ANSWERS)
    if bad:
        print("ERROR: invalid answer(s):\n  " + "\n  ".join(bad), file=sys.stderr)
        sys.exit(1)
    if ANSWERS["github_owner"] == "your-org":  # the default: CODEOWNERS would name a team nobody is in
        print("WARNING: github_owner is left at 'your-org': .github/CODEOWNERS will name @your-org, so no one owns "
              ".github/, champion.json or params.yaml. Edit .github/CODEOWNERS, or generate again with "
              "github_owner=<your GitHub user or organisation>. (Image names come from the repository at run "
              "time, so nothing else depends on it.)", file=sys.stderr)
