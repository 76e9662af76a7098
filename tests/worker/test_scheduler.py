"""The scheduler duty: sleeps until the next run, wakes when a schedule changes, never spins."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from taskqueue_server.engine.schedule_models import ScheduleSpec, TaskTemplate
from taskqueue_server.engine.store import RedisEngine
from taskqueue_server.worker.scheduler import run_scheduler

from tests.conftest import FakeClock


def every(seconds: float, schedule_id: str) -> ScheduleSpec:
    return ScheduleSpec(schedule_id, TaskTemplate("echo"), interval_ms=int(seconds * 1000))


@contextlib.asynccontextmanager
async def duty(engine: RedisEngine) -> AsyncIterator[list[int]]:
    """The duty running on `engine`; yields a one-item list counting its passes."""
    passes = [0]
    fire = engine.fire_due_schedules

    async def counted() -> float:
        passes[0] += 1
        return await fire()

    engine.fire_due_schedules = counted  # type: ignore[method-assign]
    task = asyncio.create_task(run_scheduler(engine))
    try:
        yield passes
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def wait_for_passes(passes: list[int], count: int) -> None:
    async with asyncio.timeout(10):
        while passes[0] < count:
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("engine", ["redis"], indirect=True)
async def test_the_duty_sleeps_until_the_next_run_instead_of_polling(engine: RedisEngine) -> None:
    # The fake clock stands still: the 0.3 s tick never comes due, so each pass must be
    # followed by a 0.3 s sleep (a spinning duty would make thousands of passes).
    await engine.create_schedule(every(0.3, "soon"))
    async with duty(engine) as passes:
        await asyncio.sleep(1.5)
    assert 3 <= passes[0] <= 7


@pytest.mark.parametrize("engine", ["redis"], indirect=True)
async def test_a_changed_schedule_wakes_the_duty_early(
    engine: RedisEngine, clock: FakeClock
) -> None:
    await engine.create_schedule(every(600, "hourly"))
    async with duty(engine) as passes:
        await wait_for_passes(passes, 1)  # now asleep for 600 s
        clock.advance(600)
        await engine.create_schedule(every(600, "other"))  # announced: every duty wakes
        async with asyncio.timeout(10):  # far less than the 60 s the duty would sleep
            while not (page := await engine.list_tasks("default")).tasks:
                await asyncio.sleep(0.05)
    assert [t.schedule_id for t in page.tasks] == ["hourly"]


@pytest.mark.parametrize("engine", ["embedded"], indirect=True)
async def test_the_duty_outlives_an_unexpected_error(engine: RedisEngine, clock: FakeClock) -> None:
    await engine.create_schedule(every(60, "minutely"))
    clock.advance(60)
    fire = engine.fire_due_schedules
    failures = [RuntimeError("a bug")]

    async def fails_once() -> float:
        if failures:
            raise failures.pop()
        return await fire()

    engine.fire_due_schedules = fails_once  # type: ignore[method-assign]
    async with duty(engine), asyncio.timeout(10):
        while not (await engine.list_tasks("default")).tasks:
            await asyncio.sleep(0.05)
    assert not failures
