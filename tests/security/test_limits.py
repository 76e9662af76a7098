"""Every resource limit is a setting, and each one refuses what is over it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf import struct_pb2
from taskqueue.v1 import taskqueue_pb2 as pb
from taskqueue.v1 import taskqueue_pb2_grpc as pb_grpc

from tests.security.conftest import health_ok
from tests.support.server_process import ServerFactory, ServerProcess

LIMIT_ARGS = [
    "--max-message-bytes", "65536",
    "--max-task-data-bytes", "2048",
    "--max-batch-size", "3",
    "--max-concurrent-streams", "2",
    "--max-watch-streams", "3",
    "--max-queue-length", "4",
]  # fmt: skip
# No worker of the server takes this queue, so its tasks stay live and count against the limit.
PARKED = "parked"


@pytest.fixture(scope="module")
def limited(redis_available: None) -> Iterator[ServerProcess]:
    with ServerFactory() as factory:
        yield factory.start(extra_args=LIMIT_ARGS)


@pytest.fixture
def stub(limited: ServerProcess) -> Iterator[pb_grpc.TaskQueueServiceStub]:
    with grpc.insecure_channel(limited.target) as channel:
        yield pb_grpc.TaskQueueServiceStub(channel)


def data(size: int) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update({"blob": "x" * size})
    return message


def refused(call: object) -> grpc.RpcError:
    assert callable(call)
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


def test_message_size(stub: pb_grpc.TaskQueueServiceStub) -> None:
    big = pb.EnqueueRequest(task_type="echo", task_data=data(70_000))
    error = refused(lambda: stub.Enqueue(big, timeout=5))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_task_data_size(stub: pb_grpc.TaskQueueServiceStub) -> None:
    stub.Enqueue(pb.EnqueueRequest(task_type="echo", task_data=data(1000)), timeout=5)
    over = pb.EnqueueRequest(task_type="echo", task_data=data(3000))
    error = refused(lambda: stub.Enqueue(over, timeout=5))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "task_data" in (error.details() or "")


def test_batch_size(stub: pb_grpc.TaskQueueServiceStub) -> None:
    echo = pb.EnqueueRequest(task_type="echo")
    assert len(stub.EnqueueBatch(pb.EnqueueBatchRequest(tasks=[echo] * 3), timeout=5).tasks) == 3
    error = refused(lambda: stub.EnqueueBatch(pb.EnqueueBatchRequest(tasks=[echo] * 4), 5))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "3" in (error.details() or "")


def test_queue_length(stub: pb_grpc.TaskQueueServiceStub) -> None:
    parked = pb.EnqueueRequest(task_type="echo", queue=PARKED)
    for _ in range(4):
        stub.Enqueue(parked, timeout=5)
    error = refused(lambda: stub.Enqueue(parked, timeout=5))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "queue is full" in (error.details() or "")
    # Other queues are not affected by one full queue.
    stub.Enqueue(pb.EnqueueRequest(task_type="echo"), timeout=5)


def test_watch_streams_per_server(limited: ServerProcess) -> None:
    """Past --max-watch-streams, a new WatchTask is refused with RESOURCE_EXHAUSTED."""
    # One connection each (own subchannel pool): --max-concurrent-streams must not interfere.
    own = [("grpc.use_local_subchannel_pool", 1)]
    channels = [grpc.insecure_channel(limited.target, options=own) for _ in range(4)]
    try:
        stubs = [pb_grpc.TaskQueueServiceStub(c) for c in channels]
        waiting = pb.EnqueueRequest(task_type="echo", delay_seconds=3600)
        task_id = stubs[0].Enqueue(waiting, timeout=5).task_id
        request = pb.WatchTaskRequest(task_id=task_id)
        streams = [s.WatchTask(request, timeout=10) for s in stubs[:3]]
        for stream in streams:
            next(stream)  # the snapshot: each stream now holds a slot
        error = refused(lambda: next(stubs[3].WatchTask(request, timeout=5)))
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        streams[0].cancel()
        # The freed slot is usable again (the server releases it when the stream ends).
        deadline = time.monotonic() + 10
        while True:
            try:
                next(stubs[3].WatchTask(request, timeout=5))
                break
            except grpc.RpcError as exc:
                assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert time.monotonic() < deadline, "the slot was never released"
                time.sleep(0.02)
        for stream in streams[1:]:
            stream.cancel()
    finally:
        for channel in channels:
            channel.close()


def test_streams_per_connection(limited: ServerProcess) -> None:
    """--max-concurrent-streams caps calls on one connection: the third waits, others don't."""
    with grpc.insecure_channel(limited.target) as channel:
        stub = pb_grpc.TaskQueueServiceStub(channel)
        task_id = stub.Enqueue(pb.EnqueueRequest(task_type="echo", delay_seconds=3600), 5).task_id
        request = pb.WatchTaskRequest(task_id=task_id)
        held = [stub.WatchTask(request, timeout=10) for _ in range(2)]
        for stream in held:
            next(stream)
        error = refused(lambda: stub.GetTask(pb.GetTaskRequest(task_id=task_id), timeout=1))
        assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        with grpc.insecure_channel(
            limited.target, options=[("grpc.use_local_subchannel_pool", 1)]
        ) as other:
            assert health_ok(other)
        held[0].cancel()
        stub.GetTask(pb.GetTaskRequest(task_id=task_id), timeout=5)
        held[1].cancel()
