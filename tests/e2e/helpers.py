"""A small synchronous driver over the generated stubs, for readable end-to-end tests."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import grpc
import redis
from google.protobuf import json_format
from taskqueue.v1 import taskqueue_pb2 as pb
from taskqueue.v1 import taskqueue_pb2_grpc as pb_grpc

TERMINAL = {pb.TASK_STATUS_COMPLETED, pb.TASK_STATUS_FAILED, pb.TASK_STATUS_CANCELLED}
RECORD_HANDLERS = "tests.e2e.handlers_record"


def status_name(value: int) -> str:
    return pb.TaskStatus.Name(value)  # type: ignore[arg-type]


class Driver:
    """Calls one server through a real channel; every call has a deadline."""

    def __init__(self, target: str) -> None:
        self.channel = grpc.insecure_channel(target)
        self.stub = pb_grpc.TaskQueueServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def enqueue(self, task_type: str, data: dict[str, Any] | None = None, **fields: Any) -> pb.Task:
        return self.enqueue_response(task_type, data, **fields).task

    def enqueue_response(
        self, task_type: str, data: dict[str, Any] | None = None, **fields: Any
    ) -> pb.EnqueueResponse:
        request = pb.EnqueueRequest(task_type=task_type, **fields)
        if data is not None:
            request.task_data.update(data)
        return self.stub.Enqueue(request, timeout=10)

    def get(self, task_id: str) -> pb.Task:
        return self.stub.GetTask(pb.GetTaskRequest(task_id=task_id), timeout=10).task

    def result(self, task_id: str, wait: float = 0.0) -> pb.GetResultResponse:
        return self.stub.GetResult(
            pb.GetResultRequest(task_id=task_id, wait_seconds=wait), timeout=wait + 10
        )

    def watch(self, task_id: str, timeout: float = 20.0) -> list[pb.Task]:
        """Every state the stream sends until it ends (after a terminal state)."""
        stream = self.stub.WatchTask(pb.WatchTaskRequest(task_id=task_id), timeout=timeout)
        return [message.task for message in stream]

    def wait_for(self, task_id: str, statuses: Iterable[int], timeout: float = 20.0) -> pb.Task:
        """Watch until the task is in one of `statuses`; fail at the deadline."""
        wanted = set(statuses)
        stream = self.stub.WatchTask(pb.WatchTaskRequest(task_id=task_id), timeout=timeout)
        try:
            for message in stream:
                if message.task.status in wanted:
                    return message.task
        finally:
            stream.cancel()
        raise AssertionError(
            f"task {task_id} ended in {status_name(message.task.status)}, "
            f"never in {[status_name(s) for s in wanted]}"
        )

    def finish(self, task_id: str, timeout: float = 20.0) -> pb.GetResultResponse:
        """Wait (server-side) for the task to end; fail if it has not by the deadline."""
        response = self.result(task_id, wait=timeout)
        assert response.status in TERMINAL, (
            f"task {task_id} still {status_name(response.status)} after {timeout}s"
        )
        return response

    def stats(self, queue: str = "", task_type: str = "") -> dict[str, dict[str, int]]:
        response = self.stub.Stats(pb.StatsRequest(queue=queue, task_type=task_type), timeout=10)
        return {
            name: {field.name: value for field, value in counts.ListFields()}
            for name, counts in response.task_types.items()
        }

    def list_all(self, queue: str, page_size: int = 100, **filters: Any) -> list[pb.Task]:
        tasks: list[pb.Task] = []
        token = ""
        while True:
            page = self.stub.ListTasks(
                pb.ListTasksRequest(queue=queue, page_size=page_size, page_token=token, **filters),
                timeout=10,
            )
            tasks.extend(page.tasks)
            token = page.next_page_token
            if not token:
                return tasks


def result_dict(response: pb.GetResultResponse) -> dict[str, Any]:
    return json_format.MessageToDict(response.result)


def rpc_error(call: Any, *args: Any, **kwargs: Any) -> grpc.RpcError:
    """Run a call that must fail; return its error."""
    try:
        call(*args, **kwargs)
    except grpc.RpcError as exc:
        return exc
    raise AssertionError("the call succeeded but should have failed")


class Records:
    """Reads what tests/e2e/handlers_record.py wrote under the test prefix."""

    def __init__(self, redis_url: str, prefix: str) -> None:
        self.client = redis.Redis.from_url(redis_url, decode_responses=True)
        self.prefix = prefix

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, "rec", *parts))

    def runs(self, task_id: str) -> int:
        return int(self.client.get(self.key("runs", task_id)) or 0)

    def completed_runs(self, task_id: str) -> int:
        return int(self.client.get(self.key("completed_runs", task_id)) or 0)

    def attempt_times_ms(self, task_id: str) -> list[float]:
        return [float(x) for x in self.client.lrange(self.key("attempt_ms", task_id), 0, -1)]

    def workers(self, task_id: str) -> list[str]:
        return list(self.client.lrange(self.key("worker", task_id), 0, -1))

    def spans(self, task_id: str) -> list[tuple[float, float]]:
        """(start, end) of each run, epoch seconds (handlers_edges.py)."""
        pairs = (x.split() for x in self.client.lrange(self.key("span", task_id), 0, -1))
        return [(float(start), float(end)) for start, end in pairs]

    def peak_running(self) -> int:
        """The most handlers running at once, as they counted themselves (handlers_edges.py)."""
        return max((int(x) for x in self.client.lrange(self.key("peaks"), 0, -1)), default=0)

    def get(self, what: str, task_id: str) -> str | None:
        value = self.client.get(self.key(what, task_id))
        return None if value is None else str(value)

    def wait_until(self, what: str, task_id: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.get(what, task_id)
            if value is not None:
                return value
            time.sleep(0.02)
        raise AssertionError(f"{what} never recorded for {task_id} within {timeout}s")
