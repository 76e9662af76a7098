"""Each WorkerService RPC as a plan (method, request, how to read the answer): the same
shape as the caller RPCs' plans in _calls.py."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from google.protobuf import struct_pb2
from taskqueue.v1 import worker_pb2 as wpb

from ._calls import Call
from ._worker_context import Failure

# Extra time for the answer of a long poll beyond the wait the server was asked for.
LEASE_MARGIN_SECONDS = 10.0


def lease(
    worker_id: str,
    queues: Sequence[str],
    task_types: Sequence[str],
    max_tasks: int,
    lease_seconds: float,
    wait_seconds: float,
) -> Call[list[wpb.LeasedTask]]:
    request = wpb.LeaseTasksRequest(
        worker_id=worker_id,
        queues=queues,
        task_types=task_types,
        max_tasks=max_tasks,
        lease_seconds=lease_seconds,
        wait_seconds=wait_seconds,
    )
    # Not retried: a lost answer would leave leased tasks no one runs until the lease ends.
    return Call(
        "LeaseTasks", request, lambda r: list(r.tasks), retry_safe=False,
        server_wait=wait_seconds + LEASE_MARGIN_SECONDS,
    )  # fmt: skip


def renew(
    worker_id: str,
    leases: Iterable[tuple[str, str]],
    lease_seconds: float,
    heartbeat: wpb.WorkerHeartbeat,
) -> Call[wpb.RenewLeasesResponse]:
    request = wpb.RenewLeasesRequest(
        worker_id=worker_id,
        leases=[wpb.TaskLease(task_id=task_id, lease_token=token) for task_id, token in leases],
        lease_seconds=lease_seconds,
        heartbeat=heartbeat,
    )
    return Call("RenewLeases", request, lambda r: r)


def result_outcome(task: wpb.LeasedTask, result: Mapping[str, Any]) -> wpb.TaskOutcome:
    """A completed attempt; raises ValueError/TypeError for what JSON cannot carry."""
    struct = struct_pb2.Struct()
    struct.update(result)
    return wpb.TaskOutcome(task_id=task.task_id, lease_token=task.lease_token, result=struct)


def failure_outcome(task: wpb.LeasedTask, failure: Failure) -> wpb.TaskOutcome:
    message = wpb.TaskFailure(
        error=failure.error or "failed",
        permanent=failure.permanent,
        error_types=failure.error_types,
    )
    if failure.retry_after is not None:
        message.retry_after_seconds = failure.retry_after
    return wpb.TaskOutcome(task_id=task.task_id, lease_token=task.lease_token, failure=message)


def finish(
    worker_id: str,
    outcomes: Sequence[wpb.TaskOutcome],
    queues: Sequence[str],
    task_types: Sequence[str],
    max_tasks: int,
    lease_seconds: float,
) -> Call[wpb.FinishTasksResponse]:
    """Outcomes recorded together, and the next tasks leased in the same call."""
    request = wpb.FinishTasksRequest(
        worker_id=worker_id,
        outcomes=outcomes,
        queues=queues,
        task_types=task_types,
        max_tasks=max_tasks,
        lease_seconds=lease_seconds,
    )
    # Not retried by gRPC: the worker resends the outcomes itself, without a second lease.
    return Call("FinishTasks", request, lambda r: r, retry_safe=False)


def release(task: wpb.LeasedTask) -> Call[None]:
    request = wpb.ReleaseTaskRequest(task_id=task.task_id, lease_token=task.lease_token)
    return Call("ReleaseTask", request, lambda r: None)


def progress(task: wpb.LeasedTask, percent: int, message: str) -> Call[None]:
    request = wpb.ReportProgressRequest(
        task_id=task.task_id, lease_token=task.lease_token, progress=percent, message=message
    )
    return Call("ReportProgress", request, lambda r: None)
