"""The `worker` role against a real server: workers lease and report, producers cannot;
workers cannot cancel, list tasks or list workers."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import grpc
from taskqueue.v1 import taskqueue_pb2 as pb
from taskqueue.v1 import taskqueue_pb2_grpc as pb_grpc
from taskqueue_client import TaskQueueClient
from taskqueue_client.worker import Worker

from tests.security.conftest import Pki
from tests.security.test_auth import DENIED, OK, bearer, code_of
from tests.security.test_tls import NAME_OVERRIDE, tls_args
from tests.support.remote_worker import WorkerThread
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


def test_a_remote_worker_over_mutual_tls_with_a_worker_token(
    servers: ServerFactory, pki: Pki, tmp_path: Path
) -> None:
    token = f"w-{secrets.token_urlsafe(24)}"
    tokens = tmp_path / "tokens"
    tokens.write_text(f"worker {token}\n")
    server = servers.start(
        handlers=[],
        extra_args=[
            *tls_args(pki, mutual=True), "--auth-tokens-file", str(tokens),
            "--accept-unknown-types",
        ],
    )  # fmt: skip
    credentials = grpc.ssl_channel_credentials(pki.ca_pem, pki.client_key, pki.client_chain)
    target = f"localhost:{server.port}"
    worker = Worker(target, credentials=credentials, token=token, options=NAME_OVERRIDE)
    worker.handler("mtls_echo")(lambda data, ctx: {"echo": data})
    running = WorkerThread(worker)
    client = TaskQueueClient(target, credentials=credentials, token=token)
    try:
        task_id = client.enqueue("mtls_echo", {"over": "mtls"})
        assert client.wait(task_id, timeout=30) == {"echo": {"over": "mtls"}}
    finally:
        running.stop()
    assert running.error is None
    # Without a client certificate the handshake fails: the worker keeps trying to announce
    # itself and never leases a task.
    plain_tls = Worker(target, root_certificates=pki.ca_pem, token=token, timeout=5)
    plain_tls.handler("mtls_echo")(lambda data, ctx: {"ran": True})
    refused = WorkerThread(plain_tls)
    waiting = client.enqueue("mtls_echo", {})
    time.sleep(2)
    refused.stop()
    assert refused.error is None
    assert client.get_task(waiting).status.value == "pending"
    client.close()
