"""Conversions between the generated messages and the client's models, shared by both clients."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

from google.protobuf import json_format, struct_pb2, timestamp_pb2
from taskqueue.v1 import taskqueue_pb2 as pb

from .models import (
    EnqueueOptions,
    JsonObject,
    Task,
    TaskResult,
    TaskRetryPolicy,
    TaskStatus,
    TaskTypeStats,
)

# The contract names every status TASK_STATUS_<NAME>; TaskStatus uses the same names (the
# server's engine too), so the table follows the contract instead of being spelled here.
_STATUS_FROM_PROTO: dict[int, TaskStatus] = {
    pb.TaskStatus.Value(f"TASK_STATUS_{status.name}"): status
    for status in TaskStatus
    if status is not TaskStatus.UNKNOWN
}
_STATUS_TO_PROTO = {status: number for number, status in _STATUS_FROM_PROTO.items()}

# Struct numbers are doubles; whole ones go back to int so {"count": 3} round-trips as 3.
_MAX_EXACT_INT = 2**53


def status_from_proto(value: int) -> TaskStatus:
    """A newer server may send statuses added after this client was built: UNKNOWN."""
    return _STATUS_FROM_PROTO.get(value, TaskStatus.UNKNOWN)


def status_to_proto(status: TaskStatus | str) -> pb.TaskStatus.ValueType:
    number = _STATUS_TO_PROTO.get(TaskStatus(status))
    if number is None:
        raise ValueError(f"cannot ask the server for tasks in status {status!r}")
    return cast(pb.TaskStatus.ValueType, number)


def _restore_ints(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) <= _MAX_EXACT_INT:
        return int(value)
    if isinstance(value, dict):
        return {key: _restore_ints(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_restore_ints(item) for item in value]
    return value


def struct_to_dict(struct: struct_pb2.Struct) -> JsonObject:
    data = json_format.MessageToDict(struct)
    restored: JsonObject = _restore_ints(data)
    return restored


def dict_to_struct(data: Mapping[str, Any] | None) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    if data is not None:
        fill_struct(struct, data)
    return struct


def fill_struct(struct: struct_pb2.Struct, data: Mapping[str, Any]) -> None:
    """Writes `data` into `struct` in place (cheaper than building one and copying it)."""
    if not isinstance(data, Mapping):
        raise TypeError(f"task_data must be a JSON object (a mapping), not {type(data).__name__}")
    try:
        struct.update(dict(data))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"task_data is not JSON-serialisable: {exc}") from None


def timestamp_to_datetime(ts: timestamp_pb2.Timestamp) -> datetime | None:
    """Unset timestamps (the epoch) mean "not yet", hence None."""
    if ts.seconds == 0 and ts.nanos == 0:
        return None
    return ts.ToDatetime(tzinfo=UTC)


def datetime_to_timestamp(moment: datetime, name: str = "run_at") -> timestamp_pb2.Timestamp:
    if moment.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware, e.g. datetime.now(timezone.utc)")
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(moment)
    return ts


def task_from_proto(message: pb.Task) -> Task:
    return Task(
        id=message.id,
        queue=message.queue,
        task_type=message.task_type,
        task_data=struct_to_dict(message.task_data),
        status=status_from_proto(message.status),
        priority=message.priority,
        attempts=message.attempts,
        max_retries=message.max_retries,
        created_at=timestamp_to_datetime(message.created_at),
        updated_at=timestamp_to_datetime(message.updated_at),
        run_at=timestamp_to_datetime(message.run_at),
        started_at=timestamp_to_datetime(message.started_at),
        finished_at=timestamp_to_datetime(message.finished_at),
        last_error=message.last_error,
        progress=message.progress,
        progress_message=message.progress_message,
        idempotency_key=message.idempotency_key,
        depends_on=tuple(message.depends_on),
        timeout_seconds=message.timeout_seconds,
        redeliveries=message.redeliveries,
        version=message.version,
        unique_key=message.unique_key,
        expire_time=timestamp_to_datetime(message.expire_time),
        retry_policy=retry_policy_of(message),
        concurrency_key=message.concurrency_key,
    )


def retry_policy_of(
    message: pb.Task | pb.SetQueueRetryPolicyResponse | pb.GetQueueRetryPolicyResponse,
) -> TaskRetryPolicy | None:
    """The message's retry_policy as a dict of the fields set; None when unset."""
    if not message.HasField("retry_policy"):
        return None
    policy = message.retry_policy
    fields = {field.name: value for field, value in policy.ListFields()}
    if "permanent_errors" in fields:
        fields["permanent_errors"] = tuple(policy.permanent_errors)
    return cast(TaskRetryPolicy, fields)


def result_from_proto(message: pb.GetResultResponse) -> TaskResult:
    status = status_from_proto(message.status)
    has_result = status is TaskStatus.COMPLETED or message.HasField("result")
    return TaskResult(
        task_id=message.task_id,
        status=status,
        result=struct_to_dict(message.result) if has_result else None,
        error=message.error,
    )


def enqueued_outcome_from_proto(message: pb.EnqueueResponse) -> TaskResult:
    """An Enqueue with wait_seconds: the task's outcome as far as it got within the wait."""
    status = status_from_proto(message.task.status)
    has_result = status is TaskStatus.COMPLETED or message.HasField("result")
    return TaskResult(
        task_id=message.task_id,
        status=status,
        result=struct_to_dict(message.result) if has_result else None,
        error=message.task.last_error if status.is_terminal else "",
    )


def stats_from_proto(message: pb.StatsResponse) -> dict[str, TaskTypeStats]:
    return type_counts_from_proto(message.task_types)


def type_counts_from_proto(task_types: Mapping[str, pb.TaskTypeStats]) -> dict[str, TaskTypeStats]:
    return {
        task_type: TaskTypeStats(
            pending=counts.pending,
            scheduled=counts.scheduled,
            waiting=counts.waiting,
            processing=counts.processing,
            retrying=counts.retrying,
            completed=counts.completed,
            failed=counts.failed,
            cancelled=counts.cancelled,
            enqueued_total=counts.enqueued_total,
            completed_total=counts.completed_total,
            failed_total=counts.failed_total,
            retried_total=counts.retried_total,
            cancelled_total=counts.cancelled_total,
            redelivered_total=counts.redelivered_total,
        )
        for task_type, counts in sorted(task_types.items())
    }


# EnqueueOptions passed to EnqueueRequest as they are, when set.
_OPTIONAL_FIELDS = (
    "priority",
    "queue",
    "timeout_seconds",
    "depends_on",
    "depends_on_index",
    "unique_key",
    "concurrency_key",
)


def enqueue_request(
    task_type: str,
    task_data: Mapping[str, Any] | None,
    options: EnqueueOptions,
    auto_idempotency_key: bool,
) -> pb.EnqueueRequest:
    """The request for one task; a None idempotency key becomes a fresh one when enabled."""
    unknown = set(options) - set(EnqueueOptions.__annotations__)
    if unknown:
        raise TypeError(f"unknown enqueue option(s): {', '.join(sorted(unknown))}")
    key = options.get("idempotency_key")
    if key is None:
        key = new_idempotency_key() if auto_idempotency_key else ""
    delay = float(options.get("delay_seconds", 0.0))
    if not math.isfinite(delay):
        raise ValueError("delay_seconds must be a finite number")
    # Only the fields given: each keyword costs the protobuf constructor time, and a
    # producer of small tasks spends half its time here (issue 16's W1b).
    fields: dict[str, Any] = {
        "task_type": task_type,
        "max_retries": options.get("max_retries", 3),
        "idempotency_key": key,
    }
    if delay:
        fields["delay_seconds"] = delay
    for name in _OPTIONAL_FIELDS:
        value = options.get(name)
        if value:
            fields[name] = value
    request = pb.EnqueueRequest(**fields)
    if task_data is not None:
        fill_struct(request.task_data, task_data)
    run_at, expire_time = options.get("run_at"), options.get("expire_time")
    if run_at is not None:
        request.run_at.CopyFrom(datetime_to_timestamp(run_at))
    if "retry_policy" in options:
        request.retry_policy.CopyFrom(pb.RetryPolicy(**options["retry_policy"]))
    if expire_time is not None:
        request.expire_time.CopyFrom(datetime_to_timestamp(expire_time, "expire_time"))
    return request


def new_idempotency_key() -> str:
    """12 hex digits of milliseconds and 20 random ones: the shape of a task id's suffix.

    The server makes such a key, when its time is near the server's clock, the suffix of the
    task's id, so it stores no separate mapping from the key to the task.
    """
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"
