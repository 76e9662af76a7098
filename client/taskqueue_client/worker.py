"""Run handlers for a taskqueue server from any process: `Worker("host:50051")`.

    worker = Worker("localhost:50051", queues=["default"], concurrency=8)

    @worker.handler("send_email")
    def send_email(task_data, ctx):
        ...
        return {"sent": True}

    worker.run_until_signal()

The worker leases tasks over WorkerService (a long poll, so idle workers cost one call per
poll), renews every lease it holds in one RenewLeases call per lease_seconds / 3 (which is
also its heartbeat for ListWorkers), and reports each attempt. Handlers follow the same rules
as inside the server. It needs neither Redis nor the server package.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import signal
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import grpc
import grpc.aio
from taskqueue.v1 import worker_pb2 as wpb
from taskqueue.v1 import worker_pb2_grpc as wpb_grpc

from ._calls import Call
from ._channel import ChannelOption, ClientSettings, make_credentials
from ._worker_context import Handler, PermanentError, RetryLater, TaskContext
from ._worker_run import Runner
from .errors import ServiceError, from_rpc_error

log = logging.getLogger("taskqueue_client.worker")

Out = TypeVar("Out")
H = TypeVar("H", bound=Handler)
# Calls refused for reasons that retrying cannot fix: the worker stops with the error.
FATAL_CODES = frozenset(
    {
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.UNIMPLEMENTED,
    }
)

_default_handlers: dict[str, Handler] = {}


def handler(task_type: str) -> Callable[[H], H]:
    """Module-level registration for `taskqueue worker --handlers MODULE`."""

    def register(fn: H) -> H:
        _default_handlers[task_type] = fn
        return fn

    return register


# Tasks leased ahead per slot by default (Celery's worker_prefetch_multiplier is 4 too): with
# short handlers one worker process then keeps its slots busy through its FinishTasks round
# trips (docs/performance.md, "Remote workers": 1 x gave 0.55-0.87x the in-process pool,
# 4 x 0.88-1.28x, in the same quiet runs).
DEFAULT_PREFETCH_PER_SLOT = 4


class Worker:
    """Leases tasks of its handlers' types from `queues` and runs `concurrency` at once.

    Args:
        target: "host:port" of a taskqueue server.
        queues: the queues to lease from, in order of preference.
        concurrency: most handlers running at once (sync ones run in a thread pool).
        prefetch: leased tasks held beyond the running ones, so a freed slot starts the next
            task at once instead of waiting for a round trip (renewed like running tasks,
            handed back at stop); 4 x `concurrency` by default, 0 for none. Lower it when
            handlers are slow, so other workers get the tasks.
        worker_id: unique among live workers; "<host>:<pid>" by default.
        lease_seconds: how long a lease lasts unless renewed (renewed every third of it).
        poll_seconds: how long one LeaseTasks call may wait for work.
        token, tls, root_certificates, credentials, timeout, options: as for the client.
    """

    def __init__(
        self,
        target: str = "localhost:50051",
        *,
        queues: Sequence[str] = ("default",),
        concurrency: int = 8,
        prefetch: int | None = None,
        worker_id: str | None = None,
        lease_seconds: float = 30.0,
        poll_seconds: float = 10.0,
        token: str | None = None,
        tls: bool = False,
        root_certificates: bytes | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        timeout: float | None = 30.0,
        options: Sequence[ChannelOption] = (),
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if prefetch is not None and prefetch < 0:
            raise ValueError("prefetch must not be negative")
        self._settings = ClientSettings(
            target=target,
            credentials=make_credentials(tls, credentials, root_certificates),
            token=token,
            timeout=timeout,
            retry=None,  # the worker retries on its own terms (see Runner)
            options=tuple(options),
        )
        self.queues = list(queues)
        self.concurrency = concurrency
        self.prefetch = DEFAULT_PREFETCH_PER_SLOT * concurrency if prefetch is None else prefetch
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}"
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.handlers: dict[str, Handler] = {}
        self._stop_requested = asyncio.Event()
        self._grace = 30.0
        self._started = time.time()

    def handler(self, task_type: str) -> Callable[[H], H]:
        """Decorator: `@worker.handler("send_email")` on `def f(task_data, ctx)` or async def."""

        def register(fn: H) -> H:
            self.register(task_type, fn)
            return fn

        return register

    def register(self, task_type: str, fn: Handler) -> None:
        if not task_type or not task_type.strip():
            raise ValueError("task_type must be a non-empty name")
        self.handlers[task_type] = fn

    def register_defaults(self) -> None:
        """Take the handlers registered with the module-level `handler` decorator."""
        for task_type, fn in _default_handlers.items():
            self.register(task_type, fn)

    async def run(self) -> None:
        """Lease and run tasks until `stop()`; raises ServiceError if the server refuses us."""
        if not self.handlers:
            raise ValueError("register at least one handler before running the worker")
        channel = self._settings.open(grpc.aio.insecure_channel, grpc.aio.secure_channel, False)
        stub = wpb_grpc.WorkerServiceStub(channel)
        runner = Runner(self, lambda call: self._invoke(stub, call))
        try:
            await runner.serve(self._stop_requested, lambda: self._grace)
        finally:
            await channel.close(grace=None)

    def stop(self, grace_seconds: float = 30.0) -> None:
        """Stop leasing; running handlers get `grace_seconds` to finish, the rest are
        handed back (ReleaseTask) so another worker takes them at once."""
        self._grace = grace_seconds
        self._stop_requested.set()

    def run_until_signal(self, grace_seconds: float = 30.0) -> None:
        """`run()` in a fresh event loop until SIGTERM or SIGINT, then a graceful stop.

        The loop is uvloop's where it is installed (as in the server): it cuts the loop's
        share of every call, which is most of a busy worker's own time."""

        async def main() -> None:
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, self.stop, grace_seconds)
            await self.run()

        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(main())

    def heartbeat(self, running: int) -> wpb.WorkerHeartbeat:
        beat = wpb.WorkerHeartbeat(
            host=socket.gethostname(),
            queues=self.queues,
            task_types=sorted(self.handlers),
            concurrency=self.concurrency,
        )
        beat.started_at.FromNanoseconds(int(self._started * 1e9))
        return beat

    def is_async(self, task_type: str) -> bool:
        return inspect.iscoroutinefunction(self.handlers[task_type])

    async def _invoke(self, stub: Any, call: Call[Out]) -> Out:
        try:
            response = await getattr(stub, call.method)(
                call.request,
                timeout=self._settings.deadline(call.server_wait),
                metadata=self._settings.metadata,
            )
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc) from exc
        return call.convert(response)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed (not a dependency); else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


__all__ = [
    "Handler",
    "PermanentError",
    "RetryLater",
    "ServiceError",
    "TaskContext",
    "Worker",
    "handler",
]
