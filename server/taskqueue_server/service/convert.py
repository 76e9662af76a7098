"""Pure conversions between protobuf messages and engine models, with request validation.

No I/O here: the servicer calls these around exactly one engine call per RPC.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import orjson
from google.protobuf import struct_pb2
from taskqueue.v1 import taskqueue_pb2 as pb

from ..config.settings import RequestLimits
from ..engine.errors import Reason
from ..engine.models import (
    DEFAULT_MAX_RETRIES,
    JsonObject,
    NewTask,
    Status,
    TaskRecord,
    TaskResult,
    TypeStats,
)
from ..worker.registry import Registration
from .labels import check_labels
from .limits import concurrency_key_of
from .retry_policy import check_retry_policy, retry_policy_to_proto
from .structs import fill_struct, struct_to_dict
from .validation import (
    MAX_DELAY_SECONDS,
    MAX_TIMEOUT_SECONDS,
    InvalidArgument,
    check_depends_on,
    check_depends_on_index,
    check_idempotency_key,
    check_max_retries,
    check_priority,
    check_queue,
    check_seconds,
    check_task_type,
    check_timestamp_ms,
)

# The contract names every status TASK_STATUS_<NAME>; the engine's Status uses the same names.
STATUS_TO_PROTO: dict[Status, pb.TaskStatus.ValueType] = {
    status: pb.TaskStatus.Value(f"TASK_STATUS_{status.name}") for status in Status
}
STATUS_FROM_PROTO: dict[int, Status] = {int(v): k for k, v in STATUS_TO_PROTO.items()}

# --- engine models -> messages ------------------------------------------------------------


def task_to_proto(record: TaskRecord, task_data: struct_pb2.Struct | None = None) -> pb.Task:
    """The Task message for a stored task; unset times (0 ms) stay unset.

    `task_data`, when given, is the caller's own Struct for this very data (a fresh
    enqueue): copying it in C is much cheaper than rebuilding it from the dict.
    """
    task = pb.Task(
        id=record.id,
        queue=record.queue,
        task_type=record.task_type,
        status=STATUS_TO_PROTO[record.status],
        priority=record.priority,
        attempts=record.attempts,
        max_retries=record.max_retries,
        last_error=record.last_error,
        progress=record.progress,
        progress_message=record.progress_message,
        idempotency_key=record.idempotency_key,
        depends_on=record.depends_on,
        timeout_seconds=record.timeout_seconds,
        redeliveries=record.redeliveries,
        version=record.version,
        schedule_id=record.schedule_id,
        unique_key=record.unique_key,
        concurrency_key=record.concurrency_key,
    )
    if record.labels:
        task.labels.update(record.labels)
    if task_data is not None:
        task.task_data.CopyFrom(task_data)
    else:
        fill_struct(task.task_data, record.task_data)
    if record.created_at_ms:
        task.created_at.FromMilliseconds(record.created_at_ms)
    if record.updated_at_ms:
        task.updated_at.FromMilliseconds(record.updated_at_ms)
    if record.run_at_ms:
        task.run_at.FromMilliseconds(record.run_at_ms)
    if record.expire_at_ms:
        task.expire_time.FromMilliseconds(record.expire_at_ms)
    if record.retry_policy is not None:
        retry_policy_to_proto(record.retry_policy, task.retry_policy)
    if record.started_at_ms:
        task.started_at.FromMilliseconds(record.started_at_ms)
    if record.finished_at_ms:
        task.finished_at.FromMilliseconds(record.finished_at_ms)
    if record.schedule_time_ms:
        task.schedule_tick_at.FromMilliseconds(record.schedule_time_ms)
    return task


def result_to_proto(result: TaskResult) -> pb.GetResultResponse:
    response = pb.GetResultResponse(
        task_id=result.task_id, status=STATUS_TO_PROTO[result.status], error=result.error
    )
    if result.result is not None:
        fill_result(response.result, result.result)
    return response


def fill_result(target: struct_pb2.Struct, result: Mapping[str, object]) -> None:
    """A handler's result into a response's result field."""
    target.SetInParent()  # an empty result {} is still a result
    fill_struct(target, result)


def stats_to_proto(stats: Mapping[str, TypeStats]) -> pb.StatsResponse:
    response = pb.StatsResponse()
    for task_type, type_stats in stats.items():
        entry = response.task_types[task_type]
        for status, count in type_stats.counts.items():
            setattr(entry, status.value, count)
        for total, count in type_stats.totals.items():
            setattr(entry, f"{total.value}_total", count)
    return response


# --- requests -> engine models --------------------------------------------------------------


def status_from_proto(value: int, field: str = "status") -> Status | None:
    """None for TASK_STATUS_UNSPECIFIED (no filter)."""
    if value == pb.TASK_STATUS_UNSPECIFIED:
        return None
    status = STATUS_FROM_PROTO.get(value)
    if status is None:
        raise InvalidArgument(field, f"{value} is not a TaskStatus")
    return status


def new_task_from_request(
    request: pb.EnqueueRequest,
    limits: RequestLimits,
    registrations: Mapping[str, Registration],
    prefix: str = "",
    position: int | None = None,
) -> NewTask:
    """Validate one EnqueueRequest and return the engine's NewTask.

    `prefix` names the item in a batch ("tasks[3]."), so messages point at the bad field;
    `position` is its place in the batch (None for Enqueue), for depends_on_index.
    Whether any server knows the task type needs the store (service/task_types.py); the
    type's own task_data validator runs here when this server has its handler.
    """
    task_type = check_task_type(request.task_type, prefix + "task_type")
    registration = registrations.get(task_type)
    queue = check_queue(request.queue, prefix + "queue")
    task_data = struct_to_dict(request.task_data, prefix + "task_data")
    _check_data_size(task_data, limits.max_task_data_bytes, prefix + "task_data")
    if registration is not None and registration.validate is not None:
        _run_validator(registration, task_data, prefix + "task_data")
    max_retries = (
        check_max_retries(request.max_retries, prefix + "max_retries")
        if request.HasField("max_retries")
        else DEFAULT_MAX_RETRIES
    )
    return NewTask(
        task_type=task_type,
        task_data=task_data,
        priority=check_priority(request.priority, prefix + "priority"),
        max_retries=max_retries,
        delay_seconds=check_seconds(
            request.delay_seconds, prefix + "delay_seconds", MAX_DELAY_SECONDS
        ),
        run_at_ms=_timestamp_ms(request, "run_at", prefix),
        idempotency_key=check_idempotency_key(request.idempotency_key, prefix + "idempotency_key"),
        queue=queue,
        timeout_seconds=check_seconds(
            request.timeout_seconds, prefix + "timeout_seconds", MAX_TIMEOUT_SECONDS
        ),
        # The checks below cost a batch of small tasks a tenth of its time even when there
        # is nothing to check; most tasks have no dependencies and no labels.
        depends_on=check_depends_on(list(request.depends_on), queue, prefix + "depends_on")
        if request.depends_on
        else (),
        labels=check_labels(request.labels, prefix + "labels") if request.labels else {},
        unique_key=check_idempotency_key(request.unique_key, prefix + "unique_key"),
        depends_on_index=check_depends_on_index(
            list(request.depends_on_index), position, prefix + "depends_on_index"
        )
        if request.depends_on_index
        else (),
        expire_at_ms=_timestamp_ms(request, "expire_time", prefix) or 0,
        retry_policy=check_retry_policy(request, prefix + "retry_policy"),
        concurrency_key=concurrency_key_of(request, registration, task_data, prefix),
    )


def _timestamp_ms(
    request: pb.EnqueueRequest, name: Literal["run_at", "expire_time"], prefix: str
) -> int | None:
    """A Timestamp field in Unix milliseconds; None when unset."""
    if not request.HasField(name):
        return None
    value = getattr(request, name)
    return check_timestamp_ms(value.seconds, value.nanos, prefix + name)


def new_tasks_from_batch(
    request: pb.EnqueueBatchRequest,
    limits: RequestLimits,
    registrations: Mapping[str, Registration],
) -> list[NewTask]:
    """Validate every item before anything is stored; all share the first item's queue."""
    count = len(request.tasks)
    if count == 0:
        raise InvalidArgument("tasks", "a batch needs at least one task")
    if count > limits.max_batch_size:
        raise InvalidArgument(
            "tasks",
            f"{count} tasks; the limit is {limits.max_batch_size} per batch",
            Reason.BATCH_TOO_LARGE,
        )
    for index, item in enumerate(request.tasks):
        if item.wait_seconds:
            raise InvalidArgument(
                f"tasks[{index}].wait_seconds", "only Enqueue waits; must be 0 in a batch"
            )
    tasks = [
        new_task_from_request(item, limits, registrations, f"tasks[{index}].", index)
        for index, item in enumerate(request.tasks)
    ]
    queue = tasks[0].queue
    for index, task in enumerate(tasks):
        if task.queue != queue:
            raise InvalidArgument(
                f"tasks[{index}].queue",
                f"{task.queue!r} differs from tasks[0].queue {queue!r}; a batch goes to one queue",
            )
    return tasks


def _check_data_size(task_data: JsonObject, limit: int, field: str) -> None:
    size = len(orjson.dumps(task_data))
    if size > limit:
        raise InvalidArgument(
            field, f"{size} bytes as JSON; the limit is {limit} bytes", Reason.TASK_DATA_TOO_LARGE
        )


def _run_validator(registration: Registration, task_data: JsonObject, field: str) -> None:
    assert registration.validate is not None
    try:
        registration.validate(task_data)
    except KeyError as exc:
        raise InvalidArgument(
            field, f"missing field {exc.args[0]!r}", Reason.TASK_DATA_REJECTED
        ) from None
    except (ValueError, TypeError) as exc:
        problem = str(exc) or type(exc).__name__
        raise InvalidArgument(field, problem, Reason.TASK_DATA_REJECTED) from None
