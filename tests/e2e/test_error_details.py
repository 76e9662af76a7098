"""Refusals carry google.rpc.Status details: a stable reason and the bad fields, read two ways.

Against a real server process: once as any gRPC program reads them (grpcio-status on the raw
call), once through the Python client's exceptions (`reason`, `field_violations`).
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from taskqueue.v1 import taskqueue_pb2 as pb
from taskqueue_client import AsyncTaskQueueClient, ServiceError, TaskQueueClient
from taskqueue_server.engine.errors import Reason
from taskqueue_server.engine.redis_errors import REFUSALS
from taskqueue_server.service.status import ServiceReason

from tests.e2e.helpers import Driver, rpc_error
from tests.support.error_details import error_details, error_reason
from tests.support.server_process import ServerFactory

HEX = "0123456789abcdef" * 2
UNKNOWN_ID = f"bad-{'0' * 32}"


def raw_enqueue(**fields: Any) -> Callable[[Driver], Any]:
    data = fields.pop("task_data", None)

    def call(driver: Driver) -> Any:
        request = pb.EnqueueRequest(**{"task_type": "echo", "queue": "bad", **fields})
        if data is not None:
            request.task_data.update(data)
        return driver.stub.Enqueue(request, timeout=10)

    return call


def raw_batch(*items: dict[str, Any]) -> Callable[[Driver], Any]:
    def call(driver: Driver) -> Any:
        tasks = [pb.EnqueueRequest(**{"task_type": "echo", "queue": "bad", **i}) for i in items]
        return driver.stub.EnqueueBatch(pb.EnqueueBatchRequest(tasks=tasks), timeout=10)

    return call


def raw(method: str, request: Any) -> Callable[[Driver], Any]:
    def call(driver: Driver) -> Any:
        result = getattr(driver.stub, method)(request, timeout=10)
        return list(result) if method == "WatchTask" else result

    return call


# (name, raw call, client call, status code, reason, bad field or "")
CASES: list[tuple[str, Callable[[Driver], Any], Callable[[TaskQueueClient], Any], str, str, str]]
CASES = [
    ("unknown task type", raw_enqueue(task_type="nope"),
     lambda c: c.enqueue("nope", {}, queue="bad"),
     "INVALID_ARGUMENT", "UNKNOWN_TASK_TYPE", "task_type"),
    ("bad batch item", raw_batch({}, {}, {"priority": 5000}),
     lambda c: c.enqueue_many([{"task_type": "echo"}, {"task_type": "echo", "priority": 5000}]),
     "INVALID_ARGUMENT", "INVALID_FIELD", ""),
    ("task_data too large", raw_enqueue(task_data={"x": "y" * 2500}),
     lambda c: c.enqueue("echo", {"x": "y" * 2500}, queue="bad"),
     "INVALID_ARGUMENT", "TASK_DATA_TOO_LARGE", "task_data"),
    ("batch too large", raw_batch(*[{}] * 51),
     lambda c: c.enqueue_many([{"task_type": "echo", "queue": "bad"}] * 51),
     "INVALID_ARGUMENT", "BATCH_TOO_LARGE", "tasks"),
    ("unknown dependency", raw_enqueue(depends_on=[f"bad-{HEX}"]),
     lambda c: c.enqueue("echo", {}, queue="bad", depends_on=[f"bad-{HEX}"]),
     "INVALID_ARGUMENT", "DEPENDENCY_NOT_FOUND", "tasks[0].depends_on"),
    ("forged page token", raw("ListTasks", pb.ListTasksRequest(page_token="abc")),
     lambda c: c._invoke(_page_call("abc")),
     "INVALID_ARGUMENT", "INVALID_PAGE_TOKEN", "page_token"),
    ("unknown task", raw("GetTask", pb.GetTaskRequest(task_id=UNKNOWN_ID)),
     lambda c: c.get_task(UNKNOWN_ID), "NOT_FOUND", "TASK_NOT_FOUND", ""),
    ("watch of an unknown task", raw("WatchTask", pb.WatchTaskRequest(task_id=UNKNOWN_ID)),
     lambda c: list(c.watch(UNKNOWN_ID)), "NOT_FOUND", "TASK_NOT_FOUND", ""),
    ("malformed id", raw("CancelTask", pb.CancelTaskRequest(task_id="../x")),
     lambda c: c.cancel("../x"), "INVALID_ARGUMENT", "INVALID_FIELD", "task_id"),
]  # fmt: skip
# The batch item's path differs by request: the raw one has 3 items, the client's 2.
ITEM_FIELD = {"bad batch item": ("tasks[2].priority", "tasks[1].priority")}


def _page_call(token: str) -> Any:
    from taskqueue_client import _calls

    return _calls.Call("ListTasks", pb.ListTasksRequest(page_token=token), lambda r: r)


@pytest.fixture(scope="module")
def client(shared_server: Any) -> Iterator[TaskQueueClient]:
    with TaskQueueClient(shared_server.target, retry=None) as python_client:
        yield python_client


@pytest.mark.parametrize(("name", "call", "_client_call", "code", "reason", "field"), CASES,
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_raw_grpc_reads_reason_and_field_violations(
    driver: Driver, name: str, call: Callable[[Driver], Any], _client_call: Any,
    code: str, reason: str, field: str,
) -> None:  # fmt: skip
    error = rpc_error(call, driver)
    status, details = error_details(error)
    assert (error.code().name, status.message) == (code, error.details())
    info = details[0]
    assert (info.reason, info.domain) == (reason, "taskqueue.v1")
    expected_field = ITEM_FIELD[name][0] if name in ITEM_FIELD else field
    if not expected_field:
        assert len(details) == 1, "a refusal without a bad field has no BadRequest"
        return
    [violation] = details[1].field_violations
    assert violation.field == expected_field
    assert violation.description == error.details()


@pytest.mark.parametrize(("name", "_call", "client_call", "code", "reason", "field"), CASES,
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_python_client_exposes_reason_and_field_violations(
    client: TaskQueueClient, name: str, _call: Any, client_call: Callable[[TaskQueueClient], Any],
    code: str, reason: str, field: str,
) -> None:  # fmt: skip
    with pytest.raises(ServiceError) as refused:
        client_call(client)
    error = refused.value
    assert (error.code.name, error.reason) == (code, reason)
    expected_field = ITEM_FIELD[name][1] if name in ITEM_FIELD else field
    assert [v.field for v in error.field_violations] == ([expected_field] if expected_field else [])
    assert all(v.description == error.message for v in error.field_violations)


def test_state_refusals_name_the_state(driver: Driver, client: TaskQueueClient) -> None:
    task = driver.enqueue("echo", {})  # the server works the default queue only
    driver.wait_for(task.id, [pb.TASK_STATUS_COMPLETED])
    with pytest.raises(ServiceError) as terminal:
        client.cancel(task.id)
    assert (terminal.value.code.name, terminal.value.reason) == (
        "FAILED_PRECONDITION", "TASK_TERMINAL"
    )
    pending = driver.enqueue("echo", {}, queue="bad", delay_seconds=3600)
    error = rpc_error(driver.stub.RetryTask, pb.RetryTaskRequest(task_id=pending.id), timeout=10)
    assert error_reason(error) == "TASK_NOT_RETRYABLE"
    driver.stub.CancelTask(pb.CancelTaskRequest(task_id=pending.id), timeout=10)


def test_a_watch_over_the_limit_says_too_many_watchers(redis_available: None) -> None:
    with ServerFactory() as factory:
        server = factory.start(extra_args=["--max-watch-streams", "1"])
        driver = Driver(server.target)
        try:
            task = driver.enqueue("echo", {}, delay_seconds=3600)
            holder = driver.stub.WatchTask(pb.WatchTaskRequest(task_id=task.id), timeout=30)
            next(holder)  # the first stream holds the only slot now
            error = rpc_error(driver.watch, task.id)
            assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
            assert error_reason(error) == "TOO_MANY_WATCHERS"
            holder.cancel()
        finally:
            driver.close()


DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_docs_python_example_prints_reason_and_field(shared_server: Any) -> None:
    section = (DOCS / "client.md").read_text().split("### In Python", 1)[1]
    block = section.split("```python\n", 1)[1].split("```", 1)[0]
    run = subprocess.run(
        [sys.executable, "-c", block.replace("localhost:50051", shared_server.target)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[:2] == [
        "INVALID_FIELD",
        "priority - priority: 5000 is out of range; use -1000 to 1000",
    ]


def test_every_reason_is_in_the_docs_table() -> None:
    table = (DOCS / "client.md").read_text().split("## Errors and their reasons", 1)[1]
    documented = set(re.findall(r"^\| `[A-Z_]+` \| `([A-Z_]+)` \|", table, re.M))
    assert documented == {r.value for r in Reason} | {r.value for r in ServiceReason}
    operations = (DOCS / "operations.md").read_text().split("## When Redis refuses", 1)[1]
    for code, reason, message in REFUSALS.values():
        assert f"| `{code.name}` | `{reason.value}` | {message} |" in operations


async def test_the_async_client_exposes_reason_and_field_violations(shared_server: Any) -> None:
    async with AsyncTaskQueueClient(shared_server.target, retry=None) as client:
        with pytest.raises(ServiceError) as refused:
            await client.enqueue("echo", {}, priority=5000)
    assert refused.value.reason == "INVALID_FIELD"
    assert [v.field for v in refused.value.field_violations] == ["priority"]
