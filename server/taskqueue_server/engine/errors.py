"""Engine errors: one code table shared by the Lua scripts and the service's status mapping,
and the stable reasons callers match on (sent as google.rpc.ErrorInfo.reason)."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class ErrorCode(IntEnum):
    """Codes the Lua scripts return (as `{err = "TQ<code> <reason> message"}`) and Python raises.

    The names follow gRPC's status codes so the service maps them one to one.
    """

    NOT_FOUND = 1
    INVALID_ARGUMENT = 2
    FAILED_PRECONDITION = 3
    STALE_LEASE = 4
    RESOURCE_EXHAUSTED = 5
    UNAVAILABLE = 6
    ALREADY_EXISTS = 7


class Reason(StrEnum):
    """Why a request was refused, stable across releases (documented in docs/client.md).

    A code says what kind of refusal it is; the reason says which one, so a program can act on
    it without parsing the message. Scripts spell them in their error replies too.
    """

    INVALID_FIELD = "INVALID_FIELD"
    UNKNOWN_TASK_TYPE = "UNKNOWN_TASK_TYPE"
    TASK_DATA_TOO_LARGE = "TASK_DATA_TOO_LARGE"
    TASK_DATA_REJECTED = "TASK_DATA_REJECTED"
    BATCH_TOO_LARGE = "BATCH_TOO_LARGE"
    INVALID_PAGE_TOKEN = "INVALID_PAGE_TOKEN"  # noqa: S105 - a reason, not a secret
    DEPENDENCY_NOT_FOUND = "DEPENDENCY_NOT_FOUND"
    TASK_NOT_FOUND = "TASK_NOT_FOUND"
    TASK_TERMINAL = "TASK_TERMINAL"
    TASK_NOT_RETRYABLE = "TASK_NOT_RETRYABLE"
    TASK_RUNNING = "TASK_RUNNING"
    COUNT_MISMATCH = "COUNT_MISMATCH"
    DEPENDENCY_FAILED = "DEPENDENCY_FAILED"
    STALE_LEASE = "STALE_LEASE"
    QUEUE_FULL = "QUEUE_FULL"
    TOO_MANY_WATCHERS = "TOO_MANY_WATCHERS"
    WATCHER_TOO_SLOW = "WATCHER_TOO_SLOW"
    STORE_FULL = "STORE_FULL"
    STORE_UNAVAILABLE = "STORE_UNAVAILABLE"
    STORE_LOADING = "STORE_LOADING"
    STORE_READ_ONLY = "STORE_READ_ONLY"
    STORE_WRITES_FAILING = "STORE_WRITES_FAILING"
    STORE_BUSY = "STORE_BUSY"
    STORE_ACCESS_DENIED = "STORE_ACCESS_DENIED"
    SERVER_STOPPING = "SERVER_STOPPING"
    SCHEDULE_NOT_FOUND = "SCHEDULE_NOT_FOUND"
    SCHEDULE_EXISTS = "SCHEDULE_EXISTS"


# The reason an error gets when its source names none: the most common refusal of each code.
DEFAULT_REASON: dict[ErrorCode, Reason] = {
    ErrorCode.NOT_FOUND: Reason.TASK_NOT_FOUND,
    ErrorCode.INVALID_ARGUMENT: Reason.INVALID_FIELD,
    ErrorCode.FAILED_PRECONDITION: Reason.TASK_TERMINAL,
    ErrorCode.STALE_LEASE: Reason.STALE_LEASE,
    ErrorCode.RESOURCE_EXHAUSTED: Reason.QUEUE_FULL,
    ErrorCode.UNAVAILABLE: Reason.STORE_UNAVAILABLE,
    ErrorCode.ALREADY_EXISTS: Reason.SCHEDULE_EXISTS,
}


class EngineError(Exception):
    """A refused operation, with a message a caller can act on and a stable reason.

    `field` is the request field at fault (a path such as "tasks[3].priority"), if any.
    """

    def __init__(
        self, code: ErrorCode, message: str, reason: Reason | None = None, field: str = ""
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or DEFAULT_REASON[code]
        self.field = field


class TaskNotFound(EngineError):
    def __init__(self, task_id: str) -> None:
        super().__init__(ErrorCode.NOT_FOUND, f"task {task_id!r} not found (unknown or expired)")


class StoreUnavailable(EngineError):
    """Redis cannot be reached, or refuses to serve for now; the caller may retry."""

    def __init__(self, detail: str, reason: Reason = Reason.STORE_UNAVAILABLE) -> None:
        super().__init__(ErrorCode.UNAVAILABLE, f"task store unavailable: {detail}", reason)
