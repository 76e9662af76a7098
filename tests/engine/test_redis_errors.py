"""Every Redis refusal the engine knows becomes an EngineError with its code and reason."""

from __future__ import annotations

import pytest
from redis import exceptions as rx
from taskqueue_server.engine.errors import ErrorCode, Reason, StoreUnavailable
from taskqueue_server.engine.redis_errors import (
    REFUSALS,
    engine_error_for,
    engine_errors_from_redis,
)

# What redis-py raises for each refusal (it strips the words it has a class for).
RAISED = {
    "OOM": rx.OutOfMemoryError("command not allowed when used memory > 'maxmemory'."),
    "READONLY": rx.ReadOnlyError("You can't write against a read only replica."),
    "MISCONF": rx.ResponseError("MISCONF Redis is configured to save RDB snapshots, ..."),
    "BUSY": rx.ResponseError("BUSY Redis is busy running a script. You can only call ..."),
    "LOADING": rx.BusyLoadingError("Redis is loading the dataset in memory"),
    "NOPERM": rx.NoPermissionError("this user has no permissions to run the 'evalsha' command"),
    "CLUSTERDOWN": rx.ClusterDownError("The cluster is down"),
}


def test_every_refusal_has_a_raised_example() -> None:
    assert set(RAISED) == set(REFUSALS)


@pytest.mark.parametrize("word", sorted(REFUSALS))
def test_refusals_map_to_their_code_reason_and_message(word: str) -> None:
    code, reason, message = REFUSALS[word]
    error = engine_error_for(RAISED[word])
    assert error is not None
    assert (error.code, error.reason) == (code, reason)
    assert message in error.message
    assert isinstance(error, StoreUnavailable) == (code is ErrorCode.UNAVAILABLE)


def test_wrong_password_and_no_auth_are_access_denied() -> None:
    for exc in (rx.AuthenticationError("invalid username-password pair"),
                rx.AuthenticationError("Authentication required.")):  # fmt: skip
        error = engine_error_for(exc)
        assert error is not None and error.reason is Reason.STORE_ACCESS_DENIED


def test_every_cluster_trouble_is_the_clusterdown_refusal() -> None:
    for exc in (
        rx.MasterDownError("Link with MASTER is down"),
        rx.TryAgainError("Multiple keys request during rehashing of slot"),
        rx.SlotNotCoveredError('Slot "12" is not covered by the cluster.'),
        rx.ClusterError("TTL exhausted."),
    ):
        with pytest.raises(StoreUnavailable, match="CLUSTERDOWN"), engine_errors_from_redis():
            raise exc


def test_connection_trouble_is_store_unavailable_and_bugs_pass_through() -> None:
    for exc in (rx.ConnectionError("refused"), rx.TimeoutError(), ConnectionResetError()):
        error = engine_error_for(exc)
        assert error is not None and error.reason is Reason.STORE_UNAVAILABLE
    bug = rx.ResponseError("ERR wrong number of arguments for 'hset' command")
    assert engine_error_for(bug) is None
    with pytest.raises(rx.ResponseError), engine_errors_from_redis():
        raise bug
    with pytest.raises(StoreUnavailable), engine_errors_from_redis():
        raise RAISED["BUSY"]
