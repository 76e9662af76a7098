"""Schedules in the engine, on real Redis and fakeredis, with the fake clock moving time."""

from __future__ import annotations

import asyncio

import pytest
from taskqueue_server.engine.errors import EngineError, ErrorCode
from taskqueue_server.engine.schedule_models import (
    MissedRunPolicy,
    ScheduleSpec,
    TaskTemplate,
)
from taskqueue_server.engine.store import RedisEngine
from taskqueue_server.engine.ticks import MISFIRE_GRACE_MS

from tests.conftest import FakeClock

TEMPLATE = TaskTemplate("send_report", {"to": "ops"}, priority=5, max_retries=2)


def every(seconds: float, schedule_id: str = "report", **kwargs: object) -> ScheduleSpec:
    return ScheduleSpec(schedule_id, TEMPLATE, interval_ms=int(seconds * 1000), **kwargs)  # type: ignore[arg-type]


async def scheduled_tasks(engine: RedisEngine, queue: str = "default") -> list[tuple[str, int]]:
    page = await engine.list_tasks(queue, page_size=1000)
    return sorted((t.schedule_id, t.schedule_time_ms) for t in page.tasks)


async def test_each_tick_enqueues_one_task_that_names_its_schedule_and_tick(
    engine: RedisEngine, clock: FakeClock
) -> None:
    created = await engine.create_schedule(every(60))
    first = created.next_run_ms
    assert first == engine.now_ms() + 60_000
    assert await engine.fire_due_schedules() == pytest.approx(60.0)
    assert await scheduled_tasks(engine) == []

    clock.advance(60)
    await engine.fire_due_schedules()
    clock.advance(60)
    # Several passes at once (as several servers would): each tick still fires once.
    await asyncio.gather(*(engine.fire_due_schedules() for _ in range(5)))
    assert await scheduled_tasks(engine) == [("report", first), ("report", first + 60_000)]

    schedule = await engine.get_schedule("default", "report")
    assert (schedule.last_run_ms, schedule.next_run_ms) == (first + 60_000, first + 120_000)
    assert (schedule.fired_runs, schedule.missed_runs) == (2, 0)
    task = await engine.get_task(schedule.last_task_id)
    assert (task.task_type, task.task_data, task.priority, task.max_retries) == (
        "send_report", {"to": "ops"}, 5, 2,
    )
    assert task.idempotency_key == f"schedule:report@{first + 60_000}"


async def test_a_late_tick_within_the_grace_still_runs_each_tick(
    engine: RedisEngine, clock: FakeClock
) -> None:
    created = await engine.create_schedule(every(10))
    clock.advance(35)  # ticks at 10, 20 and 30 s are due, none later than the grace
    await engine.fire_due_schedules()
    ticks = [tick for _, tick in await scheduled_tasks(engine)]
    assert ticks == [created.next_run_ms + i * 10_000 for i in range(3)]


@pytest.mark.parametrize(
    ("policy", "runs", "missed"),
    [(MissedRunPolicy.SKIP, 0, 10), (MissedRunPolicy.CATCH_UP_ONCE, 1, 9)],
)
async def test_ticks_missed_while_every_server_was_down_follow_the_policy(
    engine: RedisEngine, clock: FakeClock, policy: MissedRunPolicy, runs: int, missed: int
) -> None:
    created = await engine.create_schedule(every(60, missed_run_policy=policy))
    # Down from just before the first tick until the 12th: the first 10 are more than the
    # grace late, the 11th exactly the grace (on time, as is the 12th).
    clock.advance(60 * 12)
    assert MISFIRE_GRACE_MS == 60_000
    await engine.fire_due_schedules()
    schedule = await engine.get_schedule("default", "report")
    tasks = await scheduled_tasks(engine)
    assert schedule.missed_runs == missed
    on_time = created.next_run_ms + 10 * 60_000
    assert tasks[-2:] == [("report", on_time), ("report", on_time + 60_000)]
    assert len(tasks) == runs + 2
    if runs:
        assert tasks[0] == ("report", on_time - 60_000)  # the latest missed tick, once
    assert schedule.next_run_ms == on_time + 120_000


async def test_pause_stops_firing_and_resume_starts_after_now_without_missed_runs(
    engine: RedisEngine, clock: FakeClock
) -> None:
    await engine.create_schedule(every(60))
    paused = await engine.pause_schedule("default", "report")
    assert paused.paused and paused.next_run_ms == 0
    clock.advance(600)
    await engine.fire_due_schedules()
    assert await scheduled_tasks(engine) == []
    resumed = await engine.resume_schedule("default", "report")
    assert not resumed.paused
    assert resumed.next_run_ms == engine.now_ms() + 60_000
    assert resumed.missed_runs == 0
    clock.advance(60)
    await engine.fire_due_schedules()
    assert len(await scheduled_tasks(engine)) == 1


async def test_update_replaces_the_definition_and_keeps_the_history(
    engine: RedisEngine, clock: FakeClock
) -> None:
    await engine.create_schedule(every(60))
    clock.advance(60)
    await engine.fire_due_schedules()
    updated = await engine.update_schedule(every(10))
    assert updated.spec.interval_ms == 10_000
    assert updated.fired_runs == 1
    assert updated.next_run_ms == engine.now_ms() + 10_000


async def test_delete_removes_the_schedule_and_keeps_its_tasks(
    engine: RedisEngine, clock: FakeClock
) -> None:
    await engine.create_schedule(every(60))
    clock.advance(60)
    await engine.fire_due_schedules()
    await engine.delete_schedule("default", "report")
    clock.advance(600)
    await engine.fire_due_schedules()
    assert len(await scheduled_tasks(engine)) == 1
    for call in (
        engine.get_schedule("default", "report"),
        engine.delete_schedule("default", "report"),
        engine.pause_schedule("default", "report"),
        engine.update_schedule(every(60)),
    ):
        with pytest.raises(EngineError) as refused:
            await call
        assert refused.value.code is ErrorCode.NOT_FOUND


async def test_list_pages_through_schedules_in_id_order(engine: RedisEngine) -> None:
    for name in ("c", "a", "b"):
        await engine.create_schedule(every(60, schedule_id=name))
    first, token = await engine.list_schedules("default", 2, "")
    second, last = await engine.list_schedules("default", 2, token)
    assert [s.spec.schedule_id for s in first + second] == ["a", "b", "c"]
    assert last == ""


async def test_an_id_is_created_once(engine: RedisEngine) -> None:
    await engine.create_schedule(every(60))
    with pytest.raises(EngineError) as refused:
        await engine.create_schedule(every(30))
    assert refused.value.code is ErrorCode.ALREADY_EXISTS
    assert (await engine.get_schedule("default", "report")).spec.interval_ms == 60_000


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (ScheduleSpec("x", TEMPLATE, cron="61 * * * *"), "cron"),
        (ScheduleSpec("x", TEMPLATE, cron="* * * *"), "cron"),
        (ScheduleSpec("x", TEMPLATE, cron="0 * * * *", time_zone="Mars/Olympus"), "time_zone"),
        (ScheduleSpec("x", TEMPLATE, interval_ms=-5), "interval"),
        (ScheduleSpec("x", TEMPLATE), "cron, interval"),
        (ScheduleSpec("x", TEMPLATE, cron="0 * * * *", interval_ms=5), "cron, interval"),
        (ScheduleSpec("no spaces", TEMPLATE, interval_ms=5), "schedule_id"),
    ],
)
async def test_bad_definitions_are_refused_naming_the_field_and_store_nothing(
    engine: RedisEngine, engine_settings: object, spec: ScheduleSpec, field: str
) -> None:
    with pytest.raises(EngineError) as refused:
        await engine.create_schedule(spec)
    assert refused.value.code is ErrorCode.INVALID_ARGUMENT
    assert refused.value.message.startswith(field + ":")
    assert [k async for k in engine.redis.scan_iter(match=engine.keys("default").base + "*")] == []
