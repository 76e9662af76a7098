"""Operators' controls: pause and resume, queue overviews, purge, priority, delete.

Pause state lives in Redis (`QueueKeys.paused`) and the claim script reads it, so every
server sees a pause with its next claim and it survives restarts. Work that may touch many
tasks (purge) runs as many short script calls of `CHUNK` index entries each.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from .codec import decode_reply, text
from .errors import EngineError, ErrorCode
from .ids import check_queue, check_task_type, queue_of
from .keys import QueueKeys
from .listing import _fields as counter_fields
from .models import MAX_PRIORITY, MIN_PRIORITY, QueueOverview, Status, TaskRecord, Total, TypeStats
from .redis_errors import engine_errors_from_redis
from .settings import EngineSettings

# Index entries one script call looks at: deleting this many kept Redis busy 17.5 ms per
# call on average on a heavily loaded 2-core machine (bench/controls_bench.py), so other
# clients wait about that long at most behind a purge of any size.
CHUNK = 200
# What a purge removes: tasks that have not started and are not waiting on others.
PURGED = (Status.PENDING, Status.SCHEDULED)
# A task id is "<queue>-" then 12 hex digits of its creation time in ms (see ids.py).
_STAMP_DIGITS = 12


class ControlMixin:
    redis: Redis
    settings: EngineSettings

    def keys(self, queue: str) -> QueueKeys:
        raise NotImplementedError

    def now_ms(self) -> int:
        raise NotImplementedError

    async def run(self, name: str, queue: str, keys: list[str], args: list[Any]) -> Any:
        raise NotImplementedError

    async def queues(self) -> list[str]:
        raise NotImplementedError

    async def _register_queue(self, queue: str) -> None:
        raise NotImplementedError

    async def pause_queue(self, queue: str) -> bool:
        await self._register_queue(check_queue(queue))
        return await self._set_queue_paused(queue, True)

    async def resume_queue(self, queue: str) -> bool:
        return await self._set_queue_paused(check_queue(queue), False)

    async def _set_queue_paused(self, queue: str, paused: bool) -> bool:
        args = [self.now_ms(), "1" if paused else "0"]
        return int(await self.run("pause", queue, [self.keys(queue).paused], args)) == 1

    async def list_queues(self) -> list[QueueOverview]:
        return await self._overviews(await self.queues())

    async def queue_overview(self, queue: str) -> QueueOverview:
        [overview] = await self._overviews([check_queue(queue)])
        return overview

    async def _overviews(self, queues: list[str]) -> list[QueueOverview]:
        """Four O(log n) reads per queue, every queue in one pipelined round trip."""
        with engine_errors_from_redis():
            async with self.redis.pipeline(transaction=False) as pipe:
                for queue in queues:
                    keys = self.keys(queue)
                    pipe.hgetall(keys.counts)
                    pipe.hgetall(keys.totals)
                    pipe.exists(keys.paused)
                    pipe.zrangebylex(keys.by_status(Status.PENDING.value), "-", "+", 0, 1)
                replies = await pipe.execute()
        now = self.now_ms()
        return [
            _overview(queue, now, *replies[4 * i : 4 * i + 4]) for i, queue in enumerate(queues)
        ]

    async def purge_queue(self, queue: str, task_type: str = "") -> int:
        check_queue(queue)
        if task_type:
            check_task_type(task_type)
        purged = 0
        for status in PURGED:
            after = ""
            while True:
                matched, after = await self._bulk_chunk(queue, "delete", status, task_type, after)
                purged += matched
                if not after:
                    break
        return purged

    async def _bulk_chunk(
        self, queue: str, action: str, status: Status, task_type: str, after: str
    ) -> tuple[int, str]:
        low = f"({after}" if after else "-"
        args = [self.now_ms(), self.settings.task_ttl_seconds, action, status.value, task_type]
        args += ["", "", low, "+", CHUNK, -1]
        matched, last = await self.run("bulk", queue, [self.keys(queue).seq], args)
        return int(matched), text(last)

    async def change_priority(self, task_id: str, priority: int) -> TaskRecord:
        queue = queue_of(task_id)
        if not MIN_PRIORITY <= priority <= MAX_PRIORITY:
            raise EngineError(
                ErrorCode.INVALID_ARGUMENT,
                f"priority: {priority} is out of range; use {MIN_PRIORITY} to {MAX_PRIORITY}",
                field="priority",
            )
        args = [self.now_ms(), task_id, priority]
        return decode_reply(
            task_id, await self.run("priority", queue, [self.keys(queue).seq], args)
        )

    async def delete_task(self, task_id: str) -> Status:
        queue = queue_of(task_id)
        args = [self.now_ms(), self.settings.task_ttl_seconds, task_id]
        return Status(text(await self.run("delete", queue, [self.keys(queue).seq], args)))


def _overview(
    queue: str,
    now_ms: int,
    counts: dict[bytes, bytes],
    totals: dict[bytes, bytes],
    paused: int,
    oldest: list[bytes],
) -> QueueOverview:
    per_type: dict[str, TypeStats] = {}
    for task_type, status, value in counter_fields(counts, ""):
        per_type.setdefault(task_type, TypeStats()).counts[Status(status)] = value
    for task_type, total, value in counter_fields(totals, ""):
        per_type.setdefault(task_type, TypeStats()).totals[Total(total)] = value
    age = 0
    if oldest:
        stamp = text(oldest[0])[len(queue) + 1 :][:_STAMP_DIGITS]
        age = max(0, now_ms - int(stamp, 16))
    return QueueOverview(queue, bool(paused), per_type, age)
