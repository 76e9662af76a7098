"""Bugs the fuzz tests found in code this suite does not own, pinned as strict xfails.

Each turns into a failure (XPASS) the moment it is fixed, so the mark gets removed.
"""

from __future__ import annotations

import time

import grpc
import pytest
from taskqueue.v1 import taskqueue_pb2 as pb
from taskqueue.v1 import taskqueue_pb2_grpc as pb_grpc

from tests.fuzz.conftest import FuzzServer


@pytest.mark.xfail(
    strict=True,
    reason="engine/watching.py get_result: a wait shorter than the event-hub subscribe round "
    "trip (here 1e-6 s) fires asyncio.timeout while hub.subscribe() is in progress and the "
    "cancellation is lost there, so the call waits until the task ends or the caller's "
    "deadline - forever for a caller without one. Found by test_fuzz_rpcs.",
)
@pytest.mark.parametrize("wait", [1e-6, 1e-300])
def test_tiny_result_wait_returns_at_once(fuzz_server: FuzzServer, wait: float) -> None:
    md = (("authorization", f"Bearer {fuzz_server.admin}"),)
    with grpc.insecure_channel(fuzz_server.process.target) as channel:
        stub = pb_grpc.TaskQueueServiceStub(channel)
        parked = pb.EnqueueRequest(task_type="echo", delay_seconds=3600)
        task_id = stub.Enqueue(parked, timeout=5, metadata=md).task_id
        started = time.monotonic()
        reply = stub.GetResult(
            pb.GetResultRequest(task_id=task_id, wait_seconds=wait), timeout=3, metadata=md
        )
        assert reply.status == pb.TASK_STATUS_SCHEDULED
        assert time.monotonic() - started < 1
