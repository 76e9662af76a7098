"""Hostile requests to every WorkerService RPC of a real server: documented codes only, no
stack traces, and a refused call changes nothing (the task it names keeps its version).

The tests share one server and run in file order: the last one looks at what the fuzz did.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from taskqueue.v1 import taskqueue_pb2 as pb
from taskqueue.v1 import taskqueue_pb2_grpc as pb_grpc
from taskqueue.v1 import worker_pb2 as wpb
from taskqueue.v1 import worker_pb2_grpc as wpb_grpc

from tests.fuzz.conftest import FuzzServer
from tests.fuzz.strategies import Call
from tests.fuzz.test_fuzz_rpcs import DOCUMENTED, metadata_for
from tests.fuzz.worker_strategies import REMOTE_QUEUE, KnownLeases, worker_calls

Code = grpc.StatusCode
WORKER_METHODS = (
    "LeaseTasks", "RenewLeases", "CompleteTask", "FailTask", "FinishTasks", "ReleaseTask",
    "ReportProgress",
)  # fmt: skip
known = KnownLeases()
outcomes: Counter[tuple[str, str]] = Counter()


@pytest.fixture(scope="module")
def channel(fuzz_server: FuzzServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(fuzz_server.process.target) as opened:
        api = pb_grpc.TaskQueueServiceStub(opened)
        batch = [pb.EnqueueRequest(task_type="echo", queue=REMOTE_QUEUE) for _ in range(300)]
        md = metadata_for("admin", fuzz_server)
        api.EnqueueBatch(pb.EnqueueBatchRequest(tasks=batch), 30, metadata=md)
        yield opened


def version_of(channel: grpc.Channel, task_id: str, md: Any) -> int | None:
    try:
        reply = pb_grpc.TaskQueueServiceStub(channel).GetTask(
            pb.GetTaskRequest(task_id=task_id), 10, metadata=md
        )
    except grpc.RpcError:
        return None
    return int(reply.task.version)


def named_task(request: Any) -> str | None:
    task_id = getattr(request, "task_id", None)
    if isinstance(request, wpb.FinishTasksRequest) and request.outcomes:
        task_id = request.outcomes[0].task_id
    return task_id if task_id and task_id.startswith(f"{REMOTE_QUEUE}-") else None


@settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(call=worker_calls(known), who=st.sampled_from(["admin"] * 5 + ["producer", "none"]))
def test_every_worker_rpc_answers_only_documented_codes(
    channel: grpc.Channel, fuzz_server: FuzzServer, call: Call, who: str
) -> None:
    name, request = call
    md = metadata_for(who, fuzz_server)
    admin = metadata_for("admin", fuzz_server)
    task_id = named_task(request)
    before = version_of(channel, task_id, admin) if task_id else None
    stub = wpb_grpc.WorkerServiceStub(channel)
    try:
        reply = getattr(stub, name)(request, timeout=1.5, metadata=md)
        code, details = Code.OK, ""
    except grpc.RpcError as exc:
        code, details, reply = exc.code(), exc.details() or "", None
    outcomes[name, code.name] += 1
    assert "Traceback" not in details and 'File "' not in details, details
    if who == "none":
        assert code == Code.UNAUTHENTICATED, (name, code, details)
        return
    if who == "producer":
        assert code == Code.PERMISSION_DENIED, (name, code, details)
        return
    late = name == "LeaseTasks" and code == Code.DEADLINE_EXCEEDED and request.wait_seconds > 1
    assert code in DOCUMENTED or late, (name, code, details, request)
    if code == Code.OK and name in ("LeaseTasks", "FinishTasks"):
        known.leases.extend((t.task_id, t.lease_token) for t in reply.tasks)
    if code != Code.OK and task_id and before is not None:
        assert version_of(channel, task_id, admin) == before, (name, code, details)


def test_the_worker_fuzz_reached_the_engine() -> None:
    """Not vacuous: every RPC got past validation at least once (OK, or the engine's
    NOT_FOUND / FAILED_PRECONDITION) and was refused by validation at least once."""
    print(sorted(outcomes.items()))
    for method in WORKER_METHODS:
        engine = ("OK", "NOT_FOUND", "FAILED_PRECONDITION")
        assert any(outcomes[method, code] for code in engine), (method, outcomes)
        assert outcomes[method, "INVALID_ARGUMENT"] > 0, (method, outcomes)
    assert outcomes["ListWorkers", "OK"] > 0
    assert len(known.leases) > 1, "the fuzz leased real tasks"
