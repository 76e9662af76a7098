"""The `worker` role against a real server: workers lease and report, producers cannot;
workers cannot cancel, list tasks or list workers."""

from __future__ import annotations

import secrets
from pathlib import Path

import grpc
from taskqueue.v1 import taskqueue_pb2 as pb
from taskqueue.v1 import taskqueue_pb2_grpc as pb_grpc

from tests.security.test_auth import DENIED, OK, bearer, code_of
from tests.support.server_process import ServerFactory
from tests.support.worker_driver import WorkerDriver


def test_worker_role_boundaries(servers: ServerFactory, tmp_path: Path) -> None:
    producer, worker, admin = (f"{r}-{secrets.token_urlsafe(24)}" for r in ("p", "w", "a"))
    tokens = tmp_path / "tokens"
    tokens.write_text(f"producer {producer}\nworker {worker}\nadmin {admin}\n")
    server = servers.start(extra_args=["--auth-tokens-file", str(tokens), "--accept-unknown-types"])
    as_worker = WorkerDriver(server.target, task_types=["remote_only"], metadata=bearer(worker))
    as_producer = WorkerDriver(server.target, task_types=["remote_only"], metadata=bearer(producer))
    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.TaskQueueServiceStub(channel)
        # A worker's handlers may enqueue follow-up work and read tasks.
        task_id = stub.Enqueue(
            pb.EnqueueRequest(task_type="remote_only"), timeout=5, metadata=bearer(worker)
        ).task_id
        assert code_of(lambda md: as_producer.lease(), ()) == DENIED
        [task] = as_worker.lease(wait=5)
        assert code_of(lambda md: as_producer.complete(task), ()) == DENIED
        assert code_of(lambda md: as_producer.progress(task, 5), ()) == DENIED
        as_worker.progress(task, 50)
        assert code_of(lambda md: as_worker.workers(), ()) == DENIED
        cancel = pb.CancelTaskRequest(task_id=task_id)
        assert (
            code_of(lambda md: stub.CancelTask(cancel, timeout=5, metadata=md), bearer(worker))
            == DENIED
        )
        listing = pb.ListTasksRequest()
        assert (
            code_of(lambda md: stub.ListTasks(listing, timeout=5, metadata=md), bearer(worker))
            == DENIED
        )
        as_worker.complete(task, {"done": True})
        read = stub.GetTask(pb.GetTaskRequest(task_id=task_id), timeout=5, metadata=bearer(worker))
        assert read.task.status == pb.TASK_STATUS_COMPLETED
        admin_view = WorkerDriver(server.target, metadata=bearer(admin))
        assert code_of(lambda md: admin_view.workers(), ()) == OK
    for driver in (as_worker, as_producer, admin_view):
        driver.close()
