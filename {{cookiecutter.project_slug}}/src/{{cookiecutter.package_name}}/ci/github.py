"""The one GitHub REST client: the calls the workflows and `setup-github` make, and nothing else.

Standard library only, on purpose: the jobs that hold write tokens install no third-party client.
Redirects are refused (they would carry the token elsewhere), every request has a timeout, and every
error names the method, endpoint and HTTP status. GITHUB_API_URL (set by GitHub Actions; by default
https://api.github.com) is honoured, so GitHub Enterprise works and tests can point it at a local fake.

Retries, as GitHub's REST guide asks: a secondary rate limit (403 or 429 with `retry-after`, or
`x-ratelimit-remaining: 0` until `x-ratelimit-reset`) is waited out and retried for every method, since
GitHub refused the request without doing it; a 502/503/504 is retried for every method; a 500 only for
methods that are safe to repeat (GET, PUT, PATCH, DELETE), so a POST never makes two issues or comments.
"""

from __future__ import annotations

import base64
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request

from ..errors import PipelineError

DEFAULT_API = "https://api.github.com"
REPO = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")  # owner/name, as GITHUB_REPOSITORY gives it
TIMEOUT = 30  # seconds per request
ATTEMPTS = 4  # one request and up to three retries
MAX_WAIT = 120  # seconds: a longer retry-after fails with the message instead of stalling the job
PER_PAGE = 100
MAX_PAGES = 50  # 5,000 items: far beyond any real pull request's comments
LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="next"')
IDEMPOTENT = {"GET", "PUT", "PATCH", "DELETE"}
HINTS = {401: " (bad or expired token)",
         403: " (the token lacks a permission this call needs, or a rate limit)",
         404: " (no such repository or resource, or the token cannot see it)"}


class GitHubError(PipelineError):
    """A GitHub API call failed: the message names the method, endpoint and HTTP status."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # the 3xx response surfaces as an HTTPError, reported with its endpoint


def retry_after(status: int, headers: dict, message: str, now: float | None = None) -> float | None:
    """Seconds to wait before retrying a rate-limited response, or None when it is not one."""
    headers = {k.lower(): v for k, v in headers.items()}
    if status not in (403, 429):
        return None
    if headers.get("retry-after", "").strip().isdigit():
        return float(headers["retry-after"])
    if headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset", "").isdigit():
        return max(0.0, float(headers["x-ratelimit-reset"]) - (time.time() if now is None else now))
    if "secondary rate limit" in message.lower():
        return 60.0  # GitHub: without a header, wait at least one minute
    return None


class GitHub:
    """GitHub's REST API for one repository, with a token."""

    def __init__(self, token: str, repo: str, api_url: str | None = None, timeout: float = TIMEOUT,
                 attempts: int = ATTEMPTS, sleep=time.sleep,
                 purpose: str = "a token with the permissions this job needs"):
        api_url = (api_url or DEFAULT_API).rstrip("/")
        parts = urllib.parse.urlsplit(api_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise PipelineError(f"GITHUB_API_URL: expected an http(s) URL, got {api_url!r}")
        if not REPO.fullmatch(repo or ""):
            raise PipelineError(f"GITHUB_REPOSITORY: expected owner/name, got {repo!r}")
        if not token:
            raise PipelineError(f"GITHUB_TOKEN is not set: this needs {purpose}")
        self.api, self.repo, self.timeout, self.attempts, self._sleep = api_url, repo, timeout, attempts, sleep
        self._origin = (parts.scheme, parts.netloc)
        self._token = token
        self._opener = urllib.request.build_opener(_NoRedirect)

    @classmethod
    def from_env(cls, env, purpose: str = "a token with the permissions this job needs", **kwargs) -> GitHub:
        return cls(env.get("GITHUB_TOKEN", ""), env.get("GITHUB_REPOSITORY", ""),
                   env.get("GITHUB_API_URL") or DEFAULT_API, purpose=purpose, **kwargs)

    # ------------------------------------------------------------------ transport

    def request(self, method: str, path_or_url: str, body: object = None) -> tuple[object, dict]:
        """(decoded JSON or None, response headers); GitHubError on any failure, after the retries."""
        url = path_or_url if "://" in path_or_url else self.api + path_or_url
        endpoint = urllib.parse.urlsplit(url).path
        if urllib.parse.urlsplit(url)[:2] != self._origin:
            raise GitHubError(f"{method} {url}: refusing to send the token outside {self.api}")
        data = json.dumps(body).encode() if body is not None else None
        for attempt in range(1, self.attempts + 1):
            request = urllib.request.Request(url, data=data, method=method, headers={
                "Accept": "application/vnd.github+json",
                "Authorization": f"Bearer {self._token}",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": f"{__name__.split('.')[0]}-ci",
                **({"Content-Type": "application/json"} if data is not None else {}),
            })
            try:
                with self._opener.open(request, timeout=self.timeout) as response:
                    raw, headers = response.read(), dict(response.headers)
                break
            except urllib.error.HTTPError as exc:
                detail = ""
                try:
                    detail = str(json.loads(exc.read() or b"{}").get("message", ""))
                except (ValueError, AttributeError):
                    pass
                wait = retry_after(exc.code, dict(exc.headers or {}), detail)
                if wait is None and (exc.code in (502, 503, 504) or (exc.code == 500 and method in IDEMPOTENT)):
                    wait = float(2 ** (attempt - 1))  # 1, 2, 4 seconds
                if wait is not None and wait <= MAX_WAIT and attempt < self.attempts:
                    self._sleep(wait)
                    continue
                limited = " (rate limited; retries exhausted)" if wait is not None and exc.code in (403, 429) else ""
                hint = limited or HINTS.get(exc.code, "")
                raise GitHubError(f"GitHub API {method} {endpoint} failed: HTTP {exc.code}{hint}"
                                  + (f": {detail}" if detail else ""), exc.code) from None
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                raise GitHubError(f"GitHub API {method} {endpoint}: could not reach {self.api}: {reason}") from None
        try:
            return (json.loads(raw) if raw else None), headers
        except ValueError:
            raise GitHubError(f"GitHub API {method} {endpoint}: the response is not JSON") from None

    def paged(self, path: str, key: str | None = None) -> list[dict]:
        """Every item of a list endpoint, following the Link header page by page."""
        url: str | None = path + ("&" if "?" in path else "?") + f"per_page={PER_PAGE}"
        found: list[dict] = []
        for _ in range(MAX_PAGES):
            if url is None:
                return found
            page, headers = self.request("GET", url)
            items = page.get(key) if key and isinstance(page, dict) else page
            if not isinstance(items, list):
                raise GitHubError(f"GitHub API GET {path.split('?')[0]}: expected a list")
            found += [item for item in items if isinstance(item, dict)]
            match = LINK_NEXT.search({k.lower(): v for k, v in headers.items()}.get("link", ""))
            url = match.group(1) if match else None
        raise GitHubError(f"GitHub API GET {path.split('?')[0]}: more than {MAX_PAGES} pages")

    def _get_or_none(self, path: str) -> dict | None:
        try:
            found, _ = self.request("GET", path)
        except GitHubError as exc:
            if exc.status == 404:
                return None
            raise
        return found if isinstance(found, dict) else None

    # ------------------------------------------------------------------ comments, issues, dispatch

    def comments(self, number: int) -> list[dict]:
        return self.paged(f"/repos/{self.repo}/issues/{number}/comments")

    def create_comment(self, number: int, body: str) -> dict:
        created, _ = self.request("POST", f"/repos/{self.repo}/issues/{number}/comments", {"body": body})
        return created if isinstance(created, dict) else {}

    def update_comment(self, comment_id: int, body: str) -> dict:
        updated, _ = self.request("PATCH", f"/repos/{self.repo}/issues/comments/{comment_id}", {"body": body})
        return updated if isinstance(updated, dict) else {}

    def pull_head_sha(self, number: int) -> str:
        pull, _ = self.request("GET", f"/repos/{self.repo}/pulls/{number}")
        return str((pull or {}).get("head", {}).get("sha", "")) if isinstance(pull, dict) else ""

    def open_issues(self, label: str) -> list[dict]:
        """Open issues with the label (pull requests, which the endpoint also lists, left out)."""
        label = urllib.parse.quote(label, safe="")
        return [i for i in self.paged(f"/repos/{self.repo}/issues?state=open&labels={label}")
                if "pull_request" not in i]

    def create_issue(self, title: str, body: str, labels: list[str]) -> dict:
        created, _ = self.request("POST", f"/repos/{self.repo}/issues", {"title": title, "body": body,
                                                                         "labels": labels})
        return created if isinstance(created, dict) else {}

    def dispatch(self, workflow: str, ref: str, inputs: dict | None = None) -> None:
        self.request("POST", f"/repos/{self.repo}/actions/workflows/{workflow}/dispatches",
                     {"ref": ref, "inputs": inputs or {}})

    # ------------------------------------------------------------------ deployments

    def create_deployment(self, **fields) -> int:
        created, _ = self.request("POST", f"/repos/{self.repo}/deployments", fields)
        deployment = created.get("id") if isinstance(created, dict) else None
        if not deployment:
            raise GitHubError(f"GitHub API POST /repos/{self.repo}/deployments: no deployment id returned")
        return int(deployment)

    def deployment_status(self, deployment: int, **fields) -> None:
        self.request("POST", f"/repos/{self.repo}/deployments/{deployment}/statuses", fields)

    # ------------------------------------------------------------------ repository settings (setup-github)

    def repository(self) -> dict:
        found, _ = self.request("GET", f"/repos/{self.repo}")
        return found if isinstance(found, dict) else {}

    def environment(self, name: str) -> dict | None:
        return self._get_or_none(f"/repos/{self.repo}/environments/{urllib.parse.quote(name, safe='')}")

    def put_environment(self, name: str, settings: dict) -> dict:
        done, _ = self.request("PUT", f"/repos/{self.repo}/environments/{urllib.parse.quote(name, safe='')}",
                               settings)
        return done if isinstance(done, dict) else {}

    def _variables_path(self, environment: str | None) -> str:
        if environment:
            return f"/repos/{self.repo}/environments/{urllib.parse.quote(environment, safe='')}/variables"
        return f"/repos/{self.repo}/actions/variables"

    def variables(self, environment: str | None = None) -> dict[str, str]:
        found = self.paged(self._variables_path(environment), key="variables")
        return {str(v.get("name")): str(v.get("value", "")) for v in found}

    def set_variable(self, name: str, value: str, environment: str | None = None, exists: bool = False) -> None:
        path = self._variables_path(environment)
        if exists:
            self.request("PATCH", f"{path}/{name}", {"name": name, "value": value})
        else:
            self.request("POST", path, {"name": name, "value": value})

    def _secrets_path(self, environment: str | None) -> str:
        if environment:
            return f"/repos/{self.repo}/environments/{urllib.parse.quote(environment, safe='')}/secrets"
        return f"/repos/{self.repo}/actions/secrets"

    def secret_names(self, environment: str | None = None) -> set[str]:
        return {str(s.get("name")) for s in self.paged(self._secrets_path(environment), key="secrets")}

    def set_secret(self, name: str, value: str, environment: str | None = None) -> None:
        """Encrypt the value with the repository's (or environment's) public key, then store it."""
        key, _ = self.request("GET", f"{self._secrets_path(environment)}/public-key")
        if not isinstance(key, dict) or not key.get("key") or not key.get("key_id"):
            raise GitHubError(f"GitHub API GET {self._secrets_path(environment)}/public-key: no key returned")
        self.request("PUT", f"{self._secrets_path(environment)}/{name}",
                     {"encrypted_value": seal(key["key"], value), "key_id": key["key_id"]})

    def workflow_permissions(self) -> dict:
        found, _ = self.request("GET", f"/repos/{self.repo}/actions/permissions/workflow")
        return found if isinstance(found, dict) else {}

    def set_workflow_permissions(self, default: str, can_approve_prs: bool) -> None:
        self.request("PUT", f"/repos/{self.repo}/actions/permissions/workflow",
                     {"default_workflow_permissions": default, "can_approve_pull_request_reviews": can_approve_prs})

    def user(self, login: str) -> dict | None:
        return self._get_or_none(f"/users/{urllib.parse.quote(login, safe='')}")

    # ------------------------------------------------------------------ container images (cleanup-images)

    def _package_path(self, package: str) -> str:
        owner = self.repo.split("/")[0]
        kind = "orgs" if (self.repository().get("owner") or {}).get("type") == "Organization" else "users"
        return f"/{kind}/{owner}/packages/container/{urllib.parse.quote(package, safe='')}/versions"

    def package_versions(self, package: str) -> tuple[str, list[dict]]:
        """(the versions endpoint, every version of the container package with its tags)."""
        path = self._package_path(package)
        return path, self.paged(path)

    def delete_package_version(self, versions_path: str, version_id: int) -> None:
        self.request("DELETE", f"{versions_path}/{int(version_id)}")


def seal(public_key_b64: str, value: str) -> str:
    """A libsodium sealed box of the value for GitHub's secrets API (PyNaCl), base64-encoded."""
    try:
        from nacl import encoding, public
    except ImportError:
        raise PipelineError("setting secrets needs PyNaCl: `uv sync --extra dev` installs it") from None
    box = public.SealedBox(public.PublicKey(public_key_b64.encode(), encoding.Base64Encoder()))
    return base64.b64encode(box.encrypt(value.encode())).decode()
