"""A synchronous driver over the WorkerService stubs, for readable tests of remote workers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc
from taskqueue.v1 import worker_pb2 as wpb
from taskqueue.v1 import worker_pb2_grpc as wpb_grpc


class WorkerDriver:
    """Leases and reports tasks as one remote worker; every call has a deadline."""

    def __init__(
        self,
        target: str,
        worker_id: str = "test-worker",
        task_types: Sequence[str] = ("remote_echo",),
        queues: Sequence[str] = (),
        metadata: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.channel = grpc.insecure_channel(target)
        self.stub = wpb_grpc.WorkerServiceStub(self.channel)
        self.worker_id = worker_id
        self.task_types = list(task_types)
        self.queues = list(queues)
        self.metadata = metadata

    def close(self) -> None:
        self.channel.close()

    def lease(
        self, max_tasks: int = 1, wait: float = 0.0, lease_seconds: float = 0.0
    ) -> list[wpb.LeasedTask]:
        request = wpb.LeaseTasksRequest(
            worker_id=self.worker_id,
            queues=self.queues,
            task_types=self.task_types,
            max_tasks=max_tasks,
            lease_seconds=lease_seconds,
            wait_seconds=wait,
        )
        reply = self.stub.LeaseTasks(request, timeout=wait + 10, metadata=self.metadata)
        return list(reply.tasks)

    def renew(
        self, leased: Sequence[wpb.LeasedTask], heartbeat: wpb.WorkerHeartbeat | None = None
    ) -> wpb.RenewLeasesResponse:
        request = wpb.RenewLeasesRequest(
            worker_id=self.worker_id,
            leases=[wpb.TaskLease(task_id=t.task_id, lease_token=t.lease_token) for t in leased],
            heartbeat=heartbeat,
        )
        return self.stub.RenewLeases(request, timeout=10, metadata=self.metadata)

    def complete(self, task: wpb.LeasedTask, result: dict[str, Any] | None = None) -> None:
        request = wpb.CompleteTaskRequest(task_id=task.task_id, lease_token=task.lease_token)
        request.result.update(result or {})
        self.stub.CompleteTask(request, timeout=10, metadata=self.metadata)

    def fail(self, task: wpb.LeasedTask, error: str = "boom", **fields: Any) -> None:
        request = wpb.FailTaskRequest(
            task_id=task.task_id, lease_token=task.lease_token, error=error, **fields
        )
        self.stub.FailTask(request, timeout=10, metadata=self.metadata)

    def finish(
        self, outcomes: Sequence[wpb.TaskOutcome], max_tasks: int = 0
    ) -> wpb.FinishTasksResponse:
        request = wpb.FinishTasksRequest(
            worker_id=self.worker_id,
            outcomes=outcomes,
            queues=self.queues,
            task_types=self.task_types,
            max_tasks=max_tasks,
        )
        return self.stub.FinishTasks(request, timeout=10, metadata=self.metadata)

    def release(self, task: wpb.LeasedTask) -> None:
        request = wpb.ReleaseTaskRequest(task_id=task.task_id, lease_token=task.lease_token)
        self.stub.ReleaseTask(request, timeout=10, metadata=self.metadata)

    def progress(self, task: wpb.LeasedTask, progress: int, message: str = "") -> None:
        request = wpb.ReportProgressRequest(
            task_id=task.task_id, lease_token=task.lease_token, progress=progress, message=message
        )
        self.stub.ReportProgress(request, timeout=10, metadata=self.metadata)

    def workers(self) -> list[wpb.WorkerInfo]:
        reply = self.stub.ListWorkers(wpb.ListWorkersRequest(), timeout=10, metadata=self.metadata)
        return list(reply.workers)
