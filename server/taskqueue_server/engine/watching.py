"""Reading a task as it changes: WatchTask and GetResult's wait, on the shared event hub."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from redis.asyncio import Redis

from .codec import decode_task, text
from .errors import EngineError, ErrorCode, TaskNotFound
from .events import GAP, OVERFLOW, EventHub, Subscription
from .ids import queue_of
from .keys import QueueKeys
from .models import Status, TaskRecord, TaskResult
from .redis_errors import unavailable_on_redis_errors


class TaskWatcher:
    """Yields the snapshot, then each newer state, and stops after a terminal one."""

    def __init__(
        self, task_id: str, fields: dict[str, Any], sub: Subscription, reread: Callable[[], Any]
    ) -> None:
        self._task_id = task_id
        self._fields = fields
        self._sub = sub
        self._reread = reread

    def __aiter__(self) -> AsyncIterator[TaskRecord]:
        return self.until(None)

    async def until(self, deadline: float | None) -> AsyncIterator[TaskRecord]:
        """Like iterating, but ends quietly at `deadline` (event-loop time) if one is given."""
        record = decode_task(self._fields)
        yield record
        while not record.status.is_terminal:
            payload = await self._next_payload(deadline)
            if payload is None:
                return
            if payload == OVERFLOW:
                raise EngineError(
                    ErrorCode.RESOURCE_EXHAUSTED,
                    "watcher fell too far behind the task's changes; watch again to resume",
                )
            if payload == GAP:
                fresh = await self._reread()
                if not fresh:
                    raise TaskNotFound(self._task_id)
                self._fields = {text(k): v for k, v in fresh.items()}
            else:
                event = orjson.loads(payload)
                if int(event["version"]) <= int(self._fields.get("version") or 0):
                    continue
                self._fields.update(event)
            newer = decode_task(self._fields)
            if newer.version > record.version:
                record = newer
                yield record

    async def _next_payload(self, deadline: float | None) -> bytes | None:
        # The deadline covers only this wait, never a Redis command: cancelling a command
        # mid-flight is not reliably propagated by every redis-py release.
        if deadline is None:
            return await self._sub.queue.get()
        try:
            async with asyncio.timeout_at(deadline):
                return await self._sub.queue.get()
        except TimeoutError:
            return None


class WatchingMixin:
    redis: Redis
    hub: EventHub

    def keys(self, queue: str) -> QueueKeys:
        raise NotImplementedError

    @contextlib.asynccontextmanager
    async def watch(self, task_id: str) -> AsyncIterator[TaskWatcher]:
        keys = self.keys(queue_of(task_id))
        with unavailable_on_redis_errors():
            async with self.hub.subscribe(keys.task_events(task_id)) as sub:
                # Subscribed first, so nothing between this read and now is missed.
                fields = await self.redis.hgetall(keys.task(task_id))  # type: ignore[misc]
                if not fields:
                    raise TaskNotFound(task_id)
                reread = lambda: self.redis.hgetall(keys.task(task_id))  # noqa: E731
                yield TaskWatcher(task_id, {text(k): v for k, v in fields.items()}, sub, reread)

    async def get_result(self, task_id: str, wait_seconds: float = 0.0) -> TaskResult:
        deadline = asyncio.get_running_loop().time() + wait_seconds
        first = await self._read_result(task_id)
        if wait_seconds <= 0 or first.status.is_terminal:
            return first
        async with self.watch(task_id) as watcher:
            async for _ in watcher.until(deadline):
                pass
        return await self._read_result(task_id)

    async def _read_result(self, task_id: str) -> TaskResult:
        keys = self.keys(queue_of(task_id))
        with unavailable_on_redis_errors():
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hgetall(keys.task(task_id))
                pipe.get(keys.result(task_id))
                fields, result = await pipe.execute()
        if not fields:
            if result is None:
                raise TaskNotFound(task_id)
            # Metadata expired before the (longer-kept) result: it can only have completed.
            return TaskResult(task_id, Status.COMPLETED, orjson.loads(result), "")
        record = decode_task(fields)
        return TaskResult(
            task_id,
            record.status,
            orjson.loads(result) if result is not None else None,
            record.last_error,
        )
