"""One table maps every engine error code to a gRPC status; nothing leaks a stack trace."""

from __future__ import annotations

import grpc
import pytest
from taskqueue_server.engine.errors import EngineError, ErrorCode, StoreUnavailable, TaskNotFound
from taskqueue_server.service.status import STATUS_FOR, status_for


def test_every_error_code_is_mapped() -> None:
    assert set(STATUS_FOR) == set(ErrorCode)


@pytest.mark.parametrize("code", list(ErrorCode))
def test_codes_keep_their_grpc_name_except_stale_lease(code: ErrorCode) -> None:
    expected = "FAILED_PRECONDITION" if code is ErrorCode.STALE_LEASE else code.name
    assert status_for(EngineError(code, "why"))[0].name == expected


def test_engine_messages_pass_through_on_one_line() -> None:
    assert status_for(TaskNotFound("default-x")) == (
        grpc.StatusCode.NOT_FOUND, "task 'default-x' not found (unknown or expired)"
    )
    _, message = status_for(EngineError(ErrorCode.INVALID_ARGUMENT, "a\nb   c"))
    assert message == "a b c"


def test_store_trouble_is_unavailable() -> None:
    assert status_for(StoreUnavailable("connection refused"))[0] is grpc.StatusCode.UNAVAILABLE
    assert status_for(ConnectionRefusedError())[0] is grpc.StatusCode.UNAVAILABLE


def test_redis_connection_errors_that_escape_the_engine_are_unavailable() -> None:
    import redis.exceptions

    code, _ = status_for(redis.exceptions.ConnectionError("Error 111 connecting"))
    assert code is grpc.StatusCode.UNAVAILABLE


def test_a_bug_is_internal_with_a_reference_and_no_trace() -> None:
    code, message = status_for(KeyError("secret internals"))
    assert code is grpc.StatusCode.INTERNAL
    assert "secret internals" not in message and "Traceback" not in message
    assert "ref " in message
