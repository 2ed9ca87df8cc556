"""Post the pipeline report as one pull-request comment, updated in place on every push.

Runs in the `workflow_run` job that holds a write token and never checks out PR code. What it
reads comes from the PR's artifact, so it is untrusted: the PR number must be a positive integer,
the body is cut to GitHub's comment limit and always starts with our hidden marker.

HTTP is urllib from the standard library, on purpose: the one job with write access installs no
third-party client, and this is four REST calls. Redirects are refused (they would carry the token
elsewhere), every request has a timeout, and every error names the method, endpoint and status.
GITHUB_API_URL (set by GitHub Actions; https://api.github.com by default) is honoured, so GitHub
Enterprise works and tests can point the poster at a local stand-in.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from ..errors import PipelineError
from ..paths import PR_NUMBER_FILE, REPORT
from .markdown import COMMENT_LIMIT, MARKER, REPO, parse_pr_number, truncate

DEFAULT_API = "https://api.github.com"
PER_PAGE = 100
MAX_PAGES = 50  # 5,000 comments: far beyond any real pull request
TIMEOUT = 30  # seconds per request
MAX_REPORT_BYTES = 4 * 1024 * 1024  # an artifact's report.md larger than this is not read
LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="next"')


class GitHubError(PipelineError):
    """A GitHub API call failed: the message names the method, endpoint and HTTP status."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # the 3xx response surfaces as an HTTPError, reported with its endpoint


class GitHub:
    """The issue-comment endpoints of GitHub's REST API, and nothing else."""

    def __init__(self, token: str, repo: str, api_url: str | None = None, timeout: float = TIMEOUT):
        api_url = (api_url or DEFAULT_API).rstrip("/")
        parts = urllib.parse.urlsplit(api_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise PipelineError(f"GITHUB_API_URL: expected an http(s) URL, got {api_url!r}")
        if not REPO.fullmatch(repo or ""):
            raise PipelineError(f"GITHUB_REPOSITORY: expected owner/name, got {repo!r}")
        if not token:
            raise PipelineError("GITHUB_TOKEN is not set: the poster needs a token with pull-requests: write")
        self.api, self.repo, self.timeout = api_url, repo, timeout
        self._origin = (parts.scheme, parts.netloc)
        self._token = token
        self._opener = urllib.request.build_opener(_NoRedirect)

    def request(self, method: str, path_or_url: str, body: dict | None = None) -> tuple[object, dict]:
        """(decoded JSON, response headers); GitHubError on any failure."""
        url = path_or_url if "://" in path_or_url else self.api + path_or_url
        endpoint = urllib.parse.urlsplit(url).path
        if urllib.parse.urlsplit(url)[:2] != self._origin:
            raise GitHubError(f"{method} {url}: refusing to send the token outside {self.api}")
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method, headers={
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {self._token}",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": f"{__name__.split('.')[0]}-report-poster",
            **({"Content-Type": "application/json"} if data is not None else {}),
        })
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                raw, headers = response.read(), dict(response.headers)
        except urllib.error.HTTPError as exc:
            detail = ""
            try:
                detail = json.loads(exc.read() or b"{}").get("message", "")
            except (ValueError, AttributeError):
                pass
            hint = {401: " (bad or expired token)", 403: " (the token lacks pull-requests: write, or rate limited)",
                    404: " (no such repository or pull request, or the token cannot see it)"}.get(exc.code, "")
            raise GitHubError(
                f"GitHub API {method} {endpoint} failed: HTTP {exc.code}{hint}" + (f": {detail}" if detail else "")
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise GitHubError(f"GitHub API {method} {endpoint}: could not reach {self.api}: {reason}") from None
        try:
            return (json.loads(raw) if raw else None), headers
        except ValueError:
            raise GitHubError(f"GitHub API {method} {endpoint}: the response is not JSON") from None

    def comments(self, pr: int) -> list[dict]:
        """Every comment on the PR (issue comments), following the Link header page by page."""
        url: str | None = f"/repos/{self.repo}/issues/{pr}/comments?per_page={PER_PAGE}"
        found: list[dict] = []
        for _ in range(MAX_PAGES):
            if url is None:
                return found
            page, headers = self.request("GET", url)
            if not isinstance(page, list):
                raise GitHubError(f"GitHub API GET /repos/{self.repo}/issues/{pr}/comments: expected a list")
            found += [c for c in page if isinstance(c, dict)]
            links = {k.lower(): v for k, v in headers.items()}.get("link", "")
            match = LINK_NEXT.search(links)
            url = match.group(1) if match else None
        raise GitHubError(f"GitHub API GET /repos/{self.repo}/issues/{pr}/comments: more than {MAX_PAGES} pages")

    def create(self, pr: int, body: str) -> dict:
        created, _ = self.request("POST", f"/repos/{self.repo}/issues/{pr}/comments", {"body": body})
        return created if isinstance(created, dict) else {}

    def update(self, comment_id: int, body: str) -> dict:
        updated, _ = self.request("PATCH", f"/repos/{self.repo}/issues/comments/{comment_id}", {"body": body})
        return updated if isinstance(updated, dict) else {}

    def pull_head_sha(self, pr: int) -> str:
        pull, _ = self.request("GET", f"/repos/{self.repo}/pulls/{pr}")
        return str((pull or {}).get("head", {}).get("sha", "")) if isinstance(pull, dict) else ""


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
    number_file, report = source / PR_NUMBER_FILE, source / REPORT
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
        updated = client.update(comment_id, body)
        return {"action": "updated", "pr": pr, "comment_id": comment_id, "url": updated.get("html_url"),
                "duplicates": len(mine) - 1}
    created = client.create(pr, body)
    return {"action": "created", "pr": pr, "comment_id": created.get("id"), "url": created.get("html_url"),
            "duplicates": 0}
