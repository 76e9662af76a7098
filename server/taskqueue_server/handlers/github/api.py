"""One page of the GitHub REST API at a time, with failures sorted into retry / retry-later / stop.

Stdlib urllib in a worker thread: one GET per page does not justify an HTTP client dependency.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import Message
from email.utils import parsedate_to_datetime
from http.client import HTTPMessage
from typing import Any
from urllib.parse import parse_qs, urlsplit

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


class _SameOriginAuth(urllib.request.HTTPRedirectHandler):
    # urllib keeps every header on a redirect, Authorization included; a redirect to another
    # host must not receive the token.
    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and not same_origin(req.full_url, newurl):
            new.remove_header("Authorization")
        return new


_opener = urllib.request.build_opener(_SameOriginAuth)


def same_origin(a: str, b: str) -> bool:
    """Same scheme and host:port."""
    first, second = urlsplit(a), urlsplit(b)
    return (first.scheme, first.netloc.lower()) == (second.scheme, second.netloc.lower())


def fetch_page(
    url: str, token: str | None, timeout: float, now: Callable[[], float] = time.time
) -> Page:
    """GET one page. Raises RetryLater, PermanentError or GitHubUnavailable (never leaks token)."""
    headers = {
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
        "User-Agent": "taskqueue-server",
    }
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, headers=headers, method="GET")  # noqa: S310
    try:
        with _opener.open(request, timeout=timeout) as response:
            body = response.read()
            link = response.headers.get("Link")
    except urllib.error.HTTPError as exc:
        raise classify(exc.code, exc.headers, exc.read(), now()) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise GitHubUnavailable(f"GitHub API unreachable ({_origin(url)}): {reason}") from None
    try:
        items = json.loads(body)
    except ValueError:
        raise GitHubUnavailable(f"GitHub answered with a body that is not JSON ({url})") from None
    if not isinstance(items, list):
        raise GitHubUnavailable(f"GitHub answered with a {type(items).__name__}, expected a list")
    links = parse_link_header(link)
    return Page(items, links.get("next"), _page_number(links.get("last")))


def classify(status: int, headers: Message, body: bytes, now: float) -> Exception:
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


def rate_limit_delay(status: int, headers: Message, message: str, now: float) -> float | None:
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


_LINK = re.compile(r"<([^>]*)>([^<]*)")
_REL = re.compile(r';\s*rel\s*=\s*"?([^";]+)"?')


def parse_link_header(value: str | None) -> dict[str, str]:
    """`<url>; rel="next", <url>; rel="last"` -> {"next": url, "last": url}."""
    links: dict[str, str] = {}
    for url, params in _LINK.findall(value or ""):
        rel = _REL.search(params)
        if rel:
            for name in rel.group(1).split():
                links.setdefault(name, url)
    return links


def _page_number(url: str | None) -> int | None:
    if url is None:
        return None
    pages = parse_qs(urlsplit(url).query).get("page", [])
    return int(pages[0]) if pages and pages[0].isdigit() else None


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
