"""Engine errors: one code table shared by the Lua scripts and the service's status mapping."""

from __future__ import annotations

from enum import IntEnum


class ErrorCode(IntEnum):
    """Codes the Lua scripts return (as `{err = "TQ<code> message"}`) and Python raises.

    The names follow gRPC's status codes so the service maps them one to one.
    """

    NOT_FOUND = 1
    INVALID_ARGUMENT = 2
    FAILED_PRECONDITION = 3
    STALE_LEASE = 4
    RESOURCE_EXHAUSTED = 5
    UNAVAILABLE = 6


class EngineError(Exception):
    """A refused operation, with a message a caller can act on."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class TaskNotFound(EngineError):
    def __init__(self, task_id: str) -> None:
        super().__init__(ErrorCode.NOT_FOUND, f"task {task_id!r} not found (unknown or expired)")


class StoreUnavailable(EngineError):
    """Redis cannot be reached; the caller may retry."""

    def __init__(self, detail: str) -> None:
        super().__init__(ErrorCode.UNAVAILABLE, f"task store unavailable: {detail}")
