"""A task's own retry policy, or a queue's default: validated at enqueue (or when set),
shown on the task (or the queue)."""

from __future__ import annotations

import math
from typing import TypeVar

from taskqueue.v1 import taskqueue_pb2 as pb

from ..engine.settings import RetryOverride
from .validation import InvalidArgument

MAX_RETRY_SECONDS = 86400.0
MAX_FACTOR = 100.0
MAX_PERMANENT_ERRORS = 20
MAX_ERROR_NAME_LENGTH = 100

QueueRetryResponse = TypeVar(
    "QueueRetryResponse", pb.SetQueueRetryPolicyResponse, pb.GetQueueRetryPolicyResponse
)


def check_retry_policy(
    request: pb.EnqueueRequest | pb.SetQueueRetryPolicyRequest, field: str
) -> RetryOverride | None:
    """The request's retry_policy as the engine stores it; None when not given."""
    if not request.HasField("retry_policy"):
        return None
    policy = request.retry_policy

    def number(name: str, low: float, high: float) -> float | None:
        if not policy.HasField(name):  # type: ignore[arg-type]
            return None
        value: float = getattr(policy, name)
        if not (math.isfinite(value) and low <= value <= high):
            raise InvalidArgument(f"{field}.{name}", f"{value:g} is outside {low:g} to {high:g}")
        return value

    base = number("base_seconds", 0, MAX_RETRY_SECONDS)
    cap = number("cap_seconds", 0, MAX_RETRY_SECONDS)
    if base is not None and cap is not None and cap < base:
        raise InvalidArgument(
            f"{field}.cap_seconds", f"{cap:g} is below base_seconds {base:g}; the cap must not be"
        )
    return RetryOverride(
        base_seconds=base,
        factor=number("factor", 1, MAX_FACTOR),
        cap_seconds=cap,
        jitter=number("jitter", 0, 1),
        permanent_errors=_error_names(list(policy.permanent_errors), f"{field}.permanent_errors"),
    )


def _error_names(names: list[str], field: str) -> tuple[str, ...] | None:
    if not names:
        return None
    if len(names) > MAX_PERMANENT_ERRORS:
        raise InvalidArgument(field, f"{len(names)} names; the limit is {MAX_PERMANENT_ERRORS}")
    for index, name in enumerate(names):
        if not name.isidentifier() or len(name) > MAX_ERROR_NAME_LENGTH:
            raise InvalidArgument(
                f"{field}[{index}]",
                f"{name[:MAX_ERROR_NAME_LENGTH]!r} is not an exception class name such as "
                "'ValueError'",
            )
    return tuple(names)


def retry_policy_to_proto(policy: RetryOverride, target: pb.RetryPolicy) -> None:
    """Fill a Task's (or a queue's) retry_policy with the fields it sets."""
    for name, value in policy.as_dict().items():
        if name == "permanent_errors":
            target.permanent_errors.extend(value)
        else:
            setattr(target, name, value)


def queue_retry_policy_to_proto(
    queue: str, policy: RetryOverride | None, response: QueueRetryResponse
) -> QueueRetryResponse:
    """A queue's default as the RPCs answer it; retry_policy stays unset when it has none."""
    response.queue = queue
    if policy is not None and policy.as_dict():
        response.retry_policy.SetInParent()
        retry_policy_to_proto(policy, response.retry_policy)
    return response
