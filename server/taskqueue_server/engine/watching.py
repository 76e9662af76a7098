"""Reading a task as it changes: WatchTask and GetResult's wait, on the shared event hub."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from redis.asyncio import Redis

from .codec import decode_task, text
from .errors import EngineError, ErrorCode, Reason, TaskNotFound
from .events import GAP, OVERFLOW, EventFeed, Subscription
from .ids import queue_of
from .keys import QueueKeys
from .models import Status, TaskRecord, TaskResult
from .redis_errors import engine_errors_from_redis

# A task as read from Redis: its hash with str keys, and its data (JSON text).
RawTask = tuple[dict[str, Any], bytes | None]


class TaskWatcher:
    """Yields the snapshot, then each newer state, and stops after a terminal one."""

    def __init__(
        self,
        task_id: str,
        snapshot: RawTask,
        sub: Subscription,
        reread: Callable[[], Awaitable[RawTask]],
    ) -> None:
        self._task_id = task_id
        self._fields, self._data = snapshot
        self._sub = sub
        self._reread = reread

    def _decode(self) -> TaskRecord:
        return decode_task(self._task_id, self._fields, self._data)

    def __aiter__(self) -> AsyncIterator[TaskRecord]:
        return self.until(None)

    async def until(self, deadline: float | None) -> AsyncIterator[TaskRecord]:
        """Like iterating, but ends quietly at `deadline` (event-loop time) if one is given."""
        record = self._decode()
        yield record
        while not record.status.is_terminal:
            payload = await next_payload(self._sub, deadline)
            if payload is None:
                return
            if payload == OVERFLOW:
                raise EngineError(
                    ErrorCode.RESOURCE_EXHAUSTED,
                    "watcher fell too far behind the task's changes; watch again to resume",
                    Reason.WATCHER_TOO_SLOW,
                )
            if payload == GAP:
                self._fields, self._data = await self._reread()
                if not self._fields:
                    raise TaskNotFound(self._task_id)
            else:
                event = orjson.loads(payload)
                if int(event["version"]) <= int(self._fields.get("version") or 0):
                    continue
                self._fields.update(event)
            newer = self._decode()
            if newer.version > record.version:
                record = newer
                yield record


async def next_payload(sub: Subscription, deadline: float | None) -> bytes | None:
    """The next event, or None once `deadline` (event-loop time) passes."""
    # The deadline covers only this wait, never a Redis command: cancelling a command
    # mid-flight is not reliably propagated by every redis-py release.
    if deadline is None:
        return await sub.queue.get()
    try:
        async with asyncio.timeout_at(deadline):
            return await sub.queue.get()
    except TimeoutError:
        return None


class WatchingMixin:
    redis: Redis
    hub: EventFeed

    def keys(self, queue: str) -> QueueKeys:
        raise NotImplementedError

    @contextlib.asynccontextmanager
    async def watch(self, task_id: str) -> AsyncIterator[TaskWatcher]:
        keys = self.keys(queue_of(task_id))
        with engine_errors_from_redis():
            async with self.hub.subscribe(keys.task_events(task_id)) as sub:
                # Subscribed first, so nothing between this read and now is missed.
                snapshot = await self.read_raw(task_id)
                if not snapshot[0]:
                    raise TaskNotFound(task_id)
                yield TaskWatcher(task_id, snapshot, sub, lambda: self.read_raw(task_id))

    async def read_raw(self, task_id: str) -> RawTask:
        """A task's hash (str keys; empty when unknown) and its data, in one round trip."""
        keys = self.keys(queue_of(task_id))
        with engine_errors_from_redis():
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hgetall(keys.task(task_id))
                pipe.get(keys.data(task_id))
                fields, data = await pipe.execute()
        return {text(k): v for k, v in fields.items()}, data

    async def get_result(self, task_id: str, wait_seconds: float = 0.0) -> TaskResult:
        if wait_seconds <= 0:
            return await self._read_result(task_id)
        deadline = asyncio.get_running_loop().time() + wait_seconds
        channel = self.keys(queue_of(task_id)).task_events(task_id)
        with engine_errors_from_redis():
            async with self.hub.subscribe(channel) as sub:
                # Subscribed first, so the outcome cannot slip between this read and the wait.
                current = await self._read_result(task_id)
                while not current.status.is_terminal:
                    payload = await next_payload(sub, deadline)
                    if payload is None:
                        return current  # still unfinished; the caller may ask again
                    if payload in (GAP, OVERFLOW):
                        # Events were lost: read again. A flooded subscription stays
                        # flooded, so after OVERFLOW answer with what the read says.
                        current = await self._read_result(task_id)
                        if payload == OVERFLOW:
                            return current
                        continue
                    outcome = outcome_of(task_id, orjson.loads(payload))
                    if outcome is not None:
                        return outcome
        return current

    async def _read_result(self, task_id: str) -> TaskResult:
        keys = self.keys(queue_of(task_id))
        with engine_errors_from_redis():
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hmget(keys.task(task_id), ["status", "error", "result"])
                pipe.get(keys.result(task_id))
                (status, error, inline), result = await pipe.execute()
        # A small result is a hash field (scripts/_lib.lua, INLINE_MAX), a large one a key.
        result = inline if inline is not None else result
        if status is None:
            if result is None:
                raise TaskNotFound(task_id)
            # Metadata expired before the (longer-kept) result: it can only have completed.
            return TaskResult(task_id, Status.COMPLETED, orjson.loads(result), "")
        return TaskResult(
            task_id,
            Status(text(status)),
            orjson.loads(result) if result is not None else None,
            text(error or b""),
        )


def outcome_of(task_id: str, event: dict[str, Any]) -> TaskResult | None:
    """A terminal event carries everything GetResult answers (the result travels with it)."""
    status = event.get("status")
    if status is None or not Status(status).is_terminal:
        return None
    result = event.get("result")
    return TaskResult(
        task_id, Status(status), orjson.loads(result) if result else None, event.get("error", "")
    )
