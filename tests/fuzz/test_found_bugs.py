"""Regression tests for bugs the fuzz tests found.

A GetResult wait shorter than the event-hub subscription used to be lost inside a Redis
command (redis-py 8 swallows a cancellation there), leaving the call open until the task ended.
"""

from __future__ import annotations

import time

import grpc
import pytest
from taskqueue.v1 import taskqueue_pb2 as pb
from taskqueue.v1 import taskqueue_pb2_grpc as pb_grpc

from tests.fuzz.conftest import FuzzServer


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
