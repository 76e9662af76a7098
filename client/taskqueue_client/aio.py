"""The asyncio client: `async with AsyncTaskQueueClient("localhost:50051") as client`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping
from types import TracebackType
from typing import Any, TypeVar, Unpack

import grpc
import grpc.aio

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


class AsyncTaskQueueClient(ClientBase[grpc.aio.Channel]):
    """The asyncio twin of `TaskQueueClient`: the same methods, awaited.

    Create it inside a running event loop; see `ClientBase` for the constructor's arguments.
    """

    def _open(self, retries: bool) -> grpc.aio.Channel:
        return self._settings.open(grpc.aio.insecure_channel, grpc.aio.secure_channel, retries)

    async def _invoke(self, call: _calls.Call[Out]) -> Out:
        try:
            response = await self._method(call)(call.request, **self._call_options(call))
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc) from exc
        return call.convert(response)

    async def close(self) -> None:
        """Close the connection; calls in flight are cancelled."""
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
        return await self._invoke(_calls.enqueue(task_type, task_data, options, self._auto_key))

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
