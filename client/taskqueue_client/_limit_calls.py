"""SetQueueLimits, GetQueueLimits and a queue's default retry policy (SetQueueRetryPolicy,
GetQueueRetryPolicy) as plans for both clients (see _calls.py)."""

from __future__ import annotations

from typing import Any

from taskqueue.v1 import taskqueue_pb2 as pb

from ._calls import Call
from ._convert import retry_policy_of
from .models import QueueLimits, TaskRetryPolicy


def _limits_of(response: Any) -> QueueLimits:
    limits = response.limits

    def present(name: str) -> Any:
        return getattr(limits, name) if limits.HasField(name) else None

    return QueueLimits(
        queue=limits.queue,
        task_type=limits.task_type,
        rate_per_second=present("rate_per_second"),
        burst=present("burst"),
        max_running=present("max_running"),
        max_running_per_key=present("max_running_per_key"),
    )


def set_limits(limits: QueueLimits) -> Call[QueueLimits]:
    message = pb.QueueLimits(
        queue=limits.queue,
        task_type=limits.task_type,
        rate_per_second=limits.rate_per_second,
        burst=limits.burst,
        max_running=limits.max_running,
        max_running_per_key=limits.max_running_per_key,
    )
    return Call("SetQueueLimits", pb.SetQueueLimitsRequest(limits=message), _limits_of)


def get_limits(queue: str = "", task_type: str = "") -> Call[QueueLimits]:
    request = pb.GetQueueLimitsRequest(queue=queue, task_type=task_type)
    return Call("GetQueueLimits", request, _limits_of)


def set_queue_retry_policy(
    queue: str, policy: TaskRetryPolicy | None
) -> Call[TaskRetryPolicy | None]:
    request = pb.SetQueueRetryPolicyRequest(queue=queue)
    if policy:
        request.retry_policy.CopyFrom(pb.RetryPolicy(**policy))
    return Call("SetQueueRetryPolicy", request, retry_policy_of)


def get_queue_retry_policy(queue: str = "") -> Call[TaskRetryPolicy | None]:
    request = pb.GetQueueRetryPolicyRequest(queue=queue)
    return Call("GetQueueRetryPolicy", request, retry_policy_of)
