"""The template README stays true: its variable table matches cookiecutter.json, and its level table
names exactly the workflows each level generates."""

from __future__ import annotations

import re
import sys

import pytest
from conftest import TASKS, TEMPLATE

sys.path.insert(0, str(TEMPLATE / "scripts"))
from variables_table import table  # noqa: E402

README = (TEMPLATE / "README.md").read_text()


def test_readme_opens_with_the_two_commands():
    commands = re.search(r"```bash\n(.*?)```", README, re.S).group(1).splitlines()
    assert [c.split("#")[0].strip() for c in commands] == ["make demo", "make test"]


def test_variables_table_matches_cookiecutter_json():
    assert table() in README


def level_rows() -> dict[str, set[str]]:
    rows = {}
    for level in "012":
        line = next(ln for ln in README.splitlines() if ln.startswith(f"| {level}: "))
        rows[level] = set(re.findall(r"`([a-z-]+\.yml)`", line.split("|")[2]))
    return rows


@pytest.mark.parametrize("level", "012")
def test_level_table_names_the_generated_workflows(rendered, level):
    _, project = rendered(level, TASKS[int(level) % 2])
    rows = level_rows()
    named = set().union(*(rows[lower] for lower in "012"[: int(level) + 1]))
    generated = {p.name for p in (project / ".github/workflows").glob("*.yml")}
    assert named == generated


def test_readme_shows_the_example_report():
    example = (TEMPLATE / "docs/example-report.md").read_text().split("\n---\n", 1)[1].strip()
    assert example in README
    assert "### Metrics: candidate vs champion" in example and "### Gate verdict" in example
