"""EnqueueStream on the wire, against a real server process: one response per request
message, in request order, with one outcome per task, each after its task is stored; a
refused task answered with its google.rpc.Status while the others and the stream go on; a
stopping server answers what it read, then ends the stream with SERVER_STOPPING."""

from __future__ import annotations

import signal
import threading
import uuid
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf import struct_pb2
from google.rpc import error_details_pb2, status_pb2
from taskqueue.v1 import taskqueue_pb2 as pb
from taskqueue.v1 import taskqueue_pb2_grpc as pb_grpc

from tests.support.error_details import error_reason
from tests.support.server_process import ServerFactory, ServerProcess


def task(n: int, queue: str, **fields: object) -> pb.EnqueueRequest:
    data = struct_pb2.Struct()
    data.update({"n": n})
    return pb.EnqueueRequest(task_type="echo", task_data=data, queue=queue, **fields)  # type: ignore[arg-type]


def one_each(tasks: list[pb.EnqueueRequest]) -> Iterator[pb.EnqueueStreamRequest]:
    return (pb.EnqueueStreamRequest(tasks=[t]) for t in tasks)


def outcomes(responses: Iterator[pb.EnqueueStreamResponse]) -> list[pb.EnqueueOutcome]:
    return [outcome for response in responses for outcome in response.outcomes]


@pytest.fixture
def server(servers: ServerFactory) -> ServerProcess:
    return servers.start()


@pytest.fixture
def stub(server: ServerProcess) -> Iterator[pb_grpc.TaskQueueServiceStub]:
    with grpc.insecure_channel(server.target) as channel:
        yield pb_grpc.TaskQueueServiceStub(channel)


def idle_queue() -> str:
    return f"idle_{uuid.uuid4().hex[:10]}"


def test_answers_come_in_request_order_after_each_task_is_stored(
    stub: pb_grpc.TaskQueueServiceStub,
) -> None:
    queue = idle_queue()
    # One task per message, then messages of 7: the shapes a packing client sends.
    requests = list(one_each([task(n, queue) for n in range(160)]))
    requests += [
        pb.EnqueueStreamRequest(tasks=[task(n, queue) for n in range(start, start + 7)])
        for start in range(160, 300, 7)
    ]
    responses = list(stub.EnqueueStream(iter(requests), timeout=30))
    assert [len(r.outcomes) for r in responses] == [len(r.tasks) for r in requests]
    answers = outcomes(iter(responses))
    assert [a.WhichOneof("outcome") for a in answers] == ["enqueued"] * 300
    assert [a.enqueued.task.task_data["n"] for a in answers] == list(range(300))
    ids = [a.enqueued.task_id for a in answers]
    assert len(set(ids)) == 300
    for n in (0, 150, 299):  # stored, as the answer said
        stored = stub.GetTask(pb.GetTaskRequest(task_id=ids[n]), timeout=5).task
        assert stored.task_data["n"] == n and stored.queue == queue
    listed = stub.Stats(pb.StatsRequest(queue=queue), timeout=5).task_types["echo"]
    assert listed.pending == 300


def test_a_refused_request_gets_its_status_and_the_stream_goes_on(
    stub: pb_grpc.TaskQueueServiceStub,
) -> None:
    queue = idle_queue()
    tasks = [task(0, queue), task(1, queue, priority=5000), task(2, queue)]
    tasks += [pb.EnqueueRequest(task_type="no_such_type"), task(4, queue)]
    # Alone in their messages, and then all five in one message: the same outcomes.
    requests = [*one_each(tasks), pb.EnqueueStreamRequest(tasks=tasks)]
    answers = outcomes(stub.EnqueueStream(iter(requests), timeout=30))
    kinds = [a.WhichOneof("outcome") for a in answers]
    assert kinds == ["enqueued", "error", "enqueued", "error", "enqueued"] * 2
    errors = [a.error for a in answers if a.HasField("error")]
    assert errors[:2] == errors[2:]
    assert [a.enqueued.task.task_data["n"] for a in answers if a.enqueued.task_id] == [0, 2, 4] * 2
    # Field for field a google.rpc.Status, with the details a unary Enqueue carries.
    status = status_pb2.Status.FromString(answers[1].error.SerializeToString())
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "priority" in status.message
    info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
    assert status.details[0].Unpack(info) and info.domain == "taskqueue.v1"
    assert status.details[1].Unpack(bad) and bad.field_violations[0].field == "priority"
    with pytest.raises(grpc.RpcError) as unary:
        stub.Enqueue(tasks[1], timeout=5)
    assert (unary.value.details(), error_reason(unary.value)) == (status.message, info.reason)
    unknown = answers[3].error
    assert unknown.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "no_such_type" in unknown.message
    stats = stub.Stats(pb.StatsRequest(queue=queue), timeout=5).task_types
    assert stats["echo"].pending == 6, "the refused tasks stored nothing"


def test_a_message_over_the_batch_limit_is_refused_task_by_task(
    stub: pb_grpc.TaskQueueServiceStub,
) -> None:
    queue = idle_queue()
    requests = [
        pb.EnqueueStreamRequest(tasks=[task(n, queue) for n in range(1001)]),
        pb.EnqueueStreamRequest(tasks=[task(0, queue)]),
    ]
    too_many, fine = stub.EnqueueStream(iter(requests), timeout=30)
    assert len(too_many.outcomes) == 1001
    assert {o.error.code for o in too_many.outcomes} == {grpc.StatusCode.INVALID_ARGUMENT.value[0]}
    assert "limit is 1000" in too_many.outcomes[0].error.message
    assert fine.outcomes[0].WhichOneof("outcome") == "enqueued"
    assert stub.Stats(pb.StatsRequest(queue=queue), timeout=5).task_types["echo"].pending == 1


def test_repeated_idempotency_keys_on_a_stream_store_one_task(
    stub: pb_grpc.TaskQueueServiceStub,
) -> None:
    queue = idle_queue()
    tasks = [task(n, queue, idempotency_key=f"k{n % 5}") for n in range(40)]
    requests = [*one_each(tasks[:20]), pb.EnqueueStreamRequest(tasks=tasks[20:])]
    answers = outcomes(stub.EnqueueStream(iter(requests), timeout=30))
    ids = [a.enqueued.task_id for a in answers]
    assert all(ids)
    assert [ids[n] == ids[n % 5] for n in range(40)] == [True] * 40
    assert sum(a.enqueued.deduplicated for a in answers) == 35
    assert stub.Stats(pb.StatsRequest(queue=queue), timeout=5).task_types["echo"].pending == 5


def test_a_stopping_server_answers_what_it_read_then_ends_the_stream(
    server: ServerProcess, stub: pb_grpc.TaskQueueServiceStub
) -> None:
    queue = idle_queue()
    sent = threading.Semaphore(0)
    more = threading.Event()

    def requests() -> Iterator[pb.EnqueueStreamRequest]:
        yield from one_each([task(n, queue) for n in range(5)])
        sent.release()
        more.wait(30)  # the stream stays open, idle, until the server stops

    answers = stub.EnqueueStream(requests(), timeout=60)
    got = [next(answers).outcomes[0] for _ in range(5)]
    assert [a.enqueued.task.task_data["n"] for a in got] == list(range(5))
    assert sent.acquire(timeout=10)
    server.process.send_signal(signal.SIGTERM)
    with pytest.raises(grpc.RpcError) as ended:
        next(answers)
    more.set()
    assert ended.value.code() == grpc.StatusCode.UNAVAILABLE
    assert error_reason(ended.value) == "SERVER_STOPPING"
    assert "idempotency" in (ended.value.details() or "")
    assert server.wait_exit() == 0


def test_a_task_asking_to_wait_is_refused_on_a_stream(stub: pb_grpc.TaskQueueServiceStub) -> None:
    """Only unary Enqueue waits: a waiting task would hold back every answer behind it."""
    queue = idle_queue()
    tasks = [task(0, queue), task(1, queue, wait_seconds=5), task(2, queue)]
    answers = outcomes(stub.EnqueueStream(iter([pb.EnqueueStreamRequest(tasks=tasks)]), timeout=30))
    assert [a.WhichOneof("outcome") for a in answers] == ["enqueued", "error", "enqueued"]
    status = status_pb2.Status.FromString(answers[1].error.SerializeToString())
    bad = error_details_pb2.BadRequest()
    assert status.details[1].Unpack(bad) and bad.field_violations[0].field == "wait_seconds"
    assert stub.Stats(pb.StatsRequest(queue=queue), timeout=5).task_types["echo"].pending == 2
