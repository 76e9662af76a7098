"""One table from engine error codes to gRPC status codes, and the abort helper.

Callers get a code and a message they can act on; never a stack trace. Anything the
table does not cover is logged here with a reference and answered INTERNAL.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, NoReturn

import grpc

from ..engine.errors import EngineError, ErrorCode

log = logging.getLogger("taskqueue_server.service")

STATUS_FOR: dict[ErrorCode, grpc.StatusCode] = {
    ErrorCode.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorCode.INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.FAILED_PRECONDITION: grpc.StatusCode.FAILED_PRECONDITION,
    # A stale lease means another claim owns the task now: the caller's view is outdated.
    ErrorCode.STALE_LEASE: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorCode.RESOURCE_EXHAUSTED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorCode.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
}

_MAX_MESSAGE = 1000
# Connection trouble that escaped the engine's own wrapping still means "retry later".
_UNAVAILABLE_NAMES = frozenset({"ConnectionError", "TimeoutError", "BusyLoadingError"})


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status code and caller-facing message for an exception raised by an RPC."""
    if isinstance(exc, EngineError):
        return STATUS_FOR[exc.code], _one_line(exc.message)
    if isinstance(exc, OSError) or _is_redis_connection_error(exc):
        return grpc.StatusCode.UNAVAILABLE, "task store unavailable; retry later"
    reference = uuid.uuid4().hex[:12]
    log.error("unexpected error (ref %s)", reference, exc_info=exc)
    return (
        grpc.StatusCode.INTERNAL,
        f"internal error (ref {reference}); the server log has the details",
    )


async def abort_with(context: grpc.aio.ServicerContext[Any, Any], exc: BaseException) -> NoReturn:
    """End the RPC with the status for `exc`."""
    code, message = status_for(exc)
    await context.abort(code, message)
    raise AssertionError("context.abort returned")  # pragma: no cover - abort always raises


def _is_redis_connection_error(exc: BaseException) -> bool:
    # The service does not import redis (only the engine does); match by class instead.
    return any(
        cls.__module__.startswith("redis") and cls.__name__ in _UNAVAILABLE_NAMES
        for cls in type(exc).__mro__
    )


def _one_line(message: str) -> str:
    line = " ".join(message.split())
    return line if len(line) <= _MAX_MESSAGE else line[: _MAX_MESSAGE - 3] + "..."
