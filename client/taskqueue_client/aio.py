"""The asyncio client: `async with AsyncTaskQueueClient("localhost:50051") as client`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from types import TracebackType
from typing import Any, TypeVar, Unpack

import grpc
import grpc.aio
from google.rpc import status_pb2

from . import _calls, _control_calls, _limit_calls
from ._base import ClientBase
from ._control_calls import BulkFilter
from ._enqueue_stream import StreamBroken, StreamedEnqueues
from ._resume import WatchResume
from .errors import DeadlineExceeded, from_rpc_error, from_status
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
DEADLINE_EXCEEDED = grpc.StatusCode.DEADLINE_EXCEEDED


class AsyncTaskQueueClient(ClientBase[grpc.aio.Channel]):
    """The asyncio twin of `TaskQueueClient`: the same methods, awaited.

    Create it inside a running event loop; see `ClientBase` for the constructor's arguments.
    `stream_enqueues=True` sends every `enqueue()` that has an idempotency key (all of them,
    unless `auto_idempotency_key` is off) over one long-lived EnqueueStream instead of a
    unary call each: concurrent enqueues then cost one gRPC message each rather than one
    call, several times the throughput from many coroutines. Answers, errors and deadlines
    are those of unary enqueues; a request the stream left unanswered (server restart,
    connection cut) is resent by unary Enqueue with the same key, so it is stored once.
    """

    def __init__(self, *args: Any, stream_enqueues: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._streamed = StreamedEnqueues(self._open_enqueue_stream) if stream_enqueues else None

    def _open(self, retries: bool) -> grpc.aio.Channel:
        return self._settings.open(grpc.aio.insecure_channel, grpc.aio.secure_channel, retries)

    def _open_enqueue_stream(self) -> Any:
        # No deadline: the stream outlives every call on it; each call keeps its own.
        return self._stub.EnqueueStream(metadata=self._settings.metadata)

    async def _invoke(self, call: _calls.Call[Out], spent: float = 0.0) -> Out:
        try:
            options = self._call_options(call, spent)
            response = await self._method(call)(call.request, **options)
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc) from exc
        return call.convert(response)

    async def close(self) -> None:
        """Close the connection; calls in flight are cancelled."""
        if self._streamed is not None:
            await self._streamed.close()
        for channel in self._channels():
            await channel.close(grace=None)

    async def __aenter__(self) -> AsyncTaskQueueClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def enqueue(
        self,
        task_type: str,
        task_data: Mapping[str, Any] | None = None,
        **options: Unpack[EnqueueOptions],
    ) -> str:
        """See `TaskQueueClient.enqueue`."""
        call = _calls.enqueue(task_type, task_data, options, self._auto_key)
        # Only keyed requests may go on the stream: only they are safe to resend after it broke.
        if self._streamed is None or not call.retry_safe:
            return await self._invoke(call)
        return await self._enqueue_streamed(self._streamed, call)

    async def _enqueue_streamed(self, streamed: StreamedEnqueues, call: _calls.Call[str]) -> str:
        started = time.monotonic()
        try:
            async with asyncio.timeout(self._settings.deadline()):
                answer = await streamed.enqueue(call.request)
        except TimeoutError:
            raise DeadlineExceeded(DEADLINE_EXCEEDED, "Deadline Exceeded") from None
        except StreamBroken:
            # Maybe stored, maybe not: the idempotency key makes the resend safe either way.
            return await self._invoke(call, spent=time.monotonic() - started)
        if answer.HasField("error"):
            raise from_status(status_pb2.Status.FromString(answer.error.SerializeToString()))
        return call.convert(answer.enqueued)

    async def enqueue_many(self, tasks: Iterable[TaskSpec]) -> list[str]:
        """See `TaskQueueClient.enqueue_many`."""
        return await self._invoke(_calls.enqueue_many(tasks, self._auto_key))

    async def get_task(self, task_id: str) -> Task:
        """See `TaskQueueClient.get_task`."""
        return await self._invoke(_calls.get_task(task_id))

    async def get_result(self, task_id: str, wait: float | None = None) -> TaskResult:
        """See `TaskQueueClient.get_result`."""
        return await self._invoke(_calls.get_result(task_id, wait))

    # `timeout` keeps the sync client's signature; the server, not asyncio, does the waiting.
    async def wait(self, task_id: str, timeout: float | None = None) -> JsonObject:  # noqa: ASYNC109
        """See `TaskQueueClient.wait`."""
        waiter = _calls.Waiter(task_id, timeout)
        while (call := waiter.next_call()) is not None:
            result = waiter.settle(await self._invoke(call))
            if result is not None:
                return result
        raise waiter.timed_out()

    async def run(
        self,
        task_type: str,
        task_data: Mapping[str, Any] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the server does the waiting
        **options: Unpack[EnqueueOptions],
    ) -> JsonObject:
        """See `TaskQueueClient.run`."""
        runner = _calls.Runner(task_type, task_data, options, self._auto_key, timeout)
        while (call := runner.next_call()) is not None:
            result = runner.settle(await self._invoke(call))
            if result is not None:
                return result
        raise runner.timed_out()

    async def watch(
        self,
        task_id: str,
        timeout: float | None = None,  # noqa: ASYNC109 - a gRPC deadline
    ) -> AsyncIterator[Task]:
        """See `TaskQueueClient.watch`; an async iterator that resumes dropped streams too."""
        follow = WatchResume(task_id, timeout, self._settings.retry)
        while True:
            stream = self._stub.WatchTask(
                follow.request(), timeout=follow.stream_timeout(), metadata=self._settings.metadata
            )
            error = None
            try:
                async for response in stream:
                    if (task := follow.take(response)) is not None:
                        yield task
            except grpc.aio.AioRpcError as exc:
                error = from_rpc_error(exc)
                error.__cause__ = exc
            finally:
                stream.cancel()
            pause = follow.pause_before_resume(error)
            if pause is None:
                return
            await asyncio.sleep(pause)

    async def cancel(self, task_id: str) -> Task:
        """See `TaskQueueClient.cancel`."""
        return await self._invoke(_calls.cancel(task_id))

    async def retry(self, task_id: str) -> Task:
        """See `TaskQueueClient.retry`."""
        return await self._invoke(_calls.retry(task_id))

    async def list_tasks(
        self,
        queue: str | None = None,
        *,
        status: TaskStatus | str | None = None,
        task_type: str | None = None,
        page_size: int = 100,
    ) -> AsyncIterator[Task]:
        """See `TaskQueueClient.list_tasks`; an async iterator."""
        pager = _calls.Pager(queue, status, task_type, page_size)
        while (call := pager.next_call()) is not None:
            for task in pager.take(await self._invoke(call)):
                yield task

    async def stats(
        self, task_type: str | None = None, queue: str | None = None
    ) -> dict[str, TaskTypeStats]:
        """See `TaskQueueClient.stats`."""
        return await self._invoke(_calls.stats(task_type, queue))

    async def list_queues(self) -> list[QueueInfo]:
        """Every queue with its counts per type, pause state and oldest pending age (admin)."""
        return await self._invoke(_control_calls.list_queues())

    async def pause_queue(self, queue: str) -> QueueInfo:
        """Stop every server from starting the queue's tasks; it still accepts new ones."""
        return await self._invoke(_control_calls.pause_queue(queue))

    async def resume_queue(self, queue: str) -> QueueInfo:
        """Let servers start the queue's tasks again."""
        return await self._invoke(_control_calls.resume_queue(queue))

    async def purge_queue(self, queue: str, task_type: str | None = None) -> int:
        """Delete the queue's pending and scheduled tasks (of one type); how many went."""
        return await self._invoke(_control_calls.purge_queue(queue, task_type))

    async def change_priority(self, task_id: str, priority: int) -> Task:
        """Set the priority of a task that has not started; a pending one moves at once."""
        return await self._invoke(_control_calls.change_priority(task_id, priority))

    async def delete_task(self, task_id: str) -> TaskStatus:
        """Delete a task that is not running; returns the status it had."""
        return await self._invoke(_control_calls.delete_task(task_id))

    async def bulk_tasks(
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
        return await self._invoke(call)

    async def set_limits(self, limits: QueueLimits) -> QueueLimits:
        """See `TaskQueueClient.set_limits`."""
        return await self._invoke(_limit_calls.set_limits(limits))

    async def get_limits(self, queue: str = "", task_type: str = "") -> QueueLimits:
        """See `TaskQueueClient.get_limits`."""
        return await self._invoke(_limit_calls.get_limits(queue, task_type))

    async def set_queue_retry_policy(
        self, queue: str, policy: TaskRetryPolicy | None
    ) -> TaskRetryPolicy | None:
        """See `TaskQueueClient.set_queue_retry_policy`."""
        return await self._invoke(_limit_calls.set_queue_retry_policy(queue, policy))

    async def get_queue_retry_policy(self, queue: str = "") -> TaskRetryPolicy | None:
        """See `TaskQueueClient.get_queue_retry_policy`."""
        return await self._invoke(_limit_calls.get_queue_retry_policy(queue))
