"""The read-only `viewer` role: every read RPC answers, every change is PERMISSION_DENIED."""

from __future__ import annotations

import secrets
from pathlib import Path

import grpc
from taskqueue.v1 import taskqueue_pb2 as pb
from taskqueue.v1 import taskqueue_pb2_grpc as pb_grpc

from tests.security.conftest import Tokens
from tests.security.test_auth import OK, bearer, code_of, every_rpc
from tests.support.server_process import ServerFactory

READS = {"GetTask", "GetResult", "WatchTask", "ListTasks", "Stats", "ListQueues"}


def test_a_viewer_reads_everything_and_changes_nothing(
    servers: ServerFactory, tokens: Tokens, tmp_path: Path
) -> None:
    viewer = "v-" + secrets.token_urlsafe(24)
    token_file = tmp_path / "tokens"
    token_file.write_text(tokens.file.read_text() + f"viewer {viewer}\n")
    server = servers.start(extra_args=["--auth-tokens-file", str(token_file)])
    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.TaskQueueServiceStub(channel)
        parked = pb.EnqueueRequest(task_type="echo", delay_seconds=3600)
        task_id = stub.Enqueue(parked, timeout=5, metadata=bearer(tokens.admin)).task_id
        calls = every_rpc(stub, task_id)
        calls["ListQueues"] = lambda md: stub.ListQueues(
            pb.ListQueuesRequest(), timeout=5, metadata=md
        )
        calls["PauseQueue"] = lambda md: stub.PauseQueue(
            pb.PauseQueueRequest(queue="default"), timeout=5, metadata=md
        )
        calls["ChangePriority"] = lambda md: stub.ChangePriority(
            pb.ChangePriorityRequest(task_id=task_id, priority=3), timeout=5, metadata=md
        )
        assert set(calls) >= READS
        for name, call in calls.items():
            expected = OK if name in READS else grpc.StatusCode.PERMISSION_DENIED
            assert code_of(call, bearer(viewer)) == expected, name
        # The viewer's refusals changed nothing: the task is still parked at its priority.
        task = stub.GetTask(pb.GetTaskRequest(task_id=task_id), 5, metadata=bearer(viewer))
        assert task.task.priority == 0
        assert task.task.status == pb.TASK_STATUS_SCHEDULED
