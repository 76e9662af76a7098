"""One page of the GitHub REST API at a time, with failures sorted into retry / retry-later / stop.

httpx does the HTTP: it parses Link headers (`response.links`) and drops Authorization on a
redirect to another origin, so neither is hand-written here.
"""

from __future__ import annotations

import json
import os
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from ...worker.context import PermanentError, RetryLater

JsonObject = dict[str, Any]
DEFAULT_API_URL = "https://api.github.com"
# GitHub asks clients to wait at least a minute after a secondary rate limit without Retry-After.
SECONDARY_LIMIT_WAIT = 60.0


class GitHubUnavailable(Exception):
    """5xx or network trouble: retried with the worker's exponential backoff."""


@dataclass(frozen=True, slots=True)
class GitHubSettings:
    """Server-side settings; a task's own token wins over `token`."""

    api_url: str
    token: str | None
    timeout_seconds: float

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GitHubSettings:
        env = os.environ if env is None else env
        api_url = (env.get("TASKQUEUE_GITHUB_API_URL") or DEFAULT_API_URL).strip().rstrip("/")
        if urlsplit(api_url).scheme not in ("http", "https"):
            raise PermanentError(f"TASKQUEUE_GITHUB_API_URL={api_url!r}: must be an http(s) URL")
        raw_timeout = env.get("TASKQUEUE_GITHUB_TIMEOUT") or "30"
        try:
            timeout = float(raw_timeout)
        except ValueError:
            raise PermanentError(
                f"TASKQUEUE_GITHUB_TIMEOUT={raw_timeout!r}: not a number"
            ) from None
        return cls(api_url, (env.get("TASKQUEUE_GITHUB_TOKEN") or "").strip() or None, timeout)


@dataclass(frozen=True, slots=True)
class Page:
    """One page of results and where the next one is."""

    items: list[JsonObject]
    next_url: str | None
    last_page: int | None


def same_origin(a: str, b: str) -> bool:
    """Same scheme and host:port."""
    first, second = urlsplit(a), urlsplit(b)
    return (first.scheme, first.netloc.lower()) == (second.scheme, second.netloc.lower())


def open_client(
    settings: GitHubSettings, token: str | None, tls: ssl.SSLContext
) -> httpx.AsyncClient:
    """One client per import, so its pages share a kept-alive connection.

    httpx removes Authorization when a redirect leaves the origin (`_redirect_headers`).
    """
    headers = {
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
        "User-Agent": "taskqueue-server",
    }
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.AsyncClient(
        headers=headers,
        timeout=settings.timeout_seconds,
        follow_redirects=True,
        verify=tls,
    )


async def fetch_page(
    client: httpx.AsyncClient, url: str, now: Callable[[], float] = time.time
) -> Page:
    """GET one page. Raises RetryLater, PermanentError or GitHubUnavailable (never leaks token)."""
    try:
        response = await client.get(url)
    except (httpx.TooManyRedirects, httpx.UnsupportedProtocol) as exc:
        # A redirect loop or a redirect to a non-HTTP URL: a retry meets the same answer.
        raise PermanentError(f"GitHub redirected where we cannot follow: {exc}") from None
    except httpx.HTTPError as exc:
        raise GitHubUnavailable(
            f"GitHub API unreachable ({_origin(url)}): {type(exc).__name__}: {exc}"
        ) from None
    if not response.is_success:
        raise classify(response.status_code, response.headers, response.content, now())
    try:
        items = json.loads(response.content)
    except ValueError:
        raise GitHubUnavailable(f"GitHub answered with a body that is not JSON ({url})") from None
    if not isinstance(items, list):
        raise GitHubUnavailable(f"GitHub answered with a {type(items).__name__}, expected a list")
    links = response.links
    next_url = links.get("next", {}).get("url")
    return Page(items, next_url, _page_number(links.get("last", {}).get("url")))


def classify(status: int, headers: Mapping[str, str], body: bytes, now: float) -> Exception:
    """Map an HTTP error answer to the exception that tells the worker what to do."""
    message = _github_message(body)
    if status in (403, 429):
        delay = rate_limit_delay(status, headers, message, now)
        if delay is not None:
            return RetryLater(
                f"GitHub rate limit ({status}): {message}; retrying in {delay:.0f} s", delay
            )
    if status == 401:
        return PermanentError(
            f"GitHub rejected the credentials (401 {message}): "
            "check task_data.token or TASKQUEUE_GITHUB_TOKEN"
        )
    if status == 403:
        return PermanentError(f"GitHub refused access (403 {message}): the token lacks rights")
    if status == 404:
        return PermanentError(
            f"GitHub: repository not found (404 {message}); "
            "a private repository also answers 404 when the token cannot see it"
        )
    if status >= 500 or status == 408:
        return GitHubUnavailable(f"GitHub answered {status}: {message}")
    return PermanentError(f"GitHub answered {status}: {message}")


def rate_limit_delay(
    status: int, headers: Mapping[str, str], message: str, now: float
) -> float | None:
    """Seconds to wait if this 403/429 is a rate limit, else None (a plain refusal)."""
    retry_after = headers.get("Retry-After")
    if retry_after:
        seconds = _retry_after_seconds(retry_after.strip(), now)
        if seconds is not None:
            return max(1.0, seconds)
    reset = headers.get("X-RateLimit-Reset")
    if headers.get("X-RateLimit-Remaining") == "0" and reset and reset.strip().isdigit():
        # +1 s: the window resets at that second, and our clock may run a little behind theirs.
        return max(1.0, int(reset) - now + 1.0)
    if status == 429 or "rate limit" in message.lower():
        return SECONDARY_LIMIT_WAIT
    return None


def _retry_after_seconds(value: str, now: float) -> float | None:
    if value.isdigit():
        return float(value)
    try:
        return parsedate_to_datetime(value).timestamp() - now
    except (TypeError, ValueError):
        return None


def _page_number(url: str | None) -> int | None:
    if url is None:
        return None
    page = httpx.URL(url).params.get("page", "")
    return int(page) if page.isdigit() else None


def _github_message(body: bytes) -> str:
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    text = parsed.get("message") if isinstance(parsed, dict) else None
    if not isinstance(text, str):
        text = body.decode("utf-8", "replace")
    return " ".join(text.split())[:300] or "no message"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
