"""Each RPC as a plan (method, request, how to read the answer), shared by both clients.

The sync and the async client differ only in how they send a plan; everything about what to
send and what the answer means lives here once. Multi-call operations (`wait`, `list_tasks`)
are small state machines that hand out the next plan, so neither client re-implements them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from taskqueue.v1 import taskqueue_pb2 as pb

from . import _convert
from .errors import WaitTimeout, outcome_error
from .models import EnqueueOptions, JsonObject, Task, TaskResult, TaskSpec, TaskStatus

Out = TypeVar("Out")

# One GetResult long-poll asks the server to wait at most this long; wait() chains them.
WAIT_CHUNK_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Call(Generic[Out]):
    """One unary RPC: the stub method's name, the request, and the answer's conversion."""

    method: str
    request: Any
    convert: Callable[[Any], Out]
    # False sends it on the channel without retries (an enqueue without an idempotency key).
    retry_safe: bool = True
    # Seconds the server may hold the call on purpose, added to the default deadline.
    server_wait: float = 0.0


def _task_of(response: Any) -> Task:
    return _convert.task_from_proto(response.task)


def enqueue(
    task_type: str,
    task_data: Mapping[str, Any] | None,
    options: EnqueueOptions,
    auto_key: bool,
) -> Call[str]:
    request = _convert.enqueue_request(task_type, task_data, options, auto_key)
    return Call("Enqueue", request, lambda r: str(r.task_id), bool(request.idempotency_key))


def enqueue_many(specs: Iterable[TaskSpec], auto_key: bool) -> Call[list[str]]:
    requests = []
    for spec in specs:
        options: dict[str, Any] = dict(spec)
        task_type = options.pop("task_type")
        task_data = options.pop("task_data", None)
        request = _convert.enqueue_request(
            task_type, task_data, cast(EnqueueOptions, options), auto_key
        )
        requests.append(request)
    return Call(
        "EnqueueBatch",
        pb.EnqueueBatchRequest(tasks=requests, ids_only=True),
        _batch_ids,
        all(request.idempotency_key for request in requests),
    )


def _batch_ids(response: pb.EnqueueBatchResponse) -> list[str]:
    # A server older than ids_only leaves task_ids empty and answers whole tasks.
    return list(response.task_ids) or [str(task.id) for task in response.tasks]


def get_task(task_id: str) -> Call[Task]:
    return Call("GetTask", pb.GetTaskRequest(task_id=task_id), _task_of)


def get_result(task_id: str, wait: float | None = None) -> Call[TaskResult]:
    seconds = max(0.0, wait or 0.0)
    request = pb.GetResultRequest(task_id=task_id, wait_seconds=seconds)
    return Call("GetResult", request, _convert.result_from_proto, server_wait=seconds)


def cancel(task_id: str) -> Call[Task]:
    return Call("CancelTask", pb.CancelTaskRequest(task_id=task_id), _task_of)


def retry(task_id: str) -> Call[Task]:
    return Call("RetryTask", pb.RetryTaskRequest(task_id=task_id), _task_of, retry_safe=False)


def stats(task_type: str | None = None, queue: str | None = None) -> Call[dict[str, Any]]:
    request = pb.StatsRequest(task_type=task_type or "", queue=queue or "")
    return Call("Stats", request, _convert.stats_from_proto)


class Pager:
    """Hands out one ListTasks call per page until the server sends no next page token."""

    def __init__(
        self,
        queue: str | None,
        status: TaskStatus | str | None,
        task_type: str | None,
        page_size: int,
    ) -> None:
        self._request = pb.ListTasksRequest(
            queue=queue or "",
            task_type=task_type or "",
            status=_convert.status_to_proto(status) if status else pb.TASK_STATUS_UNSPECIFIED,
            page_size=page_size,
        )
        self._done = False

    def next_call(self) -> Call[pb.ListTasksResponse] | None:
        """The call for the next page, or None after the last one."""
        if self._done:
            return None
        request = pb.ListTasksRequest()
        request.CopyFrom(self._request)
        return Call("ListTasks", request, lambda r: r)

    def take(self, page: pb.ListTasksResponse) -> list[Task]:
        """The page's tasks; remembers where the next page starts."""
        self._request.page_token = page.next_page_token
        self._done = not page.next_page_token
        return [_convert.task_from_proto(task) for task in page.tasks]


class Waiter:
    """Chains GetResult long-polls until the task ends or `timeout` seconds have passed.

    The server blocks each call until the task is terminal or the chunk ends, so the client
    never polls: a chain of 30-second waits costs one round trip per 30 seconds.
    """

    def __init__(self, task_id: str, timeout: float | None) -> None:
        self._task_id = task_id
        self._timeout = timeout
        self._deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        self._status = TaskStatus.PENDING
        self._asked = False

    def next_call(self) -> Call[TaskResult] | None:
        """The next long-poll, or None when the time is up (after at least one call)."""
        if self._deadline is None:
            return get_result(self._task_id, WAIT_CHUNK_SECONDS)
        left = self._deadline - time.monotonic()
        if left <= 0 and self._asked:
            return None
        self._asked = True
        return get_result(self._task_id, min(max(left, 0.0), WAIT_CHUNK_SECONDS))

    def settle(self, answer: TaskResult) -> JsonObject | None:
        """The result when completed; raises for failed/cancelled; None to keep waiting."""
        self._status = answer.status
        if answer.status is TaskStatus.COMPLETED:
            return answer.result if answer.result is not None else {}
        error = outcome_error(answer.task_id or self._task_id, answer.status, answer.error)
        if error is not None:
            raise error
        return None

    def timed_out(self) -> WaitTimeout:
        return WaitTimeout(self._task_id, self._status, self._timeout or 0.0)


class Runner(Waiter):
    """`run`: an Enqueue that holds the call for the first chunk of the wait (one round trip
    when the task ends within it), then GetResult long-polls as `Waiter` chains them."""

    def __init__(
        self,
        task_type: str,
        task_data: Mapping[str, Any] | None,
        options: EnqueueOptions,
        auto_key: bool,
        timeout: float | None,
    ) -> None:
        super().__init__("", timeout)
        self._request = _convert.enqueue_request(task_type, task_data, options, auto_key)

    def next_call(self) -> Call[TaskResult] | None:
        if self._task_id:
            return super().next_call()
        left = WAIT_CHUNK_SECONDS if self._deadline is None else self._deadline - time.monotonic()
        self._asked = True
        self._request.wait_seconds = min(max(left, 0.0), WAIT_CHUNK_SECONDS)
        return Call(
            "Enqueue",
            self._request,
            _convert.enqueued_outcome_from_proto,
            bool(self._request.idempotency_key),
            self._request.wait_seconds,
        )

    def settle(self, answer: TaskResult) -> JsonObject | None:
        self._task_id = answer.task_id
        return super().settle(answer)
