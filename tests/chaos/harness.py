"""Shared pieces of the fault drills: waiting on conditions, process facts, gRPC accounting.

Used by tests/chaos and by the longer drills under bench/drills.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from taskqueue.v1 import taskqueue_pb2 as pb
from taskqueue.v1 import taskqueue_pb2_grpc as pb_grpc

from tests.support.statuses import STATUS_NAMES

T = TypeVar("T")
TERMINAL = (
    pb.TASK_STATUS_COMPLETED,
    pb.TASK_STATUS_FAILED,
    pb.TASK_STATUS_CANCELLED,
)
LIVE = (
    pb.TASK_STATUS_PENDING,
    pb.TASK_STATUS_SCHEDULED,
    pb.TASK_STATUS_WAITING,
    pb.TASK_STATUS_PROCESSING,
    pb.TASK_STATUS_RETRYING,
)
STATS_FIELD = STATUS_NAMES


def rss_kb(pid: int) -> int:
    """Resident set size of `pid` in KiB, from /proc (VmRSS)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def open_fds(pid: int) -> int:
    import os

    return len(os.listdir(f"/proc/{pid}/fd"))


def stub(channel: grpc.Channel) -> pb_grpc.TaskQueueServiceStub:
    return pb_grpc.TaskQueueServiceStub(channel)


def health(channel: grpc.Channel, timeout: float = 2.0) -> str:
    """The overall health status name, or the RPC error's code name."""
    try:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=timeout
        )
    except grpc.RpcError as exc:
        return str(exc.code().name)
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def request(task_type: str, data: dict[str, object], **fields: object) -> pb.EnqueueRequest:
    req = pb.EnqueueRequest(task_type=task_type, **fields)  # type: ignore[arg-type]
    req.task_data.update(data)
    return req


def chunks(items: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def enqueue_all(
    api: pb_grpc.TaskQueueServiceStub, requests: list[pb.EnqueueRequest], batch: int = 1000
) -> list[str]:
    """EnqueueBatch in chunks; returns the accepted ids in order."""
    ids: list[str] = []
    for part in chunks(requests, batch):
        reply = api.EnqueueBatch(pb.EnqueueBatchRequest(tasks=part), timeout=60)
        ids.extend(task.id for task in reply.tasks)
    return ids


def list_all(
    api: pb_grpc.TaskQueueServiceStub, status: int = 0, queue: str = "default"
) -> list[pb.Task]:
    """Every task (optionally of one status), following page tokens."""
    tasks: list[pb.Task] = []
    token = ""
    while True:
        page = api.ListTasks(
            pb.ListTasksRequest(queue=queue, status=status, page_size=1000, page_token=token),  # type: ignore[arg-type]
            timeout=60,
        )
        tasks.extend(page.tasks)
        token = page.next_page_token
        if not token:
            return tasks


def stats_by_type(api: pb_grpc.TaskQueueServiceStub) -> dict[str, dict[str, int]]:
    reply = api.Stats(pb.StatsRequest(), timeout=30)
    return {
        task_type: {name: int(getattr(counts, name)) for name in STATS_FIELD.values()}
        for task_type, counts in reply.task_types.items()
    }


def live_count(api: pb_grpc.TaskQueueServiceStub) -> int:
    return sum(
        counts[STATS_FIELD[s]] for counts in stats_by_type(api).values() for s in LIVE
    )


def terminal_count(api: pb_grpc.TaskQueueServiceStub) -> int:
    return sum(
        counts[STATS_FIELD[s]] for counts in stats_by_type(api).values() for s in TERMINAL
    )


def counts_from_listing(tasks: Iterable[pb.Task]) -> dict[str, dict[str, int]]:
    """Per type, per status: what ListTasks shows, in the shape of `stats_by_type`."""
    seen: dict[str, Counter[str]] = {}
    for task in tasks:
        seen.setdefault(task.task_type, Counter())[STATS_FIELD[task.status]] += 1
    return {
        task_type: {name: counter[name] for name in STATS_FIELD.values()}
        for task_type, counter in seen.items()
    }


def rpc_code(call: Callable[[], object]) -> grpc.StatusCode:
    """OK, or the status code the call failed with."""
    try:
        call()
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK
