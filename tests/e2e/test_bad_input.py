"""Every bad request gets a precise status and a message a person can act on, and stores nothing."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from taskqueue.v1 import taskqueue_pb2 as pb

from tests.e2e.helpers import Driver, rpc_error

HEX = "0123456789abcdef" * 2
UNKNOWN_ID = f"default-{'0' * 32}"
QUEUES = ("default", "bad")


def enqueue(**fields: Any) -> Callable[[Driver], Any]:
    data = fields.pop("task_data", None)

    def call(driver: Driver) -> Any:
        request = pb.EnqueueRequest(**{"task_type": "echo", "queue": "bad", **fields})
        if data is not None:
            request.task_data.update(data)
        return driver.stub.Enqueue(request, timeout=10)

    return call


def nan_data(driver: Driver) -> Any:
    request = pb.EnqueueRequest(task_type="echo", queue="bad")
    request.task_data.update({"deep": {"x": 1.0}})
    request.task_data["deep"]["x"] = math.nan
    return driver.stub.Enqueue(request, timeout=10)


def batch(*items: dict[str, Any]) -> Callable[[Driver], Any]:
    def call(driver: Driver) -> Any:
        tasks = [pb.EnqueueRequest(**{"task_type": "echo", "queue": "bad", **i}) for i in items]
        return driver.stub.EnqueueBatch(pb.EnqueueBatchRequest(tasks=tasks), timeout=10)

    return call


def rpc(method: str, request: Any) -> Callable[[Driver], Any]:
    def call(driver: Driver) -> Any:
        result = getattr(driver.stub, method)(request, timeout=10)
        return list(result) if method == "WatchTask" else result

    return call


INVALID = grpc.StatusCode.INVALID_ARGUMENT
CASES: list[tuple[str, Callable[[Driver], Any], grpc.StatusCode, str]] = [
    ("empty task_type", enqueue(task_type=""), INVALID, "task_type: a task type is required"),
    ("unknown task_type", enqueue(task_type="nope"), INVALID, "known task types: block, echo"),
    ("odd task_type", enqueue(task_type="a b"), INVALID, "task_type: 'a b' is not a task type"),
    ("priority too high", enqueue(priority=1001), INVALID, "priority: 1001 is out of range"),
    ("priority too low", enqueue(priority=-1001), INVALID, "use -1000 to 1000"),
    ("negative max_retries", enqueue(max_retries=-1), INVALID, "max_retries: -1"),
    ("negative delay", enqueue(delay_seconds=-1), INVALID, "delay_seconds: -1 is negative"),
    ("nan delay", enqueue(delay_seconds=math.nan), INVALID, "delay_seconds: must be a finite"),
    ("infinite delay", enqueue(delay_seconds=math.inf), INVALID, "delay_seconds"),
    ("negative timeout", enqueue(timeout_seconds=-2), INVALID, "timeout_seconds"),
    ("run_at before 1970", enqueue(run_at={"seconds": -10}), INVALID, "run_at: must not be"),
    ("task_data too big", enqueue(task_data={"x": "y" * 2500}), INVALID, "limit is 2000 bytes"),
    ("nan in task_data", nan_data, INVALID, "task_data.deep.x: NaN"),
    ("long idempotency key", enqueue(idempotency_key="k" * 201), INVALID, "limit is 200"),
    ("expire_time in the past", enqueue(expire_time={"seconds": 1_000_000_000}), INVALID,
     "tasks[0].expire_time: 1000000000000 ms (Unix time) is not later than now"),
    ("retry factor below 1", enqueue(retry_policy={"factor": 0.5}), INVALID,
     "retry_policy.factor: 0.5 is outside 1 to 100"),
    ("retry jitter above 1", enqueue(retry_policy={"jitter": 2}), INVALID,
     "retry_policy.jitter: 2 is outside 0 to 1"),
    ("negative retry base", enqueue(retry_policy={"base_seconds": -1}), INVALID,
     "retry_policy.base_seconds: -1 is outside"),
    ("retry cap below base", enqueue(retry_policy={"base_seconds": 9, "cap_seconds": 3}),
     INVALID, "retry_policy.cap_seconds: 3 is below base_seconds 9"),
    ("odd permanent error", enqueue(retry_policy={"permanent_errors": ["Value Error"]}),
     INVALID, "retry_policy.permanent_errors[0]: 'Value Error' is not an exception class"),
    ("long unique key", enqueue(unique_key="k" * 201), INVALID, "unique_key: is 201 characters"),
    ("bad queue", enqueue(queue="no spaces"), INVALID, "queue: 'no spaces' is not a queue"),
    ("malformed dependency", enqueue(depends_on=["x"]), INVALID, "depends_on[0]: 'x' is not"),
    ("dependency in another queue", enqueue(depends_on=[f"other-{HEX}"]), INVALID,
     "dependencies must share the task's queue"),
    ("unknown dependency", enqueue(depends_on=[f"bad-{HEX}"]), INVALID, f"bad-{HEX} not found"),
    ("batch item", batch({}, {}, {}, {"priority": 5000}), INVALID, "tasks[3].priority: 5000"),
    ("batch of two queues", batch({}, {"queue": "default"}), INVALID, "tasks[1].queue"),
    ("batch too big", batch(*[{}] * 51), INVALID, "tasks: 51 tasks; the limit is 50"),
    ("dependency on a later batch task", batch({"depends_on_index": [1]}, {}), INVALID,
     "tasks[0].depends_on_index[0]: 1 is not an earlier task of the batch"),
    ("dependency on itself in a batch", batch({}, {"depends_on_index": [0, 1]}), INVALID,
     "tasks[1].depends_on_index[1]: 1 is not an earlier task"),
    ("cycle inside a batch", batch({"depends_on_index": [1]}, {"depends_on_index": [0]}),
     INVALID, "tasks[0].depends_on_index[0]"),
    ("repeated batch index", batch({}, {"depends_on_index": [0, 0]}), INVALID,
     "tasks[1].depends_on_index[1]: repeats"),
    ("batch index outside a batch", enqueue(depends_on_index=[0]), INVALID,
     "depends_on_index: names tasks by their position in a batch"),
    ("empty batch", batch(), INVALID, "at least one task"),
    ("message over 4 MiB", enqueue(task_data={"x": "y" * (5 * 1024 * 1024)}),
     grpc.StatusCode.RESOURCE_EXHAUSTED, ""),
    ("malformed id", rpc("GetTask", pb.GetTaskRequest(task_id="../etc")), INVALID,
     "task_id: '../etc' is not a task id"),
    ("empty id", rpc("GetTask", pb.GetTaskRequest()), INVALID, "task_id: a task id is required"),
    ("unknown id", rpc("GetTask", pb.GetTaskRequest(task_id=UNKNOWN_ID)),
     grpc.StatusCode.NOT_FOUND, "not found"),
    ("negative wait", rpc("GetResult", pb.GetResultRequest(task_id=UNKNOWN_ID, wait_seconds=-1)),
     INVALID, "wait_seconds"),
    ("result of unknown id", rpc("GetResult", pb.GetResultRequest(task_id=UNKNOWN_ID)),
     grpc.StatusCode.NOT_FOUND, "not found"),
    ("watch malformed id", rpc("WatchTask", pb.WatchTaskRequest(task_id="nope")), INVALID,
     "task_id"),
    ("watch unknown id", rpc("WatchTask", pb.WatchTaskRequest(task_id=UNKNOWN_ID)),
     grpc.StatusCode.NOT_FOUND, "not found"),
    ("watch after negative version",
     rpc("WatchTask", pb.WatchTaskRequest(task_id=UNKNOWN_ID, after_version=-1)), INVALID,
     "after_version: -1 is negative"),
    ("cancel unknown id", rpc("CancelTask", pb.CancelTaskRequest(task_id=UNKNOWN_ID)),
     grpc.StatusCode.NOT_FOUND, "not found"),
    ("retry unknown id", rpc("RetryTask", pb.RetryTaskRequest(task_id=UNKNOWN_ID)),
     grpc.StatusCode.NOT_FOUND, "not found"),
    ("page size", rpc("ListTasks", pb.ListTasksRequest(page_size=5000)), INVALID, "page_size"),
    ("status filter", rpc("ListTasks", pb.ListTasksRequest(status=99)), INVALID,  # type: ignore[arg-type]
     "status: 99"),
    ("forged page token", rpc("ListTasks", pb.ListTasksRequest(page_token="abc")), INVALID, ""),
    ("stats of bad queue", rpc("Stats", pb.StatsRequest(queue="a b")), INVALID, "queue"),
]


def snapshot(driver: Driver) -> tuple[object, ...]:
    return (
        driver.stats(),
        *(sorted(t.id for t in driver.list_all(queue)) for queue in QUEUES),
    )


@pytest.fixture(scope="module")
def before(driver: Driver) -> tuple[object, ...]:
    # Something real in the store, so "unchanged" is not trivially "empty".
    driver.enqueue("echo", {}, queue="bad")
    return snapshot(driver)


@pytest.mark.parametrize(("name", "call", "code", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_and_stores_nothing(
    driver: Driver,
    before: tuple[object, ...],
    name: str,
    call: Callable[[Driver], Any],
    code: grpc.StatusCode,
    fragment: str,
) -> None:
    error = rpc_error(call, driver)
    assert error.code() == code, f"{name}: {error.code()} {error.details()}"
    details = error.details() or ""
    assert fragment in details, details
    assert "Traceback" not in details and "File \"" not in details
    assert snapshot(driver) == before
