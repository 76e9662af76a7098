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


def complete(task: wpb.LeasedTask, result: Mapping[str, Any]) -> Call[None]:
    struct = struct_pb2.Struct()
    struct.update(result)  # raises ValueError/TypeError for what JSON cannot carry
    request = wpb.CompleteTaskRequest(
        task_id=task.task_id, lease_token=task.lease_token, result=struct
    )
    return Call("CompleteTask", request, lambda r: None)


def fail(task: wpb.LeasedTask, failure: Failure) -> Call[None]:
    request = wpb.FailTaskRequest(
        task_id=task.task_id,
        lease_token=task.lease_token,
        error=failure.error or "failed",
        permanent=failure.permanent,
    )
    if failure.retry_after is not None:
        request.retry_after_seconds = failure.retry_after
    return Call("FailTask", request, lambda r: None)


def release(task: wpb.LeasedTask) -> Call[None]:
    request = wpb.ReleaseTaskRequest(task_id=task.task_id, lease_token=task.lease_token)
    return Call("ReleaseTask", request, lambda r: None)


def progress(task: wpb.LeasedTask, percent: int, message: str) -> Call[None]:
    request = wpb.ReportProgressRequest(
        task_id=task.task_id, lease_token=task.lease_token, progress=percent, message=message
    )
    return Call("ReportProgress", request, lambda r: None)


def list_workers() -> Call[list[wpb.WorkerInfo]]:
    return Call("ListWorkers", wpb.ListWorkersRequest(), lambda r: list(r.workers))
