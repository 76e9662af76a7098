"""Rate and concurrency limits over gRPC: QueueLimits <-> engine Limits, and the
concurrency key a task is enqueued with (docs/limits.md)."""

from __future__ import annotations

from taskqueue.v1 import taskqueue_pb2 as pb

from ..engine.models import JsonObject, Limits
from ..worker.registry import Registration
from .validation import check_concurrency_key, check_queue, check_task_type


def concurrency_key_of(
    request: pb.EnqueueRequest,
    registration: Registration | None,
    task_data: JsonObject,
    prefix: str,
) -> str:
    """The caller's key, else the one the task type's registration derives (GitHub
    imports: one per repository)."""
    key = request.concurrency_key
    if not key and registration is not None and registration.concurrency_key is not None:
        key = registration.concurrency_key(task_data)
    return check_concurrency_key(key, prefix + "concurrency_key")


def limits_from_proto(limits: pb.QueueLimits) -> Limits:
    """Range checks happen in the engine (engine/limits.py), which names the field."""
    return Limits(
        queue=check_queue(limits.queue, "limits.queue"),
        task_type=check_task_type(limits.task_type, "limits.task_type") if limits.task_type else "",
        rate_per_second=limits.rate_per_second if limits.HasField("rate_per_second") else None,
        burst=limits.burst if limits.HasField("burst") else None,
        max_running=limits.max_running if limits.HasField("max_running") else None,
        max_running_per_key=(
            limits.max_running_per_key if limits.HasField("max_running_per_key") else None
        ),
    )


def limits_to_proto(limits: Limits) -> pb.QueueLimits:
    return pb.QueueLimits(
        queue=limits.queue,
        task_type=limits.task_type,
        rate_per_second=limits.rate_per_second,
        burst=limits.burst,
        max_running=limits.max_running,
        max_running_per_key=limits.max_running_per_key,
    )
