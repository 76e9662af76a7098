"""Every queue and task control needs the admin role; a producer token is refused."""

from __future__ import annotations

from typing import Any

import grpc
from taskqueue.v1 import taskqueue_pb2 as pb
from taskqueue.v1 import taskqueue_pb2_grpc as pb_grpc

from tests.security.conftest import Tokens
from tests.security.test_auth import bearer, code_of, start_with_tokens
from tests.support.server_process import ServerFactory

CONTROLS = (
    ("ListQueues", pb.ListQueuesRequest()),
    ("PauseQueue", pb.PauseQueueRequest(queue="default")),
    ("ResumeQueue", pb.ResumeQueueRequest(queue="default")),
    ("PurgeQueue", pb.PurgeQueueRequest(queue="default", task_type="nothing_of_this_type")),
    ("ChangePriority", None),
    ("DeleteTask", None),
    ("BulkTasks", pb.BulkTasksRequest(queue="default", action=pb.BULK_ACTION_CANCEL, dry_run=True)),
)


def test_controls_need_the_admin_role(servers: ServerFactory, tokens: Tokens) -> None:
    server = start_with_tokens(servers, tokens)
    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.TaskQueueServiceStub(channel)
        parked = pb.EnqueueRequest(task_type="echo", delay_seconds=3600)
        task_id = stub.Enqueue(parked, timeout=5, metadata=bearer(tokens.admin)).task_id
        requests: dict[str, Any] = dict(CONTROLS)
        requests["ChangePriority"] = pb.ChangePriorityRequest(task_id=task_id, priority=3)
        requests["DeleteTask"] = pb.DeleteTaskRequest(task_id=task_id)
        for name, request in requests.items():
            call = getattr(stub, name)

            def send(md: Any, call: Any = call, request: Any = request) -> Any:
                return call(request, timeout=5, metadata=md)

            assert code_of(send, ()) == grpc.StatusCode.UNAUTHENTICATED, name
            assert code_of(send, bearer(tokens.producer)) == grpc.StatusCode.PERMISSION_DENIED, name
            assert code_of(send, bearer(tokens.admin)) == grpc.StatusCode.OK, name
