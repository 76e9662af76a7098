"""The HTTP port beside gRPC (aiohttp, on the same event loop): /metrics, /healthz, /readyz
and the original design's REST shapes. Same TLS files and bearer tokens as the gRPC port."""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable

from aiohttp import web

from ..config.security import SecuritySettings
from ..engine.api import CallerEngine
from ..engine.errors import EngineError, StoreUnavailable
from . import rest
from .metrics import Metrics

EngineOf = Callable[[], CallerEngine | None]
RoleOf = Callable[[str], str | None]  # a token's role, None when it is not valid
_OPEN_PATHS = frozenset({"/healthz", "/readyz"})
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

    def build(self) -> web.Application:
        app = web.Application(middlewares=[self._guard])
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._scrape)
        app.router.add_get("/tasks/queue/stats", self._with_engine(rest.queue_stats))
        app.router.add_get("/tasks/{task_id}", self._with_engine(rest.task_detail))
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
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _guard(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Bearer tokens (any valid role: every endpoint here only reads), then the engine's
        refusals as JSON errors with the matching HTTP status."""
        if self._role_of is not None and not (self._open_health and request.path in _OPEN_PATHS):
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or self._role_of(token.strip()) is None:
                return web.json_response(
                    {"error": _ASK_FOR_BEARER},
                    status=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
        try:
            return await handler(request)
        except EngineError as exc:
            return rest.error_response(exc)

    def _with_engine(
        self, view: Callable[[CallerEngine, web.Request], Awaitable[web.Response]]
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            engine = self._engine_of()
            if engine is None:
                raise StoreUnavailable("not connected yet; the server keeps trying")
            return await view(engine, request)

        return handle

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
