"""The schedule-to-start deadline: a task not started by its expire_time ends without running."""

from __future__ import annotations

import pytest
from taskqueue_server.engine.errors import EngineError, ErrorCode
from taskqueue_server.engine.models import NewTask, Status
from taskqueue_server.engine.store import RedisEngine

from tests.conftest import FakeClock

EXPIRED = "expired before it started"


def deadline(clock: FakeClock, seconds: float) -> int:
    return int((clock.now + seconds) * 1000)


async def test_a_pending_task_past_its_deadline_is_never_claimed_and_ends_cancelled(
    engine: RedisEngine, clock: FakeClock
) -> None:
    [late] = await engine.enqueue([NewTask("t", {}, expire_at_ms=deadline(clock, 5))])
    [kept] = await engine.enqueue([NewTask("t", {}, expire_at_ms=deadline(clock, 60))])
    assert late.task.expire_at_ms == deadline(clock, 5)
    clock.advance(5)
    # The claim skips it even before the timers ran; the other task is claimed.
    claimed = await engine.claim("default", ["t"], 5, "w")
    assert [c.lease.task_id for c in claimed] == [kept.task.id]
    await engine.run_due("default")
    task = await engine.get_task(late.task.id)
    assert (task.status, task.last_error, task.finished_at_ms) == (
        Status.CANCELLED,
        EXPIRED,
        clock.now * 1000,
    )
    assert (await engine.stats())["t"].counts[Status.CANCELLED] == 1
    assert (await engine.get_task(kept.task.id)).status == Status.PROCESSING


async def test_the_timers_end_expired_tasks_so_they_leave_the_ready_index(
    engine: RedisEngine, clock: FakeClock
) -> None:
    [late] = await engine.enqueue([NewTask("t", {}, expire_at_ms=deadline(clock, 2))])
    [child] = await engine.enqueue([NewTask("c", {}, depends_on=(late.task.id,))])
    assert await engine.run_due("default") == pytest.approx(1.0)  # capped sleep
    clock.advance(2)
    await engine.run_due("default")
    assert await engine.redis.zcard(engine.keys("default").ready("t")) == 0
    assert (await engine.get_task(late.task.id)).status == Status.CANCELLED
    dependent = await engine.get_task(child.task.id)
    assert dependent.status == Status.CANCELLED
    assert dependent.last_error == f"dependency {late.task.id} did not complete"


async def test_a_scheduled_task_whose_deadline_comes_first_is_not_promoted(
    engine: RedisEngine, clock: FakeClock
) -> None:
    [task] = await engine.enqueue(
        [NewTask("t", {}, delay_seconds=3, expire_at_ms=deadline(clock, 4))]
    )
    clock.advance(10)  # the timers were late: both times have passed
    await engine.run_due("default")
    assert (await engine.get_task(task.task.id)).status == Status.CANCELLED
    assert await engine.claim("default", ["t"], 5, "w") == []


async def test_a_claimed_task_is_past_the_deadline_check(
    engine: RedisEngine, clock: FakeClock
) -> None:
    [task] = await engine.enqueue([NewTask("t", {}, expire_at_ms=deadline(clock, 2))])
    await engine.claim("default", ["t"], 5, "w")
    clock.advance(3)
    await engine.run_due("default")
    assert (await engine.get_task(task.task.id)).status == Status.PROCESSING


@pytest.mark.parametrize(("delay", "expire_in"), [(0, -1), (0, 0), (10, 5)])
async def test_a_deadline_before_the_task_may_run_is_refused_and_stores_nothing(
    engine: RedisEngine, clock: FakeClock, delay: float, expire_in: float
) -> None:
    with pytest.raises(EngineError) as caught:
        await engine.enqueue(
            [NewTask("t", {}, delay_seconds=delay, expire_at_ms=deadline(clock, expire_in))]
        )
    assert caught.value.code == ErrorCode.INVALID_ARGUMENT
    assert caught.value.field == "tasks[0].expire_time"
    assert (await engine.list_tasks("default")).tasks == []
