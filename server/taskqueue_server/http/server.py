"""The HTTP port beside gRPC (aiohttp, on the same event loop): /metrics, /healthz, /readyz,
the original design's REST shapes and the dashboard. Same TLS files and bearer tokens as the
gRPC port; the dashboard's API follows the gRPC role rules of the call each route mirrors."""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable

from aiohttp import web

from ..config.security import SecuritySettings
from ..engine.api import CallerEngine
from ..engine.errors import EngineError, StoreUnavailable
from ..service.auth import may_call
from . import dashboard, rest
from .live import LiveFeed
from .metrics import Metrics

EngineOf = Callable[[], CallerEngine | None]
RoleOf = Callable[[str], str | None]  # a token's role, None when it is not valid
_OPEN_PATHS = frozenset({"/healthz", "/readyz"})
# The page and its scripts hold no data: a browser loads them before the user gives a token.
_PAGE_PATHS = frozenset({"/"})
_ASK_FOR_BEARER = "missing or invalid bearer token; send 'Authorization: Bearer <token>'"
_PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


class HttpSurface:
    """Serves the HTTP endpoints until `stop`."""

    def __init__(
        self,
        engine_of: EngineOf,
        metrics: Metrics,
        ready: Callable[[], Awaitable[bool]],
        role_of: RoleOf | None,
        open_health: bool = True,
    ) -> None:
        self._engine_of = engine_of
        self._metrics = metrics
        self._ready = ready
        self._role_of = role_of
        self._open_health = open_health
        self._runner: web.AppRunner | None = None
        self.live = LiveFeed(engine_of)

    def build(self) -> web.Application:
        app = web.Application(middlewares=[self._guard])
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._scrape)
        app.router.add_get("/tasks/queue/stats", self._with_engine(rest.queue_stats))
        app.router.add_get("/tasks/{task_id}", self._with_engine(rest.task_detail))
        app.router.add_get("/", dashboard.index)
        app.router.add_get(dashboard.STATIC_PREFIX + "{name}", dashboard.static)
        app.router.add_get("/api/session", self._session)
        app.router.add_get("/api/live", self._live)
        for method, path, view, rpc in dashboard.ROUTES:
            app.router.add_route(method, path, self._allowed(rpc, self._with_engine(view)))
        return app

    async def start(
        self, host: str, port: int, security: SecuritySettings, reuse_port: bool = False
    ) -> int:
        """Listen; returns the bound port (port 0 picks a free one)."""
        self._runner = web.AppRunner(self.build(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, host, port, ssl_context=ssl_context(security), reuse_port=reuse_port
        )
        await site.start()
        server = site._server  # aiohttp exposes the bound sockets only here
        assert server is not None
        bound: int = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return bound

    async def stop(self) -> None:
        await self.live.stop()
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _guard(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Bearer tokens (any valid role for the reads outside /api/; there, the role the
        mirrored RPC needs), then the engine's refusals as JSON errors with their HTTP status."""
        request["role"] = None  # auth off: every call allowed
        if self._role_of is not None and not self._open(request.path):
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            request["role"] = self._role_of(token.strip()) if scheme.lower() == "bearer" else None
            if request["role"] is None:
                return web.json_response(
                    {"error": _ASK_FOR_BEARER},
                    status=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
        try:
            return await handler(request)
        except EngineError as exc:
            return rest.error_response(exc)

    def _open(self, path: str) -> bool:
        if path in _PAGE_PATHS or path.startswith(dashboard.STATIC_PREFIX):
            return True
        return self._open_health and path in _OPEN_PATHS

    def _allowed(
        self, rpc: str, view: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """`view`, for roles that may call `rpc` over gRPC; 403 for the others."""

        async def handle(request: web.Request) -> web.StreamResponse:
            if not _may(request["role"], rpc):
                refusal = {
                    "error": f"{rpc} needs the admin role; this token is {request['role']}",
                    "code": "PERMISSION_DENIED",
                    "reason": "ROLE_TOO_WEAK",  # as over gRPC (service/status.py)
                }
                return web.json_response(refusal, status=403)
            return await view(request)

        return handle

    def _with_engine(
        self, view: Callable[[CallerEngine, web.Request], Awaitable[web.Response]]
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            engine = self._engine_of()
            if engine is None:
                raise StoreUnavailable("not connected yet; the server keeps trying")
            return await view(engine, request)

        return handle

    async def _session(self, request: web.Request) -> web.Response:
        """Who the page's token is and whether it may act (the page disables what it may not)."""
        role = request["role"]
        return web.json_response({"role": role or "open", "can_act": _may(role, dashboard.ACT_RPC)})

    async def _live(self, request: web.Request) -> web.StreamResponse:
        if not _may(request["role"], dashboard.LIVE_RPC):
            refusal = {"error": "the live view needs a viewer or admin token"}
            return web.json_response(refusal, status=403)
        return await dashboard.live_stream(self.live, request)

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _readyz(self, request: web.Request) -> web.Response:
        if await self._ready():
            return web.json_response({"status": "ready"})
        not_ready = {"status": "not ready: the task store does not answer"}
        return web.json_response(not_ready, status=503)

    async def _scrape(self, request: web.Request) -> web.Response:
        body = await self._metrics.render(self._engine_of())
        return web.Response(body=body, headers={"Content-Type": _PROMETHEUS_TEXT})


def _may(role: str | None, rpc: str) -> bool:
    """Whether `role` (None: auth is off) may call `rpc` of the task queue service."""
    return role is None or may_call(role, rpc)


def ssl_context(security: SecuritySettings) -> ssl.SSLContext | None:
    """The gRPC port's certificate for HTTPS too; with a client CA, client certificates."""
    if security.tls_cert is None or security.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(security.tls_cert, security.tls_key)
    if security.tls_client_ca is not None:
        context.load_verify_locations(security.tls_client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context
