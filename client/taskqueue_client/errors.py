"""Exceptions the client raises: one per gRPC status a caller may act on, and task outcomes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2

from .models import TaskStatus

# The trailer a server fills with a serialized google.rpc.Status (what grpcio-status reads).
_DETAILS_KEY = "grpc-status-details-bin"


class TaskQueueError(Exception):
    """Base of every exception this package raises."""


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One bad request field: its path (e.g. "tasks[3].priority") and what is wrong with it."""

    field: str
    description: str


class ServiceError(TaskQueueError):
    """The service answered a call with an error status; `message` is the server's own words.

    `reason` is the stable word from the server's google.rpc.ErrorInfo (e.g. "QUEUE_FULL",
    "UNKNOWN_TASK_TYPE"; the table is in docs/client.md), "" when the answer carried none
    (a proxy, or a limit gRPC itself enforces). `field_violations` names the bad fields of an
    INVALID_ARGUMENT answer. `metadata` is the ErrorInfo's metadata (e.g. "ref" of INTERNAL).
    """

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        reason: str = "",
        field_violations: tuple[FieldViolation, ...] = (),
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason
        self.field_violations = field_violations
        self.metadata = metadata or {}

    def __str__(self) -> str:
        return f"{self.code.name.lower().replace('_', ' ')}: {self.message}"


class InvalidArgument(ServiceError):
    """The request was malformed: fix it before sending it again."""


class NotFound(ServiceError):
    """The task is unknown, or expired and was removed."""


class AlreadyExists(ServiceError):
    """Something with that identity exists already."""


class FailedPrecondition(ServiceError):
    """The task is not in a state that allows this, e.g. cancelling a completed task."""


class ResourceExhausted(ServiceError):
    """A limit was reached (queue length, message size, a slow watcher); back off and retry."""


class PermissionDenied(ServiceError):
    """The caller is known but may not do this."""


class Unauthenticated(ServiceError):
    """The auth token is missing or wrong."""


class Unavailable(ServiceError):
    """The server or its store could not be reached, even after the client's retries."""


class DeadlineExceeded(ServiceError):
    """The call did not finish within its deadline."""


class Internal(ServiceError):
    """The server failed; its logs say more."""


_BY_CODE: dict[grpc.StatusCode, type[ServiceError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.INTERNAL: Internal,
    grpc.StatusCode.DATA_LOSS: Internal,
}

_CODE_BY_VALUE = {code.value[0]: code for code in grpc.StatusCode}


def from_rpc_error(error: grpc.RpcError) -> ServiceError:
    """The exception for a failed call; codes without a class of their own get `ServiceError`."""
    code: grpc.StatusCode = error.code()
    details: str | None = error.details()
    rich = _rich_status(error.trailing_metadata())
    if rich is None:
        return _BY_CODE.get(code, ServiceError)(code, details or code.name)
    return _with_details(code, details or code.name, rich)


def from_status(status: status_pb2.Status) -> ServiceError:
    """The exception for a google.rpc.Status answered in a message (an EnqueueStream
    refusal): the same one a unary call ending with that status raises."""
    code = _CODE_BY_VALUE.get(status.code, grpc.StatusCode.UNKNOWN)
    return _with_details(code, status.message or code.name, status)


def _with_details(code: grpc.StatusCode, message: str, rich: status_pb2.Status) -> ServiceError:
    cls = _BY_CODE.get(code, ServiceError)
    reason, violations, metadata = "", [], {}
    for detail in rich.details:
        # Unpack fills the message only when the detail is of its type; others are skipped.
        info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
        if detail.Unpack(info):
            reason, metadata = info.reason, dict(info.metadata)
        elif detail.Unpack(bad):
            violations += [FieldViolation(v.field, v.description) for v in bad.field_violations]
    return cls(code, message, reason, tuple(violations), metadata)


def _rich_status(trailing: Iterable[Any] | None) -> status_pb2.Status | None:
    """The google.rpc.Status in the trailers, if the server sent one that parses."""
    for key, value in trailing or ():
        if key == _DETAILS_KEY and isinstance(value, bytes):
            try:
                return status_pb2.Status.FromString(value)
            except DecodeError:
                return None  # a details trailer we cannot read leaves the plain status
    return None


class TaskOutcomeError(TaskQueueError):
    """`wait()` ended without a result; `status` and `error` tell how the task ended."""

    def __init__(self, task_id: str, status: TaskStatus, error: str, message: str) -> None:
        super().__init__(message)
        self.task_id = task_id
        self.status = status
        self.error = error


class TaskFailed(TaskOutcomeError):
    """The task failed permanently or ran out of retries; `error` is its last error."""

    def __init__(self, task_id: str, error: str) -> None:
        super().__init__(task_id, TaskStatus.FAILED, error, f"task {task_id} failed: {error}")


class TaskCancelled(TaskOutcomeError):
    """The task was cancelled, or a task it depends on did not complete."""

    def __init__(self, task_id: str, error: str) -> None:
        reason = f": {error}" if error else ""
        super().__init__(
            task_id, TaskStatus.CANCELLED, error, f"task {task_id} was cancelled{reason}"
        )


class WaitTimeout(TaskOutcomeError, TimeoutError):
    """The task had not finished when the wait ran out; it may still finish later."""

    def __init__(self, task_id: str, status: TaskStatus, waited: float) -> None:
        super().__init__(
            task_id, status, "", f"task {task_id} still {status.value} after {waited:g}s"
        )


def outcome_error(task_id: str, status: TaskStatus, error: str) -> TaskOutcomeError | None:
    """The exception for a finished task that has no result, or None when it completed."""
    if status is TaskStatus.FAILED:
        return TaskFailed(task_id, error)
    if status is TaskStatus.CANCELLED:
        return TaskCancelled(task_id, error)
    return None
