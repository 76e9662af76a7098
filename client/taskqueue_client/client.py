"""The synchronous client: `TaskQueueClient("localhost:50051")`."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, TypeVar, Unpack

import grpc

from . import _calls
from ._base import ClientBase
from ._resume import WatchResume
from .errors import from_rpc_error
from .models import (
    EnqueueOptions,
    JsonObject,
    Task,
    TaskResult,
    TaskSpec,
    TaskStatus,
    TaskTypeStats,
)

Out = TypeVar("Out")


class TaskQueueClient(ClientBase[grpc.Channel]):
    """Blocking client for the taskqueue service; use it as a context manager.

    Every method raises a `taskqueue_client.errors.ServiceError` subclass when the server
    refuses a call; see `ClientBase` for the constructor's arguments.
    """

    def _open(self, retries: bool) -> grpc.Channel:
        return self._settings.open(grpc.insecure_channel, grpc.secure_channel, retries)

    def _invoke(self, call: _calls.Call[Out]) -> Out:
        try:
            response = self._method(call)(call.request, **self._call_options(call))
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from exc
        return call.convert(response)

    def close(self) -> None:
        """Close the connection; calls in flight are cancelled."""
        for channel in self._channels():
            channel.close()

    def __enter__(self) -> TaskQueueClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def enqueue(
        self,
        task_type: str,
        task_data: Mapping[str, Any] | None = None,
        **options: Unpack[EnqueueOptions],
    ) -> str:
        """Store a task and return its id once it is durable; options: see `EnqueueOptions`."""
        return self._invoke(_calls.enqueue(task_type, task_data, options, self._auto_key))

    def enqueue_many(self, tasks: Iterable[TaskSpec]) -> list[str]:
        """Store tasks of one queue all or nothing; their ids in the order given."""
        return self._invoke(_calls.enqueue_many(tasks, self._auto_key))

    def get_task(self, task_id: str) -> Task:
        """The task's current state; `NotFound` when unknown or expired."""
        return self._invoke(_calls.get_task(task_id))

    def get_result(self, task_id: str, wait: float | None = None) -> TaskResult:
        """The task's outcome so far; with `wait`, the server holds the call up to that long."""
        return self._invoke(_calls.get_result(task_id, wait))

    def wait(self, task_id: str, timeout: float | None = None) -> JsonObject:
        """Block until the task ends and return its result.

        Raises `TaskFailed`, `TaskCancelled`, or `WaitTimeout` when `timeout` seconds pass
        first (None waits for as long as it takes). The server does the waiting.
        """
        waiter = _calls.Waiter(task_id, timeout)
        while (call := waiter.next_call()) is not None:
            result = waiter.settle(self._invoke(call))
            if result is not None:
                return result
        raise waiter.timed_out()

    def watch(self, task_id: str, timeout: float | None = None) -> Iterator[Task]:
        """Yield the task now, then after every change, ending after a terminal state.

        A dropped stream (server restart, proxy, network) is resumed from the last state
        yielded, with no repeat; `timeout` bounds the whole watch. See docs/client.md.
        """
        follow = WatchResume(task_id, timeout, self._settings.retry)
        while True:
            stream = self._stub.WatchTask(
                follow.request(), timeout=follow.stream_timeout(), metadata=self._settings.metadata
            )
            error = None
            try:
                for response in stream:
                    if (task := follow.take(response)) is not None:
                        yield task
            except grpc.RpcError as exc:
                error = from_rpc_error(exc)
                error.__cause__ = exc
            finally:
                stream.cancel()
            pause = follow.pause_before_resume(error)
            if pause is None:
                return
            time.sleep(pause)

    def cancel(self, task_id: str) -> Task:
        """Cancel a task that has not finished; a running handler is told to stop."""
        return self._invoke(_calls.cancel(task_id))

    def retry(self, task_id: str) -> Task:
        """Put a failed or cancelled task back in its queue with a fresh retry budget."""
        return self._invoke(_calls.retry(task_id))

    def list_tasks(
        self,
        queue: str | None = None,
        *,
        status: TaskStatus | str | None = None,
        task_type: str | None = None,
        page_size: int = 100,
    ) -> Iterator[Task]:
        """Iterate a queue's tasks, newest first, fetching pages only as they are needed."""
        pager = _calls.Pager(queue, status, task_type, page_size)
        while (call := pager.next_call()) is not None:
            yield from pager.take(self._invoke(call))

    def stats(
        self, task_type: str | None = None, queue: str | None = None
    ) -> dict[str, TaskTypeStats]:
        """Task counts per task type, optionally for one type and/or one queue."""
        return self._invoke(_calls.stats(task_type, queue))
