"""The synchronous client: `TaskQueueClient("localhost:50051")`."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, TypeVar, Unpack

import grpc

from . import _calls, _control_calls, _limit_calls
from ._base import ClientBase
from ._control_calls import BulkFilter
from ._resume import WatchResume
from .errors import from_rpc_error
from .models import (
    EnqueueOptions,
    JsonObject,
    QueueInfo,
    QueueLimits,
    Task,
    TaskResult,
    TaskRetryPolicy,
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

    def run(
        self,
        task_type: str,
        task_data: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        **options: Unpack[EnqueueOptions],
    ) -> JsonObject:
        """Enqueue a task and wait for its result: `enqueue` then `wait` in one round trip
        when the task ends within 30 seconds (the server holds the Enqueue call).

        Raises as `wait` does (`TaskFailed`, `TaskCancelled`, `WaitTimeout`); the task stays
        stored whatever happens, and a retried call cannot store it twice (idempotency key).
        """
        runner = _calls.Runner(task_type, task_data, options, self._auto_key, timeout)
        while (call := runner.next_call()) is not None:
            result = runner.settle(self._invoke(call))
            if result is not None:
                return result
        raise runner.timed_out()

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

    def list_queues(self) -> list[QueueInfo]:
        """Every queue with its counts per type, pause state and oldest pending age (admin)."""
        return self._invoke(_control_calls.list_queues())

    def pause_queue(self, queue: str) -> QueueInfo:
        """Stop every server from starting the queue's tasks; it still accepts new ones."""
        return self._invoke(_control_calls.pause_queue(queue))

    def resume_queue(self, queue: str) -> QueueInfo:
        """Let servers start the queue's tasks again."""
        return self._invoke(_control_calls.resume_queue(queue))

    def purge_queue(self, queue: str, task_type: str | None = None) -> int:
        """Delete the queue's pending and scheduled tasks (of one type); how many went."""
        return self._invoke(_control_calls.purge_queue(queue, task_type))

    def change_priority(self, task_id: str, priority: int) -> Task:
        """Set the priority of a task that has not started; a pending one moves at once."""
        return self._invoke(_control_calls.change_priority(task_id, priority))

    def delete_task(self, task_id: str) -> TaskStatus:
        """Delete a task that is not running; returns the status it had."""
        return self._invoke(_control_calls.delete_task(task_id))

    def bulk_tasks(
        self,
        action: str,
        where: BulkFilter,
        *,
        dry_run: bool = False,
        expected_count: int | None = None,
        page_token: str = "",
    ) -> tuple[int, str]:
        """One chunk of a bulk "retry", "cancel" or "delete" (admin): how many tasks of the
        chunk matched (and were changed unless `dry_run`), and the next page token ("" after
        the last). `expected_count` makes the server refuse the chunk, changing nothing,
        unless exactly that many match."""
        call = _control_calls.bulk_tasks(action, where, dry_run, expected_count, page_token)
        return self._invoke(call)

    def set_limits(self, limits: QueueLimits) -> QueueLimits:
        """Replace the limits of a queue or task type; a limit left None is removed.

        Needs the admin role. See docs/limits.md.
        """
        return self._invoke(_limit_calls.set_limits(limits))

    def get_limits(self, queue: str = "", task_type: str = "") -> QueueLimits:
        """The limits of a queue (task_type "") or task type; None fields: no limit."""
        return self._invoke(_limit_calls.get_limits(queue, task_type))

    def set_queue_retry_policy(
        self, queue: str, policy: TaskRetryPolicy | None
    ) -> TaskRetryPolicy | None:
        """Set (replace as a whole) or, with None or {}, clear the queue's default retry
        policy: what its failing tasks follow where their own retry_policy sets nothing,
        before the server's flags. Returns it as stored. Needs the admin role. See
        docs/workflows.md, "Per-queue default"."""
        return self._invoke(_limit_calls.set_queue_retry_policy(queue, policy))

    def get_queue_retry_policy(self, queue: str = "") -> TaskRetryPolicy | None:
        """The queue's default retry policy; None when it has none. Needs the admin role."""
        return self._invoke(_limit_calls.get_queue_retry_policy(queue))
