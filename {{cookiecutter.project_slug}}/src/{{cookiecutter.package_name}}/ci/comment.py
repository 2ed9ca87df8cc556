"""Post the pipeline report as one pull-request comment, updated in place on every push.

Runs in the `workflow_run` job that holds a write token and never checks out PR code. What it
reads comes from the PR's artifact, so it is untrusted: the PR number must be a positive integer,
the body is cut to GitHub's comment limit and always starts with our hidden marker.

HTTP goes through the one GitHub client (github.py): the job with write access installs no
third-party client, and the client retries what GitHub asks to be retried.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import PipelineError
from .github import DEFAULT_API, GitHub, GitHubError  # noqa: F401 (GitHubError: what callers catch)
from .report import COMMENT_LIMIT, MARKER, PR_NUMBER_FILE, parse_pr_number, truncate

MAX_REPORT_BYTES = 4 * 1024 * 1024  # an artifact's report.md larger than this is not read


def ours(comment: dict, marker: str = MARKER) -> bool:
    """A comment this poster wrote: it starts with the marker and was written by a bot (not quoted by a person)."""
    user = comment.get("user")
    by_bot = not isinstance(user, dict) or user.get("type") == "Bot"
    return by_bot and str(comment.get("body") or "").lstrip().startswith(marker)


def prepare_body(text: str, marker: str = MARKER) -> str:
    """The marker first, then the report, within the comment limit."""
    text = text.replace("\r\n", "\n").strip("\n")
    if not text.startswith(marker):
        text = f"{marker}\n{text}"
    body, _ = truncate(text + "\n", COMMENT_LIMIT, "characters", "comment")
    return body


def read_report(source: Path) -> tuple[int, str]:
    """(PR number, body) from the report directory, validated: its content came from the PR."""
    number_file, report = source / PR_NUMBER_FILE, source / "report.md"
    for path in (number_file, report):
        if not path.is_file():
            raise PipelineError(f"{path}: not found; is {source} the downloaded report artifact?")
    if number_file.stat().st_size > 64:
        raise PipelineError(f"{number_file}: expected a positive integer, got {number_file.stat().st_size} bytes")
    pr = parse_pr_number(number_file.read_text(errors="replace"), str(number_file))
    if report.stat().st_size > MAX_REPORT_BYTES:
        raise PipelineError(f"{report}: larger than {MAX_REPORT_BYTES:,} bytes; not posting it")
    return pr, report.read_text(encoding="utf-8", errors="replace")


def post(
    source: Path | str,
    *,
    repo: str | None = None,
    token: str | None = None,
    api_url: str | None = None,
    head_sha: str | None = None,
    expect_pr: object = None,
    env: dict | None = None,
) -> dict:
    """Create the PR's report comment, or update the one that carries the marker. Returns what happened."""
    env = os.environ if env is None else env
    pr, text = read_report(Path(source))
    if expect_pr not in (None, "") and parse_pr_number(expect_pr, "--expect-pr") != pr:
        raise PipelineError(f"the artifact names PR #{pr}, but this run belongs to PR #{expect_pr}; not posting")
    client = GitHub(
        token if token is not None else env.get("GITHUB_TOKEN", ""),
        repo or env.get("GITHUB_REPOSITORY", ""),
        api_url or env.get("GITHUB_API_URL") or DEFAULT_API,
        purpose="a token with pull-requests: write",
    )
    if head_sha:
        current = client.pull_head_sha(pr)
        if current != head_sha:
            return {"action": "skipped", "pr": pr, "comment_id": None,
                    "reason": f"PR #{pr} head is {current[:12] or 'unknown'}, not the reported {head_sha[:12]}: "
                              "the report is stale or names another PR"}
    body = prepare_body(text)
    mine = sorted((c for c in client.comments(pr) if ours(c)), key=lambda c: int(c.get("id", 0)))
    if mine:
        comment_id = int(mine[0]["id"])
        if str(mine[0].get("body", "")) == body:
            return {"action": "unchanged", "pr": pr, "comment_id": comment_id, "duplicates": len(mine) - 1}
        updated = client.update_comment(comment_id, body)
        return {"action": "updated", "pr": pr, "comment_id": comment_id, "url": updated.get("html_url"),
                "duplicates": len(mine) - 1}
    created = client.create_comment(pr, body)
    return {"action": "created", "pr": pr, "comment_id": created.get("id"), "url": created.get("html_url"),
            "duplicates": 0}
