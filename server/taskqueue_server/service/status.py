"""One table from engine error codes to gRPC status codes, and the helpers that refuse a call.

Callers get a code and a message they can act on, never a stack trace, plus google.rpc.Status
details any language can read without parsing the message: an ErrorInfo with a stable reason
(domain "taskqueue.v1") and, for a bad field, a BadRequest naming its path. Anything the table
does not cover is logged here with a reference and answered INTERNAL.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from enum import StrEnum
from typing import Any, NoReturn, TypeVar

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from ..engine.errors import EngineError, ErrorCode, Reason

log = logging.getLogger("taskqueue_server.service")
Context = grpc.aio.ServicerContext[Any, Any]
Servicer = TypeVar("Servicer")
Request = TypeVar("Request")
Response = TypeVar("Response")

DOMAIN = "taskqueue.v1"
STATUS_FOR: dict[ErrorCode, grpc.StatusCode] = {
    ErrorCode.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorCode.INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.FAILED_PRECONDITION: grpc.StatusCode.FAILED_PRECONDITION,
    # A stale lease means another claim owns the task now: the caller's view is outdated.
    ErrorCode.STALE_LEASE: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorCode.RESOURCE_EXHAUSTED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorCode.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    ErrorCode.ALREADY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
}


class ServiceReason(StrEnum):
    """Reasons only the gRPC layer gives (the engine's are engine.errors.Reason)."""

    MALFORMED_REQUEST = "MALFORMED_REQUEST"
    TOKEN_INVALID = "TOKEN_INVALID"  # noqa: S105 - a reason, not a secret
    ROLE_TOO_WEAK = "ROLE_TOO_WEAK"
    INTERNAL_ERROR = "INTERNAL_ERROR"


_MAX_MESSAGE = 1000
# Connection trouble that escaped the engine's own wrapping still means "retry later".
_UNAVAILABLE_NAMES = frozenset({"ConnectionError", "TimeoutError", "BusyLoadingError"})


@dataclasses.dataclass(frozen=True, slots=True)
class Refusal:
    """What a refused call answers: status code, message, reason, and the field at fault."""

    code: grpc.StatusCode
    message: str
    reason: str
    field: str = ""
    metadata: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def to_status(self) -> grpc.Status:
        """The grpc.Status carrying google.rpc.Status details in its trailing metadata."""
        return rpc_status.to_status(self.to_rpc_status())

    def to_rpc_status(self) -> status_pb2.Status:
        """The google.rpc.Status: code, message, ErrorInfo and, for a bad field, BadRequest."""
        info = error_details_pb2.ErrorInfo(
            reason=self.reason, domain=DOMAIN, metadata=dict(self.metadata)
        )
        details = [_packed(info)]
        if self.field:
            violation = error_details_pb2.BadRequest.FieldViolation(
                field=self.field, description=self.message, reason=self.reason
            )
            details.append(_packed(error_details_pb2.BadRequest(field_violations=[violation])))
        return status_pb2.Status(code=self.code.value[0], message=self.message, details=details)


def refusal_for(exc: BaseException) -> Refusal:
    """The refusal for an exception raised by an RPC."""
    if isinstance(exc, EngineError):
        return Refusal(STATUS_FOR[exc.code], _one_line(exc.message), exc.reason, exc.field)
    if isinstance(exc, OSError) or _is_redis_connection_error(exc):
        return Refusal(
            grpc.StatusCode.UNAVAILABLE,
            "task store unavailable; retry later",
            Reason.STORE_UNAVAILABLE,
        )
    reference = uuid.uuid4().hex[:12]
    log.error("unexpected error (ref %s)", reference, exc_info=exc)
    return Refusal(
        grpc.StatusCode.INTERNAL,
        f"internal error (ref {reference}); the server log has the details",
        ServiceReason.INTERNAL_ERROR,
        metadata={"ref": reference},
    )


async def refuse(context: Context, refusal: Refusal) -> NoReturn:
    """End the RPC with `refusal`, details included."""
    # What abort_with_status does in grpc.aio, spelled with abort, which grpc-stubs types.
    status = refusal.to_status()
    await context.abort(status.code, status.details, status.trailing_metadata)
    raise AssertionError("context.abort returned")  # pragma: no cover - abort always raises


async def abort_with(context: Context, exc: BaseException) -> NoReturn:
    """End the RPC with the refusal for `exc`."""
    await refuse(context, refusal_for(exc))


def refuses_on_error(
    method: Callable[[Servicer, Request, Context], Awaitable[Response]],
) -> Callable[[Servicer, Request, Context], Awaitable[Response]]:
    """A unary RPC whose every exception ends the call as `abort_with` answers it."""

    @functools.wraps(method)
    async def rpc(self: Servicer, request: Request, context: Context) -> Response:
        try:
            return await method(self, request, context)
        except Exception as exc:
            await abort_with(context, exc)

    return rpc


def stream_refuses_on_error(
    method: Callable[[Servicer, Request, Context], AsyncGenerator[Response]],
) -> Callable[[Servicer, Request, Context], AsyncGenerator[Response]]:
    """`refuses_on_error` for a server-streaming RPC, for its start and every message."""

    @functools.wraps(method)
    async def rpc(self: Servicer, request: Request, context: Context) -> AsyncGenerator[Response]:
        try:
            # aclosing: a stream that ends early closes `method` now, running its finally.
            async with contextlib.aclosing(method(self, request, context)) as responses:
                async for response in responses:
                    yield response
        except Exception as exc:
            await abort_with(context, exc)

    return rpc


def _packed(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def _is_redis_connection_error(exc: BaseException) -> bool:
    # The service does not import redis (only the engine does); match by class instead.
    return any(
        cls.__module__.startswith("redis") and cls.__name__ in _UNAVAILABLE_NAMES
        for cls in type(exc).__mro__
    )


def _one_line(message: str) -> str:
    line = " ".join(message.split())
    return line if len(line) <= _MAX_MESSAGE else line[: _MAX_MESSAGE - 3] + "..."
