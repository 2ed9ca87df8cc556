"""Markdown that is safe to post on GitHub: untrusted values as inline code, prose escaped, text cut to
GitHub's limits at a line boundary with a note. The report, the comment poster and the drift issue use it.

Only the standard library: the jobs that hold write tokens import this too.
"""

from __future__ import annotations

import math
import os
import re

from .. import paths
from ..errors import PipelineError

PACKAGE = __name__.split(".")[0]
# Hidden first line of the comment: the poster finds its own comment by it and updates it in place.
MARKER = f"<!-- {PACKAGE}-report -->"
COMMENT_LIMIT = 65_536  # characters in an issue or PR comment body
SUMMARY_LIMIT = 1024 * 1024  # bytes of $GITHUB_STEP_SUMMARY per step
CELL = 60  # characters of an untrusted value shown in a table cell
PR_NUMBER = re.compile(r"[1-9][0-9]{0,9}")
REPO = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


def parse_pr_number(value: object, source: str = "PR number") -> int:
    """A positive integer, or PipelineError. The value may come from an untrusted artifact."""
    text = str(value).strip() if value is not None else ""
    if not PR_NUMBER.fullmatch(text) or int(text) > 2**31 - 1:
        shown = text[:40] + ("..." if len(text) > 40 else "")
        raise PipelineError(f"{source}: expected a positive integer, got {shown!r}")
    return int(text)


def code(value: object, limit: int = CELL) -> str:
    """An untrusted value as inline code that is safe in a table cell."""
    text = " ".join(str(value).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    text = text.replace("`", "'").replace("|", "\\|")
    return f"`{text}`" if text else "` `"


def number(value: object, digits: int = 4) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return code(value) if value is not None else "–"
    return f"{value:.{digits}f}"


def icon(ok: bool) -> str:
    return "✅" if ok else "❌"


def run_links(env: dict | None = None) -> dict[str, str]:
    """URLs of this workflow run and its artifacts, from the variables GitHub Actions sets."""
    env = os.environ if env is None else env
    server = env.get("GITHUB_SERVER_URL", "").rstrip("/")
    repo = env.get("GITHUB_REPOSITORY", "")
    run_id = env.get("GITHUB_RUN_ID", "")
    if not (re.fullmatch(r"https?://[^\s/]+", server) and REPO.fullmatch(repo) and run_id.isdigit()):
        return {}
    run = f"{server}/{repo}/actions/runs/{run_id}"
    return {"run": run, "artifacts": f"{run}#artifacts", "repo": f"{server}/{repo}"}


def _size(text: str, unit: str) -> int:
    return len(text.encode()) if unit == "bytes" else len(text)


def truncate(text: str, limit: int, unit: str = "characters", what: str = "comment") -> tuple[str, bool]:
    """Cut `text` at a line boundary so that it, with a closing note, fits `limit`; (text, was_cut).

    The note says how much was left out and where the full report is, so a reader knows.
    """
    if _size(text, unit) <= limit:
        return text, False

    def note(left_out: int) -> str:
        return (
            f"\n\n> [!WARNING]\n> Truncated to fit GitHub's limit for a {what} ({limit:,} {unit}): "
            f"{left_out:,} {unit} left out. The full report is `{paths.FULL_REPORT}` in the run's artifacts.\n"
        )

    total = _size(text, unit)
    budget = limit - _size(note(total), unit)
    if budget <= 0:
        raise ValueError(f"limit {limit} is too small for the truncation note")
    kept, used = [], 0
    for line in text.splitlines(keepends=True):
        size = _size(line, unit)
        if used + size > budget:
            if not kept:  # one huge first line: cut inside it
                kept.append(line.encode()[:budget].decode(errors="ignore") if unit == "bytes" else line[:budget])
            break
        kept.append(line)
        used += size
    body = "".join(kept).rstrip("\n")
    return body + note(total - _size(body, unit)), True


def plain(text: object, limit: int = 500) -> str:
    """Prose from our own outputs that may quote data: neutralise Markdown, HTML and mentions."""
    text = " ".join(str(text).split())[:limit]
    text = re.sub(r"([\\`*_{}\[\]<>#|~!])", r"\\\1", text)
    return text.replace("@", "@\u200b")
