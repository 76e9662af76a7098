"""The dashboard at `/`: its static page (package data, no CDN, no build step), the JSON API
routes with the gRPC call each one mirrors (which decides who may use it), and the live
stream of queue figures as server-sent events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources

from aiohttp import web

from ..engine.api import CallerEngine
from . import api
from .live import LiveFeed, sse_event

View = Callable[[CallerEngine, web.Request], Awaitable[web.Response]]

# (HTTP method, path, view, the RPC whose role rules apply). A viewer token may use the reads;
# the actions need what their RPC needs (admin), and anyone else gets 403.
ROUTES: tuple[tuple[str, str, View, str], ...] = (
    ("GET", "/api/queues", api.queues, "ListQueues"),
    ("GET", "/api/queues/{queue}/tasks", api.tasks, "ListTasks"),
    ("GET", "/api/tasks/{task_id}", api.task, "GetTask"),
    ("POST", "/api/tasks/{task_id}/priority", api.change_priority, "ChangePriority"),
    ("POST", "/api/tasks/{task_id}/cancel", api.cancel, "CancelTask"),
    ("POST", "/api/tasks/{task_id}/retry", api.retry, "RetryTask"),
    ("POST", "/api/tasks/{task_id}/delete", api.delete, "DeleteTask"),
    ("POST", "/api/queues/{queue}/pause", api.pause, "PauseQueue"),
    ("POST", "/api/queues/{queue}/resume", api.resume, "ResumeQueue"),
    ("POST", "/api/queues/{queue}/purge", api.purge, "PurgeQueue"),
    ("POST", "/api/queues/{queue}/bulk", api.bulk, "BulkTasks"),
)
# The RPC the live stream mirrors, and the one whose permission means "may act".
LIVE_RPC = "ListQueues"
ACT_RPC = "PauseQueue"

STATIC_PREFIX = "/static/"
_TYPES = {".html": "text/html", ".css": "text/css", ".js": "text/javascript"}


def asset(name: str) -> web.Response:
    """A file of the page from the package's static/ folder (404 for anything else)."""
    folder = resources.files(__package__).joinpath("static")
    suffix = name[name.rfind(".") :] if "." in name else ""
    if "/" in name or suffix not in _TYPES or not folder.joinpath(name).is_file():
        raise web.HTTPNotFound(text=f"no dashboard asset {name[:80]!r}")
    return web.Response(
        body=folder.joinpath(name).read_bytes(),
        content_type=_TYPES[suffix],
        charset="utf-8",
        headers={"Cache-Control": "no-cache"},
    )


async def index(request: web.Request) -> web.Response:
    return asset("index.html")


async def static(request: web.Request) -> web.Response:
    return asset(request.match_info["name"])


async def live_stream(feed: LiveFeed, request: web.Request) -> web.StreamResponse:
    """Queue figures as server-sent events, one a second, until the page goes away."""
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # proxies must not hold events back
        }
    )
    await response.prepare(request)
    try:
        async with feed.subscribe() as snapshots:
            while snapshot := await snapshots.get():
                await response.write(sse_event(snapshot))
    except ConnectionResetError:
        pass  # the page closed or reloaded
    return response
