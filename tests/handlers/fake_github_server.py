"""A fake GitHub REST API on loopback: paginated lists with Link headers, canned errors, a log."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    """One request as the server saw it."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]


class FakeGitHub:
    """Routes by path. `pages[path]` serves ?page=N with Link headers; `queued[path]` replies
    are consumed first, one per request (errors, rate limits)."""

    def __init__(self) -> None:
        self.pages: dict[str, list[list[Any]]] = {}
        self.queued: dict[str, list[Reply]] = {}
        self.seen: list[Seen] = []
        self.link_base: str | None = None  # override the host written into Link headers
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def queue(self, path: str, *replies: Reply) -> None:
        with self._lock:
            self.queued.setdefault(path, []).extend(replies)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _reply_for(self, path: str, query: dict[str, str]) -> Reply:
        with self._lock:
            if self.queued.get(path):
                return self.queued[path].pop(0)
        if path not in self.pages:
            return Reply(404, {"message": "Not Found"})
        pages = self.pages[path]
        number = int(query.get("page", "1"))
        body = pages[number - 1] if 1 <= number <= len(pages) else []
        return Reply(200, body, {"Link": self._links(path, query, number, len(pages))})

    def _links(self, path: str, query: dict[str, str], number: int, total: int) -> str:
        def at(page: int) -> str:
            return f"{self.link_base or self.url}{path}?{urlencode({**query, 'page': page})}"

        rels = []
        if number < total:
            rels += [f'<{at(number + 1)}>; rel="next"', f'<{at(total)}>; rel="last"']
        if number > 1:
            rels += [f'<{at(1)}>; rel="first"', f'<{at(number - 1)}>; rel="prev"']
        return ", ".join(rels)

    def _handler_class(self) -> Callable[..., BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
                with fake._lock:
                    fake.seen.append(Seen(parts.path, query, dict(self.headers.items())))
                reply = fake._reply_for(parts.path, query)
                payload = json.dumps(reply.body).encode() if reply.body is not None else b""
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in reply.headers.items():
                    if value:
                        self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output quiet

        return Handler


def issue(number: int, *, pr: bool = False, **extra: Any) -> dict[str, Any]:
    """An issue as GitHub sends it (trimmed), or a pull request on the issues endpoint."""
    item: dict[str, Any] = {
        "id": 1000 + number, "number": number, "title": f"Issue {number}", "state": "open",
        "labels": [{"id": 1, "name": "bug", "color": "f00"}],
        "assignees": [{"login": "octocat", "id": 1}],
        "milestone": {"number": 1, "title": "v1.0"},
        "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-02T00:00:00Z",
        "closed_at": None, "html_url": f"https://github.com/octo/hello/issues/{number}",
        "body": "long text that the result leaves out", "user": {"login": "someone"},
    }
    if pr:
        item["pull_request"] = {"url": f"https://api.github.com/repos/octo/hello/pulls/{number}"}
    item.update(extra)
    return item


def milestone(number: int, updated_at: str = "2024-03-01T00:00:00Z") -> dict[str, Any]:
    return {
        "id": 2000 + number, "number": number, "title": f"v{number}.0", "state": "open",
        "description": f"Milestone {number}", "due_on": "2024-06-30T07:00:00Z",
        "open_issues": number, "closed_issues": 10 - number,
        "created_at": "2024-01-01T00:00:00Z", "updated_at": updated_at, "closed_at": None,
        "html_url": f"https://github.com/octo/hello/milestone/{number}",
        "creator": {"login": "octocat"},
    }
