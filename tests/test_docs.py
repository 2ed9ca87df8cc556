"""The generated docs stay true to the code, at every level: each message docs/troubleshooting.md quotes
is one the code can print, and each CLI command and option the docs mention is in the CLI's --help."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import COMBOS

TEXT_BLOCK = re.compile(r"```text\n(.*?)\n```", re.S)
PLACEHOLDER = re.compile(r"<[^<>\s]+>")
CLI_CALL = re.compile(r"python -m ([a-z_][a-z0-9_]*) ([a-z][a-z-]+)([^`|\n]*)")
TABLE_COMMAND = re.compile(r"^\| `([a-z][a-z-]+)((?: [^`]*)?)` \|", re.M)
OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z-]+)")


def source_strings(project: Path) -> list[str]:
    """Every string the package can print: its literals (f-string values as NUL), templates and workflows."""
    found = []
    for path in (project / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.append(node.value)
            elif isinstance(node, ast.JoinedStr):
                found.append("".join(v.value if isinstance(v, ast.Constant) else "\0" for v in node.values))
    found += [p.read_text() for p in (project / "src").rglob("*.j2")]
    found += [p.read_text() for p in (project / ".github").rglob("*.yml")]
    return found


@pytest.mark.parametrize(("level", "task"), COMBOS)
def test_troubleshooting_quotes_messages_the_code_prints(rendered, level, task):
    _, project = rendered(level, task)
    doc = (project / "docs/troubleshooting.md").read_text()
    quoted = TEXT_BLOCK.findall(doc)
    assert len(quoted) >= (5 if level == "2" else 3), quoted
    strings = source_strings(project)
    for message in quoted:
        for fragment in PLACEHOLDER.split(message):
            fragment = fragment.strip()
            if len(fragment) < 6:  # "error: " and such join the pieces; too short to mean anything alone
                continue
            assert any(fragment in s for s in strings), f"docs/troubleshooting.md quotes {fragment!r}: not in the code"


def cli_help(project: Path, package: str) -> dict[str, str]:
    script = (f"import json; from {package}.cli import build_parser\n"
              "p = build_parser(); sub = p._subparsers._group_actions[0]\n"
              "print(json.dumps({n: s.format_help() for n, s in sub.choices.items()}))")
    result = subprocess.run([sys.executable, "-c", script], cwd=project, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": "src"}, check=True)
    return json.loads(result.stdout)


@pytest.mark.parametrize(("level", "task"), COMBOS)
def test_every_cli_option_the_docs_mention_exists(rendered, level, task):
    _, project = rendered(level, task)
    package = next(p.name for p in (project / "src").iterdir() if (p / "cli.py").is_file())
    helps = cli_help(project, package)
    docs = [project / "README.md", project / "Makefile", *sorted((project / "docs").glob("*.md"))]
    mentioned: list[tuple[str, str, str]] = []
    for path in docs:
        text = path.read_text()
        mentioned += [(path.name, command, rest) for pkg, command, rest in CLI_CALL.findall(text) if pkg == package]
        if path.name == "README.md":
            mentioned += [(path.name, command, rest) for command, rest in TABLE_COMMAND.findall(text)]
    commands = {command for _, command, _ in mentioned}
    assert {"smoke", "export", "setup-github"} <= commands, commands
    for name, command, rest in mentioned:
        assert command in helps, f"{name}: `{command}` is not a command of the CLI ({sorted(helps)})"
        for option in OPTION.findall(rest):
            assert option in helps[command], f"{name}: `{command} {option}` is not in `{command} --help`"


@pytest.mark.parametrize(("level", "task"), COMBOS)
def test_readme_says_how_to_run_it_on_github(rendered, level, task):
    answers, project = rendered(level, task)
    readme = (project / "README.md").read_text()
    start = readme.index("## Running it on GitHub")
    assert start < readme.index("## What runs where") < readme.index("## GitHub setup")
    section = readme[start:readme.index("## What runs where")]
    steps = re.findall(r"^\d+\. \*\*(.+?)\*\*", section, re.M)
    assert steps[:2] == ["Create the repository and push.", "`setup-github`."], steps
    deploys = level == "2" and answers.get("deploy_target", "swarm") != "none"
    assert ("curl https://HOST/health" in section) == deploys
    assert ("The first promotion pull request." in steps) == (level != "0")
    assert "**What it costs**" in section and "estimate" in section and "### Glossary" in section
    for term in ("champion", "challenger", "current batch", "embedded store", "gate"):
        assert f"- **{term}**" in section, term
    table = readme[readme.index("| Level | Needed |"):readme.index("## Each step, locally")]
    rows = [line for line in table.splitlines() if re.match(r"\| \d \|", line)]
    assert rows and all(line.split("|")[2].strip() for line in rows)
    assert {line.split("|")[2].strip() for line in rows} >= {"optional", "automatic"} | (
        {"required"} if level != "0" else set())
