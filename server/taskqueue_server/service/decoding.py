"""Undecodable requests get INVALID_ARGUMENT, not UNKNOWN with a server-side traceback.

grpc.aio turns an exception in a request deserializer into UNKNOWN "Unexpected <class
'google.protobuf.message.DecodeError'>" and logs a traceback at ERROR for every such call,
so anyone can fill the log with corrupt bytes or a Struct nested past protobuf's depth
limit. This interceptor swaps in a deserializer that never raises and answers the call
INVALID_ARGUMENT before the servicer sees it. Client-streaming methods (only reflection)
are left as they are.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc

from .interceptor_types import Continuation, Handler, Interceptor
from .status import Refusal, ServiceReason, refuse

log = logging.getLogger("taskqueue_server.service")

Context = grpc.aio.ServicerContext[Any, Any]

UNDECODABLE = (
    "the request is not a valid protobuf message for this method "
    "(corrupt bytes, or nested deeper than protobuf's limit of 100 levels)"
)


class _Undecodable:
    """Stands in for a request whose bytes did not parse."""


_UNDECODABLE = _Undecodable()


def _never_raises(deserializer: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    def decode(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception:  # DecodeError, RecursionError: the bytes are the caller's fault
            return _UNDECODABLE

    return decode


class DecodeGuard(Interceptor):
    """Answers INVALID_ARGUMENT to unary-request calls whose message does not parse."""

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler:
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_streaming or handler.request_deserializer is None:
            return handler
        decode = _never_raises(handler.request_deserializer)
        method = handler_call_details.method
        if handler.response_streaming:
            return grpc.unary_stream_rpc_method_handler(
                _guard_stream(handler.unary_stream, method), decode, handler.response_serializer
            )
        return grpc.unary_unary_rpc_method_handler(
            _guard_unary(handler.unary_unary, method), decode, handler.response_serializer
        )


async def _refuse(context: Context, method: str) -> None:
    log.debug("undecodable request to %s", method)
    await refuse(
        context,
        Refusal(grpc.StatusCode.INVALID_ARGUMENT, UNDECODABLE, ServiceReason.MALFORMED_REQUEST),
    )


def _guard_unary(behavior: Any, method: str) -> Any:
    async def guarded(request: Any, context: Context) -> Any:
        if request is _UNDECODABLE:
            await _refuse(context, method)
        return await behavior(request, context)

    return guarded


def _guard_stream(behavior: Any, method: str) -> Any:
    if not inspect.isasyncgenfunction(behavior):  # writes with context.write (health Watch)
        return _guard_unary(behavior, method)

    async def guarded(request: Any, context: Context) -> AsyncIterator[Any]:
        if request is _UNDECODABLE:
            await _refuse(context, method)
        async for response in behavior(request, context):
            yield response

    return guarded
