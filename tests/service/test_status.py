"""One table maps every engine error to a gRPC status with google.rpc details; no stack traces."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from taskqueue_server.engine.errors import (
    EngineError,
    ErrorCode,
    Reason,
    StoreUnavailable,
    TaskNotFound,
)
from taskqueue_server.service.status import (
    DOMAIN,
    STATUS_FOR,
    Refusal,
    ServiceReason,
    refusal_for,
    refuses_on_error,
    stream_refuses_on_error,
)
from taskqueue_server.service.validation import InvalidArgument, check_priority


def details_of(refusal: Refusal) -> tuple[status_pb2.Status, list[Any]]:
    """The google.rpc.Status a client decodes from the trailer, and its unpacked details."""
    status = refusal.to_status()
    (key, blob), *_ = status.trailing_metadata
    assert key == "grpc-status-details-bin"
    rich = status_pb2.Status.FromString(blob)
    unpacked: list[Any] = []
    for detail in rich.details:
        for cls in (error_details_pb2.ErrorInfo, error_details_pb2.BadRequest):
            if detail.Is(cls.DESCRIPTOR):
                message = cls()
                detail.Unpack(message)
                unpacked.append(message)
    return rich, unpacked


def test_every_error_code_is_mapped() -> None:
    assert set(STATUS_FOR) == set(ErrorCode)


@pytest.mark.parametrize("code", list(ErrorCode))
def test_codes_keep_their_grpc_name_except_stale_lease(code: ErrorCode) -> None:
    expected = "FAILED_PRECONDITION" if code is ErrorCode.STALE_LEASE else code.name
    assert refusal_for(EngineError(code, "why")).code.name == expected


@pytest.mark.parametrize("reason", list(Reason))
def test_every_reason_reaches_the_caller_as_error_info(reason: Reason) -> None:
    refusal = refusal_for(EngineError(ErrorCode.UNAVAILABLE, "why", reason))
    rich, [info] = details_of(refusal)
    assert (rich.code, rich.message) == (grpc.StatusCode.UNAVAILABLE.value[0], "why")
    assert (info.reason, info.domain) == (reason.value, DOMAIN)


def test_a_bad_field_adds_a_field_violation() -> None:
    with pytest.raises(InvalidArgument) as bad:
        check_priority(5000, "tasks[3].priority")
    refusal = refusal_for(bad.value)
    assert refusal.code is grpc.StatusCode.INVALID_ARGUMENT
    _, [info, bad_request] = details_of(refusal)
    assert info.reason == "INVALID_FIELD"
    [violation] = bad_request.field_violations
    assert violation.field == "tasks[3].priority"
    assert violation.description == refusal.message and "out of range" in violation.description


def test_engine_messages_pass_through_on_one_line() -> None:
    refusal = refusal_for(TaskNotFound("default-x"))
    assert (refusal.code, refusal.message, refusal.reason) == (
        grpc.StatusCode.NOT_FOUND,
        "task 'default-x' not found (unknown or expired)",
        "TASK_NOT_FOUND",
    )
    assert refusal_for(EngineError(ErrorCode.INVALID_ARGUMENT, "a\nb   c")).message == "a b c"


def test_store_trouble_is_unavailable() -> None:
    for exc in (StoreUnavailable("connection refused"), ConnectionRefusedError()):
        refusal = refusal_for(exc)
        assert (refusal.code, refusal.reason) == (
            grpc.StatusCode.UNAVAILABLE, Reason.STORE_UNAVAILABLE
        )


def test_redis_connection_errors_that_escape_the_engine_are_unavailable() -> None:
    import redis.exceptions

    refusal = refusal_for(redis.exceptions.ConnectionError("Error 111 connecting"))
    assert refusal.code is grpc.StatusCode.UNAVAILABLE


def test_a_bug_is_internal_with_a_reference_and_no_trace() -> None:
    refusal = refusal_for(KeyError("secret internals"))
    assert refusal.code is grpc.StatusCode.INTERNAL
    assert "secret internals" not in refusal.message and "Traceback" not in refusal.message
    _, [info] = details_of(refusal)
    assert info.reason == ServiceReason.INTERNAL_ERROR
    assert f"ref {info.metadata['ref']}" in refusal.message


class Aborted(Exception):
    """What grpc.aio's context.abort raises; the fake context raises this instead."""


class FakeContext:
    def __init__(self) -> None:
        self.aborted: tuple[Any, ...] = ()

    async def abort(self, code: grpc.StatusCode, details: str, trailing: Any) -> None:
        self.aborted = (code, details, trailing)
        raise Aborted


class Servicer:
    def __init__(self) -> None:
        self.closed = False

    @refuses_on_error
    async def Refuse(self, request: str, context: Any) -> str:
        raise TaskNotFound(request)

    @refuses_on_error
    async def Answer(self, request: str, context: Any) -> str:
        return request.upper()

    @stream_refuses_on_error
    async def Watch(self, request: str, context: Any) -> AsyncGenerator[str]:
        try:
            yield request
            raise EngineError(ErrorCode.RESOURCE_EXHAUSTED, "slow", Reason.WATCHER_TOO_SLOW)
        finally:
            self.closed = True


async def test_the_decorators_turn_exceptions_into_refusals_with_details() -> None:
    context = FakeContext()
    assert await Servicer().Answer("ok", context) == "OK"
    with pytest.raises(Aborted):
        await Servicer().Refuse("default-x", context)
    code, details, trailing = context.aborted
    assert code is grpc.StatusCode.NOT_FOUND and "not found" in details
    assert trailing == refusal_for(TaskNotFound("default-x")).to_status().trailing_metadata

    servicer, seen = Servicer(), []
    with pytest.raises(Aborted):
        async for item in servicer.Watch("first", context):
            seen.append(item)
    assert seen == ["first"] and servicer.closed
    assert context.aborted[0] is grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_a_stream_closed_early_runs_its_cleanup_at_once() -> None:
    servicer = Servicer()
    stream = servicer.Watch("first", FakeContext())
    assert await anext(stream) == "first"
    await stream.aclose()
    assert servicer.closed
