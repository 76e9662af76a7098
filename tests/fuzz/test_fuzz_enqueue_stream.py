"""Hostile tasks on EnqueueStream, packed into messages of random sizes: every message is
answered, in order, with one outcome per task; every refusal carries a documented code and no
stack trace, and is the refusal a unary Enqueue of the same task gets."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from taskqueue.v1 import taskqueue_pb2 as pb
from taskqueue.v1 import taskqueue_pb2_grpc as pb_grpc

from tests.fuzz.conftest import FuzzServer
from tests.fuzz.strategies import Known, enqueue_requests

known = Known()
DOCUMENTED = {
    grpc.StatusCode.INVALID_ARGUMENT.value[0],
    grpc.StatusCode.NOT_FOUND.value[0],
    grpc.StatusCode.FAILED_PRECONDITION.value[0],
    grpc.StatusCode.RESOURCE_EXHAUSTED.value[0],
}


@pytest.fixture(scope="module")
def stub(fuzz_server: FuzzServer) -> Iterator[pb_grpc.TaskQueueServiceStub]:
    with grpc.insecure_channel(fuzz_server.process.target) as channel:
        yield pb_grpc.TaskQueueServiceStub(channel)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tasks=st.lists(enqueue_requests(known), min_size=1, max_size=12),
    cuts=st.lists(st.integers(1, 12), max_size=4),
)
def test_every_task_on_a_stream_gets_its_outcome(
    stub: pb_grpc.TaskQueueServiceStub,
    fuzz_server: FuzzServer,
    tasks: list[pb.EnqueueRequest],
    cuts: list[int],
) -> None:
    md = (("authorization", f"Bearer {fuzz_server.producer}"),)
    bounds = sorted({0, len(tasks), *(c for c in cuts if c < len(tasks))})
    messages = [
        pb.EnqueueStreamRequest(tasks=tasks[start:end]) for start, end in itertools.pairwise(bounds)
    ]
    responses = list(stub.EnqueueStream(iter(messages), timeout=30, metadata=md))
    assert [len(r.outcomes) for r in responses] == [len(m.tasks) for m in messages]
    outcomes = [outcome for response in responses for outcome in response.outcomes]
    for task, outcome in zip(tasks, outcomes, strict=True):
        if outcome.HasField("enqueued"):
            known.task_ids.append(outcome.enqueued.task_id)
            continue
        error = outcome.error
        assert error.code in DOCUMENTED, (error, task)
        assert "Traceback" not in error.message and 'File "' not in error.message
        if task.wait_seconds:
            # Only unary Enqueue waits: a stream refuses any wait, naming the field.
            assert error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0], (error, task)
            assert "wait_seconds" in error.message
        elif error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]:
            # Validation does not depend on what is stored: unary refuses it alike.
            with pytest.raises(grpc.RpcError) as unary:
                stub.Enqueue(task, timeout=10, metadata=md)
            assert (unary.value.code().value[0], unary.value.details()) == (
                error.code,
                error.message,
            )
