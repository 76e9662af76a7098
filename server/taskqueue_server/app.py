"""The running server: grpc.aio with the service, health and reflection, plus the worker pool.

Start-up: handlers, engine, gRPC server, worker pool, then the one ready line. When Redis
does not answer at start the server still listens (health NOT_SERVING, RPCs UNAVAILABLE)
and keeps connecting; the worker pool starts once it can.
Shutdown (SIGTERM/SIGINT): stop taking RPCs and claims, let running handlers finish within
the grace period, hand back the rest, close the engine, return 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection
from taskqueue.v1 import (
    schedule_pb2,
    schedule_pb2_grpc,
    taskqueue_pb2,
    taskqueue_pb2_grpc,
    worker_pb2,
    worker_pb2_grpc,
)

from .config import ServerSettings, redact_url
from .engine.api import Engine
from .engine.connection import TopologyMismatch
from .engine.errors import StoreUnavailable
from .engine.store import open_engine
from .http.metrics import Metrics
from .http.server import HttpSurface
from .service.auth import build_auth, reload_tokens
from .service.decoding import DecodeGuard
from .service.observe import ObserveCalls
from .service.schedules import ScheduleServicer
from .service.servicer import TaskQueueServicer
from .service.tls import listen
from .service.worker_servicer import WorkerServicer
from .serving import Shutdown, display_address, grpc_options
from .supervisor import report_ready, supervised
from .worker.loop import WorkerPool
from .worker.registry import Registration, load_handler_modules, registered
from .worker.retry_policies import RetryPolicies
from .worker.scheduler import run_scheduler

log = logging.getLogger("taskqueue_server")
# Its own logger at INFO, so the ready line prints even with --log-level WARNING.
ready_log = logging.getLogger("taskqueue_server.ready")

SERVICE_NAME = taskqueue_pb2.DESCRIPTOR.services_by_name["TaskQueueService"].full_name
WORKER_SERVICE_NAME = worker_pb2.DESCRIPTOR.services_by_name["WorkerService"].full_name
SCHEDULE_SERVICE_NAME = schedule_pb2.DESCRIPTOR.services_by_name["ScheduleService"].full_name
HEALTH_SERVICE_NAME = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
_PING_TIMEOUT_SECONDS = 2.0
_CONNECT_RETRY_SECONDS = 1.0


class App:
    """One server process: the gRPC server, the engine once connected, the worker pool."""

    def __init__(self, settings: ServerSettings, registrations: dict[str, Registration]) -> None:
        self.settings = settings
        self.registrations = registrations
        self.engine: Engine | None = None
        self.pool: WorkerPool | None = None
        self.auth = build_auth(settings.security)
        self.metrics = Metrics()
        self.server = grpc.aio.server(
            options=grpc_options(settings),
            # Past it gRPC answers RESOURCE_EXHAUSTED before any handler runs: callers are
            # shed at once instead of queueing until their deadline.
            maximum_concurrent_rpcs=settings.max_concurrent_rpcs,
            interceptors=[
                ObserveCalls(self.metrics),
                DecodeGuard(),
                *([self.auth] if self.auth else []),
            ],
        )
        # Both kinds of worker, and the admin RPCs that change a queue's default, share one.
        self.retry_policies = RetryPolicies(self.connected_engine, settings.retry)
        self.servicer = TaskQueueServicer(
            None,
            registrations,
            settings.limits,
            max_watch_streams=settings.max_watch_streams,
            retry_policies=self.retry_policies,
        )
        taskqueue_pb2_grpc.add_TaskQueueServiceServicer_to_server(self.servicer, self.server)
        self.worker_servicer = WorkerServicer(
            self.connected_engine,
            self.retry_policies,
            settings.engine.lease_seconds,
            settings.max_result_bytes,
        )
        worker_pb2_grpc.add_WorkerServiceServicer_to_server(self.worker_servicer, self.server)
        self.schedules = ScheduleServicer(
            None, registrations, settings.limits, self.servicer.task_types
        )
        schedule_pb2_grpc.add_ScheduleServiceServicer_to_server(self.schedules, self.server)
        self.scheduler: asyncio.Task[None] | None = None
        self.health = HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            (
                SERVICE_NAME,
                WORKER_SERVICE_NAME,
                SCHEDULE_SERVICE_NAME,
                HEALTH_SERVICE_NAME,
                reflection.SERVICE_NAME,
            ),
            self.server,
        )
        self.shutdown = Shutdown()
        auth = self.auth
        self.http = HttpSurface(
            lambda: self.engine,
            self.metrics,
            lambda: self._store_answers(report=False),
            # Follows SIGHUP reloads: the interceptor's table is read at each request.
            (lambda token: auth.tokens.role_of(token)) if auth is not None else None,
            settings.security.auth_open_health,
        )

    def connected_engine(self) -> Engine:
        """The engine, or StoreUnavailable (UNAVAILABLE) until the store first answered."""
        if self.engine is None:
            raise StoreUnavailable("not connected yet; the server keeps trying")
        return self.engine

    async def connect(self) -> bool:
        """Open the engine and start the workers; False while the store does not answer."""
        try:
            # Enqueue on any server sharing this store accepts the types this one runs.
            engine = await open_engine(
                self.settings.redis_url, self.settings.engine, self.registrations
            )
        except StoreUnavailable as exc:
            log.warning("cannot reach the task store yet (%s); retrying", exc.message)
            return False
        self.engine = engine
        self.servicer.attach(engine)
        self.schedules.attach(engine)
        self.scheduler = asyncio.create_task(run_scheduler(engine), name="scheduler")
        self.pool = WorkerPool(
            engine,
            self.registrations,
            queues=list(self.settings.queues),
            concurrency=self.settings.concurrency,
            retry_policies=self.retry_policies,
            worker_id=f"{socket.gethostname()}:{os.getpid()}",
            lease_seconds=self.settings.engine.lease_seconds,
            max_result_bytes=self.settings.max_result_bytes,
            observe=self.metrics.observe_handler,
        )
        engine.hand_off_to(self.pool)
        await self.pool.start()
        return True

    async def keep_connecting(self) -> None:
        while not await self.connect():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.shutdown.requested.wait(), _CONNECT_RETRY_SECONDS)
            if self.shutdown.requested.is_set():
                return

    async def watch_store_health(self) -> None:
        """NOT_SERVING for the server and the service while the store does not answer."""
        serving: bool | None = None
        while not self.shutdown.requested.is_set():
            healthy = await self._store_answers(report=serving is not False)
            if healthy != serving:
                if healthy and serving is False:
                    log.warning("task store answers; health is SERVING")
                status = _SERVING if healthy else _NOT_SERVING
                await self.health.set("", status)
                await self.health.set(SERVICE_NAME, status)
                serving = healthy
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self.shutdown.requested.wait(), self.settings.health_interval_seconds
                )

    async def _store_answers(self, report: bool) -> bool:
        if self.engine is None:
            return False
        try:
            await asyncio.wait_for(self.engine.ping(), _PING_TIMEOUT_SECONDS)
        except Exception as exc:
            if report:
                log.warning("task store not answering (%s); health is NOT_SERVING", exc)
            return False
        return True

    async def run(self) -> int:
        """Serve until SIGTERM/SIGINT; returns the exit status."""
        settings = self.settings
        address = display_address(settings.host, settings.port)
        try:
            # Bind before connecting: a busy port must not leave a started worker pool behind.
            port = listen(self.server, address, settings.security)
        except RuntimeError as exc:
            log.error("cannot listen on %s: %s", address, exc)
            return 1
        try:
            connected = await self.connect()
        except TopologyMismatch as exc:  # retrying cannot fix a URL of the wrong kind
            log.error("cannot use --redis-url: %s", exc.message)
            return 1
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.shutdown, signum)
        if self.auth is not None:  # SIGHUP re-reads the tokens: rotation without a restart
            loop.add_signal_handler(signal.SIGHUP, reload_tokens, self.auth, settings.security)
        # The same check the health loop runs: connecting alone needs no rights on our keys.
        status = _SERVING if connected and await self._store_answers(report=True) else _NOT_SERVING
        await self.health.set("", status)
        await self.health.set(SERVICE_NAME, status)
        await self.server.start()
        http_address = await self._start_http()
        if http_address is None:
            await self.stop()
            return 1
        background = [asyncio.create_task(self.watch_store_health())]
        if not connected:
            background.append(asyncio.create_task(self.keep_connecting()))
        # Under a supervisor this is one process among several: the supervisor says "ready".
        name = "taskqueue-server process" if supervised() else "taskqueue-server"
        ready_log.info(
            "%s ready on %s (http: %s; store: %s; handlers: %s; queues: %s; concurrency: %d)",
            name,
            display_address(settings.host, port),
            http_address,
            (self.engine and self.engine.store_label) or redact_url(settings.redis_url),
            ", ".join(sorted(self.registrations)) or "none",
            ", ".join(settings.queues),
            settings.concurrency,
        )
        report_ready()
        await self.shutdown.requested.wait()
        await asyncio.gather(*background)
        await self.stop()
        return 0

    async def _start_http(self) -> str | None:
        """The HTTP port's address ("off" when disabled); None when it cannot listen."""
        settings = self.settings
        if not settings.http_port:
            return "off"
        try:
            port = await self.http.start(
                settings.host, settings.http_port, settings.security, reuse_port=supervised()
            )
        except OSError as exc:
            log.error("cannot listen for HTTP on port %d: %s", settings.http_port, exc)
            return None
        return display_address(settings.host, port)

    async def stop(self) -> None:
        """Drain RPCs and handlers side by side within the grace, then close the engine."""
        await self.health.enter_graceful_shutdown()
        # Watchers resume on another server (or this one restarted) instead of waiting.
        self.servicer.watch_slots.closing.set()
        draining = asyncio.ensure_future(self._drain(self.settings.shutdown_grace_seconds))
        hurry = asyncio.ensure_future(self.shutdown.hurry.wait())
        await asyncio.wait((draining, hurry), return_when=asyncio.FIRST_COMPLETED)
        if not draining.done():
            # Interrupted handlers keep their leases; those expire and any server takes over.
            draining.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await draining
            await self.server.stop(0)
        hurry.cancel()
        await self.http.stop()
        await self._close_engine()
        log.info("taskqueue-server stopped")

    async def _drain(self, grace: float) -> None:
        stopping = [self.server.stop(grace)]
        if self.pool is not None:
            stopping.append(self.pool.stop(grace))
        await asyncio.gather(*stopping)

    async def _close_engine(self) -> None:
        if self.scheduler is not None:
            self.scheduler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.scheduler
        if self.engine is not None:
            await self.engine.close()


async def serve(settings: ServerSettings) -> int:
    """Load the handler modules, then run the server until a signal."""
    load_handler_modules(list(settings.handlers))
    return await App(settings, registered()).run()
