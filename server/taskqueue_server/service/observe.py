"""Counts every gRPC call by method and status code, with its duration, for /metrics."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator
from typing import Any, Protocol

import grpc

from .interceptor_types import Continuation, Handler, Interceptor

Context = grpc.aio.ServicerContext[Any, Any]


class RpcObserver(Protocol):
    def observe_rpc(self, method: str, code: str, seconds: float) -> None: ...


class ObserveCalls(Interceptor):
    """Wraps the handlers of our RPCs (unary requests, and EnqueueStream's stream of them) to
    report how each call ended."""

    def __init__(self, observer: RpcObserver) -> None:
        self._observer = observer

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method.rsplit("/", 1)[-1]
        if handler.request_streaming:
            behavior = handler.stream_stream
            if not handler.response_streaming or not inspect.isasyncgenfunction(behavior):
                return handler
            return grpc.stream_stream_rpc_method_handler(
                self._stream(behavior, method),
                handler.request_deserializer,
                handler.response_serializer,
            )
        if handler.response_streaming:
            behavior = handler.unary_stream
            if not inspect.isasyncgenfunction(behavior):  # health Watch writes via context
                return handler
            return grpc.unary_stream_rpc_method_handler(
                self._stream(behavior, method),
                handler.request_deserializer,
                handler.response_serializer,
            )
        return grpc.unary_unary_rpc_method_handler(
            self._unary(handler.unary_unary, method),
            handler.request_deserializer,
            handler.response_serializer,
        )

    def _report(
        self, method: str, context: Context, failed: BaseException | None, start: float
    ) -> None:
        code = context.code()
        if code is None:
            if failed is None:
                code = grpc.StatusCode.OK
            elif isinstance(failed, asyncio.CancelledError):
                code = grpc.StatusCode.CANCELLED
            else:
                code = grpc.StatusCode.UNKNOWN
        name = code.name if isinstance(code, grpc.StatusCode) else str(code)
        self._observer.observe_rpc(method, name, time.perf_counter() - start)

    def _unary(self, behavior: Any, method: str) -> Any:
        async def observed(request: Any, context: Context) -> Any:
            start, failed = time.perf_counter(), None
            try:
                return await behavior(request, context)
            except BaseException as exc:
                failed = exc
                raise
            finally:
                self._report(method, context, failed, start)

        return observed

    def _stream(self, behavior: Any, method: str) -> Any:
        async def observed(request: Any, context: Context) -> AsyncIterator[Any]:
            start, failed = time.perf_counter(), None
            try:
                async for response in behavior(request, context):
                    yield response
            except BaseException as exc:
                failed = exc
                raise
            finally:
                self._report(method, context, failed, start)

        return observed
