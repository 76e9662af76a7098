"""Enqueue with wait_seconds: the task is stored, then the same call waits for its outcome.

Real server processes on real Redis, the demo handlers (echo, sleep, fail).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status
from taskqueue.v1 import taskqueue_pb2 as pb

from tests.e2e.helpers import Driver, rpc_error
from tests.support.server_process import ServerFactory


@pytest.fixture(scope="module")
def driver(shared_factory: ServerFactory) -> Iterator[Driver]:
    server = shared_factory.start()
    driver = Driver(server.target)
    yield driver
    driver.close()


def enqueue_waiting(
    driver: Driver, task_type: str, data: dict[str, object], wait: float, **fields: Any
) -> pb.EnqueueResponse:
    request = pb.EnqueueRequest(task_type=task_type, wait_seconds=wait, **fields)
    request.task_data.update(data)
    return driver.stub.Enqueue(request, timeout=70)


def bad_fields(error: grpc.RpcError) -> list[str]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert isinstance(status, status_pb2.Status)
    fields = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields += [violation.field for violation in bad.field_violations]
    return fields


def test_a_task_that_ends_within_the_wait_comes_back_finished_with_its_result(
    driver: Driver,
) -> None:
    response = enqueue_waiting(driver, "echo", {"n": 7}, wait=20)
    assert response.task.status == pb.TASK_STATUS_COMPLETED
    assert json_format.MessageToDict(response.result) == {"echo": {"n": 7}, "attempt": 1}
    assert not response.deduplicated
    # The answer is the stored task, field for field, as GetTask reads it afterwards.
    assert response.task == driver.get(response.task_id)


def test_the_wait_ends_with_the_task_as_it_stands_and_no_error(driver: Driver) -> None:
    start = time.monotonic()
    response = enqueue_waiting(driver, "echo", {}, wait=0.5, delay_seconds=60)
    took = time.monotonic() - start
    assert 0.5 <= took < 5, took
    assert response.task.status == pb.TASK_STATUS_SCHEDULED
    assert not response.HasField("result")
    assert driver.get(response.task_id).status == pb.TASK_STATUS_SCHEDULED  # stored


def test_a_failed_task_comes_back_failed_with_its_error_and_no_result(driver: Driver) -> None:
    response = enqueue_waiting(driver, "fail", {"permanent": True}, wait=20)
    assert response.task.status == pb.TASK_STATUS_FAILED
    assert response.task.last_error
    assert not response.HasField("result")
    assert response.task == driver.get(response.task_id)


def test_a_repeated_idempotency_key_waits_for_the_first_task(driver: Driver) -> None:
    first = driver.enqueue_response("echo", {"n": 1}, idempotency_key="wait-dedup")
    again = enqueue_waiting(driver, "echo", {"n": 2}, wait=20, idempotency_key="wait-dedup")
    assert again.deduplicated
    assert again.task_id == first.task_id
    assert again.task.status == pb.TASK_STATUS_COMPLETED
    assert json_format.MessageToDict(again.result) == {"echo": {"n": 1}, "attempt": 1}


@pytest.mark.parametrize("wait", [-1.0, float("nan"), 3601.0])
def test_a_bad_wait_is_refused_naming_the_field_and_stores_nothing(
    driver: Driver, wait: float
) -> None:
    queue = f"badwait{abs(hash(str(wait))) % 10_000}"
    error = rpc_error(enqueue_waiting, driver, "echo", {}, wait, queue=queue)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_fields(error) == ["wait_seconds"]
    assert driver.list_all(queue) == []


def test_a_batch_refuses_wait_seconds_naming_the_item(driver: Driver) -> None:
    request = pb.EnqueueBatchRequest(
        tasks=[
            pb.EnqueueRequest(task_type="echo", queue="batchwait"),
            pb.EnqueueRequest(task_type="echo", queue="batchwait", wait_seconds=5),
        ]
    )
    error = rpc_error(driver.stub.EnqueueBatch, request, timeout=10)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_fields(error) == ["tasks[1].wait_seconds"]
    assert driver.list_all("batchwait") == []


def test_a_stopping_server_answers_a_waiting_enqueue_at_once_with_the_stored_task(
    servers: ServerFactory,
) -> None:
    server = servers.start()
    driver = Driver(server.target)
    request = pb.EnqueueRequest(task_type="sleep", wait_seconds=60)
    request.task_data.update({"seconds": 4})
    call = driver.stub.Enqueue.future(request, timeout=70)
    # The task runs (so the enqueue was stored and the call is waiting) before the signal.
    processing = driver.list_all("default", status=pb.TASK_STATUS_PROCESSING)
    deadline = time.monotonic() + 10
    while not processing:
        assert time.monotonic() < deadline, "the task never started"
        time.sleep(0.05)
        processing = driver.list_all("default", status=pb.TASK_STATUS_PROCESSING)
    server.process.send_signal(signal.SIGTERM)
    response = call.result(timeout=3)  # well before the handler's 4 s end
    assert response.task_id == processing[0].id
    assert response.task.status == pb.TASK_STATUS_PROCESSING
    assert server.wait_exit(timeout=20) == 0
    driver.close()
