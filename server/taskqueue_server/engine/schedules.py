"""Schedules on Redis: definitions, pause/resume, and firing due ticks exactly once.

A schedule lives in its queue's hash-tag slot (`<P>sch:<id>`, indexed by `<P>schdue` scored
by next run and `<P>schall` for listing), so the fire script stores the task in the same
slot. Its identity is (queue, id). Every server's scheduler duty calls `fire_due_schedules`;
the fire script only acts while the schedule still expects the tick the caller planned
from, so one server fires each tick and a tick stays due until some server does.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import orjson
from redis.asyncio import Redis

from .codec import pairs_to_dict, text
from .errors import EngineError, ErrorCode, Reason
from .events import EventFeed
from .ids import check_queue, new_task_ids
from .keys import QueueKeys, schedule_queues, schedules_changed
from .redis_errors import engine_errors_from_redis
from .schedule_models import (
    Firing,
    Schedule,
    ScheduleSpec,
    check_schedule_id,
    check_spec,
    plan_firing,
)
from .settings import EngineSettings

FIRE_BATCH = 100  # due schedules read per queue per pass
MAX_SLEEP_SECONDS = 60.0  # a changed schedule is announced; this bounds a missed announcement


class SchedulesMixin:
    """The schedule half of RedisEngine (engine.schedule_api.ScheduleEngine)."""

    redis: Redis
    settings: EngineSettings
    hub: EventFeed

    def keys(self, queue: str) -> QueueKeys:
        raise NotImplementedError

    def now_ms(self) -> int:
        raise NotImplementedError

    async def run(self, name: str, queue: str, keys: list[str], args: list[Any]) -> Any:
        raise NotImplementedError

    async def create_schedule(self, spec: ScheduleSpec) -> Schedule:
        return await self._save_schedule(check_spec(spec), "create")

    async def update_schedule(self, spec: ScheduleSpec) -> Schedule:
        return await self._save_schedule(check_spec(spec), "update")

    async def _save_schedule(self, spec: ScheduleSpec, mode: str) -> Schedule:
        keys = self.keys(spec.queue)
        now = self.now_ms()
        args = [now, spec.schedule_id, mode, orjson.dumps(spec.to_json()), spec.first_tick(now)]
        with engine_errors_from_redis():
            await self.redis.sadd(schedule_queues(self.settings.key_prefix), spec.queue)  # type: ignore[misc]
        flat = await self.run("schedule_save", spec.queue, _schedule_keys(keys, spec), args)
        await self._announce_schedules()
        return _decode(spec.schedule_id, spec.queue, flat)

    async def get_schedule(self, queue: str, schedule_id: str) -> Schedule:
        key = self.keys(check_queue(queue)).schedule(check_schedule_id(schedule_id))
        with engine_errors_from_redis():
            fields = await self.redis.hgetall(key)  # type: ignore[misc]
        if not fields:
            raise _not_found(queue, schedule_id)
        return _decode_fields(schedule_id, queue, fields)

    async def list_schedules(
        self, queue: str, page_size: int, page_token: str
    ) -> tuple[list[Schedule], str]:
        """Schedules of `queue` in id order; the token is the last id of the page before."""
        keys = self.keys(check_queue(queue))
        start = "(" + page_token if page_token else "-"
        with engine_errors_from_redis():
            ids = await self.redis.zrangebylex(keys.schedules_all, start, "+", 0, page_size + 1)
            async with self.redis.pipeline(transaction=False) as pipe:
                for raw in ids[:page_size]:
                    pipe.hgetall(keys.schedule(text(raw)))
                rows = await pipe.execute()
        found = [
            _decode_fields(text(raw), queue, fields)
            for raw, fields in zip(ids, rows, strict=False)
            if fields
        ]
        more = len(ids) > page_size
        return found, (text(ids[page_size - 1]) if more else "")

    async def delete_schedule(self, queue: str, schedule_id: str) -> None:
        keys = self.keys(check_queue(queue))
        check_schedule_id(schedule_id)
        delete_keys = [keys.schedule(schedule_id), keys.schedules_due, keys.schedules_all]
        await self.run("schedule_delete", queue, delete_keys, [schedule_id])

    async def pause_schedule(self, queue: str, schedule_id: str) -> Schedule:
        return await self._set_paused(queue, schedule_id, True)

    async def resume_schedule(self, queue: str, schedule_id: str) -> Schedule:
        return await self._set_paused(queue, schedule_id, False)

    async def _set_paused(self, queue: str, schedule_id: str, pause: bool) -> Schedule:
        current = await self.get_schedule(queue, schedule_id)
        now = self.now_ms()
        keys = self.keys(queue)
        args = [now, schedule_id, "1" if pause else "0", current.spec.first_tick(now)]
        schedule_keys = [keys.schedule(schedule_id), keys.schedules_due]
        flat = await self.run("schedule_pause", queue, schedule_keys, args)
        if not pause:
            await self._announce_schedules()
        return _decode(schedule_id, queue, flat)

    # --- the scheduler duty's side ---------------------------------------------
    async def fire_due_schedules(self) -> float:
        """Fire every due tick of every queue's schedules; seconds until the next is due."""
        with engine_errors_from_redis():
            members = await self.redis.smembers(schedule_queues(self.settings.key_prefix))  # type: ignore[misc]
        queues = sorted(text(q) for q in members)
        wait = MAX_SLEEP_SECONDS
        for queue in queues:
            wait = min(wait, await self._fire_queue(queue))
        return wait

    async def _fire_queue(self, queue: str) -> float:
        keys = self.keys(queue)
        while True:
            now = self.now_ms()
            with engine_errors_from_redis():
                due = await self.redis.zrangebyscore(keys.schedules_due, "-inf", now, 0, FIRE_BATCH)
            for raw in due:
                await self._fire_one(queue, text(raw))
            if len(due) < FIRE_BATCH:
                break
        with engine_errors_from_redis():
            head = await self.redis.zrange(keys.schedules_due, 0, 0, withscores=True)
        if not head:
            return MAX_SLEEP_SECONDS
        return max(0.0, (float(head[0][1]) - self.now_ms()) / 1000)

    async def _fire_one(self, queue: str, schedule_id: str) -> None:
        """Fire until the schedule's next run is in the future (or someone else moves it)."""
        while True:
            try:
                schedule = await self.get_schedule(queue, schedule_id)
            except EngineError as exc:
                if exc.code is ErrorCode.NOT_FOUND:
                    return
                raise
            now = self.now_ms()
            if schedule.paused or schedule.next_run_ms > now:
                return
            firing = plan_firing(schedule.spec, schedule.next_run_ms, now)
            if not await self._fire(schedule, firing, now):
                return  # another server moved it on; it reads the rest

    async def _fire(self, schedule: Schedule, firing: Firing, now: int) -> bool:
        spec, keys = schedule.spec, self.keys(schedule.spec.queue)
        task: bytes | str = ""
        data = b""
        if firing.run_tick_ms is not None:
            t = spec.template
            (task_id,) = new_task_ids(spec.queue, [""], now)
            task = orjson.dumps(
                {
                    "id": task_id,
                    "type": t.task_type,
                    "priority": t.priority,
                    "max_retries": t.max_retries,
                    "run_at": now,
                    "idem": f"schedule:{spec.schedule_id}@{firing.run_tick_ms}",
                    "deps": [],
                    "timeout": t.timeout_seconds,
                    "sched": spec.schedule_id,
                    "tick": firing.run_tick_ms,
                }
            )
            data = orjson.dumps(t.task_data)
        args = [
            now,
            spec.schedule_id,
            schedule.next_run_ms,
            schedule.version,
            firing.next_run_ms,
            firing.missed,
            self.settings.max_queue_length,
            task,
            data,
        ]
        fire_keys = [keys.seq, keys.schedule(spec.schedule_id), keys.schedules_due]
        reply = await self.run("schedule_fire", spec.queue, fire_keys, args)
        return int(reply[0]) == 1

    @contextlib.asynccontextmanager
    async def schedule_changes(self) -> AsyncIterator[Callable[[], Awaitable[None]]]:
        """A wait that ends when a schedule was created, changed or resumed on any server."""
        async with self.hub.subscribe(schedules_changed(self.settings.key_prefix)) as sub:

            async def changed() -> None:
                # A plain await, not an async generator: a timeout cancelling it must leave
                # the subscription usable for the next wait.
                await sub.queue.get()

            yield changed

    async def _announce_schedules(self) -> None:
        with engine_errors_from_redis():
            await self.hub.publish(schedules_changed(self.settings.key_prefix), b"1")


def _schedule_keys(keys: QueueKeys, spec: ScheduleSpec) -> list[str]:
    return [keys.schedule(spec.schedule_id), keys.schedules_due, keys.schedules_all]


def _not_found(queue: str, schedule_id: str) -> EngineError:
    return EngineError(
        ErrorCode.NOT_FOUND,
        f"schedule {schedule_id!r} not found in queue {queue!r}",
        Reason.SCHEDULE_NOT_FOUND,
    )


def _decode(schedule_id: str, queue: str, flat: list[Any]) -> Schedule:
    return _decode_fields(schedule_id, queue, pairs_to_dict(flat))


def _decode_fields(schedule_id: str, queue: str, fields: Mapping[Any, Any]) -> Schedule:
    h = {text(k): text(v) for k, v in fields.items()}
    paused = h.get("paused") == "1"
    return Schedule(
        spec=ScheduleSpec.from_json(schedule_id, queue, orjson.loads(h["spec"])),
        next_run_ms=0 if paused else int(h["next"]),
        last_run_ms=int(h.get("last", 0)),
        last_task_id=h.get("last_task", ""),
        missed_runs=int(h.get("missed", 0)),
        fired_runs=int(h.get("fired", 0)),
        paused=paused,
        created_at_ms=int(h.get("created", 0)),
        updated_at_ms=int(h.get("updated", 0)),
        version=int(h.get("version", 0)),
    )
