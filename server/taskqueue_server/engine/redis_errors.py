"""Redis trouble and refusals become EngineErrors with a code, a reason and a clear message.

Every Redis call of the engine runs inside `engine_errors_from_redis()`, so the service sees
only EngineError (it imports no redis). A refusal a script meets arrives the same way as one a
plain command meets (Redis keeps the error word of a command a script called): redis-py
raises it with the Redis error word (OOM, READONLY, ...) either as its class or, for words it
has no class for (MISCONF, BUSY), at the head of the message.
A write Redis refuses is refused before anything is written: each script's first write fails
and the script stops, so nothing is half-stored.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from redis.exceptions import (
    AuthenticationError,
    AuthorizationError,
    BusyLoadingError,
    ClusterDownError,
    ClusterError,
    ConnectionError,
    NoPermissionError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisClusterException,
    ResponseError,
    TimeoutError,
    TryAgainError,
)

from .errors import EngineError, ErrorCode, Reason, StoreUnavailable

_RETRY = "retry later"
# Each refusal by the Redis error word that names it: UNAVAILABLE ones as the detail of a
# StoreUnavailable (the server keeps retrying those), OOM as RESOURCE_EXHAUSTED.
# Documented in docs/operations.md.
REFUSALS: dict[str, tuple[ErrorCode, Reason, str]] = {
    "OOM": (
        ErrorCode.RESOURCE_EXHAUSTED,
        Reason.STORE_FULL,
        f"the task store is full (Redis maxmemory); nothing was stored; {_RETRY} "
        "or raise maxmemory",
    ),
    "READONLY": (
        ErrorCode.UNAVAILABLE,
        Reason.STORE_READ_ONLY,
        "it is a read-only replica (Redis READONLY, e.g. after a failover); nothing was "
        f"stored; {_RETRY}, or point the server at the primary",
    ),
    "MISCONF": (
        ErrorCode.UNAVAILABLE,
        Reason.STORE_WRITES_FAILING,
        "it refuses writes because it cannot save to disk (Redis MISCONF); nothing was "
        f"stored; {_RETRY}; an operator must fix Redis persistence",
    ),
    "BUSY": (
        ErrorCode.UNAVAILABLE,
        Reason.STORE_BUSY,
        f"it is busy running a long script (Redis BUSY); {_RETRY}",
    ),
    "LOADING": (
        ErrorCode.UNAVAILABLE,
        Reason.STORE_LOADING,
        f"it is loading its data after a restart (Redis LOADING); {_RETRY}",
    ),
    "CLUSTERDOWN": (
        ErrorCode.UNAVAILABLE,
        Reason.STORE_UNAVAILABLE,
        "the Redis Cluster slot of this queue has no primary for now (Redis CLUSTERDOWN: a "
        f"failover is under way or the shard is down); {_RETRY}",
    ),
    "NOPERM": (
        ErrorCode.UNAVAILABLE,
        Reason.STORE_ACCESS_DENIED,
        "it refused this server access (Redis NOPERM, NOAUTH or WRONGPASS); an operator "
        f"must fix the server's Redis user, password or ACL; {_RETRY}",
    ),
}
# Classes redis-py raises in place of the word (it strips the word from the message).
_WORD_OF: tuple[tuple[type[Exception], str], ...] = (
    (OutOfMemoryError, "OOM"),
    (ReadOnlyError, "READONLY"),
    (BusyLoadingError, "LOADING"),
    (NoPermissionError, "NOPERM"),
    (AuthenticationError, "NOPERM"),
    (AuthorizationError, "NOPERM"),
    # Redis Cluster: a slot without a primary (failover, shard down) or redirections that
    # never settle. RedisClusterException covers SlotNotCoveredError and "cannot connect".
    (ClusterDownError, "CLUSTERDOWN"),
    (TryAgainError, "CLUSTERDOWN"),
    (ClusterError, "CLUSTERDOWN"),
    (RedisClusterException, "CLUSTERDOWN"),
)


def refusal_word(exc: Exception) -> str | None:
    """The Redis error word of a refusal this module maps, or None."""
    for cls, word in _WORD_OF:
        if isinstance(exc, cls):
            return word
    if isinstance(exc, ResponseError):
        word = str(exc).split(" ", 1)[0]
        return word if word in REFUSALS else None
    return None


def engine_error_for(exc: Exception) -> EngineError | None:
    """The EngineError for a Redis refusal or connection failure; None for anything else."""
    word = refusal_word(exc)
    if word is not None:
        code, reason, message = REFUSALS[word]
        if code is ErrorCode.UNAVAILABLE:
            return StoreUnavailable(message, reason)
        return EngineError(code, message, reason)
    if isinstance(exc, ConnectionError | TimeoutError | OSError):
        return StoreUnavailable(type(exc).__name__)
    return None


@contextlib.contextmanager
def engine_errors_from_redis() -> Iterator[None]:
    try:
        yield
    except (
        ResponseError, ConnectionError, TimeoutError, OSError, ClusterError, RedisClusterException
    ) as exc:
        error = engine_error_for(exc)
        if error is None:
            raise
        raise error from exc
