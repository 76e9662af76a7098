"""Rate limits (a token bucket on the store's clock), concurrency limits and fair turns
between concurrency keys, as claim_tasks enforces them."""

from __future__ import annotations

import pytest
from taskqueue_server.engine.errors import EngineError, ErrorCode
from taskqueue_server.engine.models import Limits, NewTask, Outcome, Status
from taskqueue_server.engine.store import RedisEngine

from tests.conftest import FakeClock


async def _claim_ids(
    engine: RedisEngine, count: int = 100, types: tuple[str, ...] = ("a",)
) -> list[str]:
    return [c.lease.task_id for c in await engine.claim("default", list(types), count, "w")]


async def test_a_rate_limit_starts_the_burst_then_one_task_per_token(
    engine: RedisEngine, clock: FakeClock
) -> None:
    ids = [o.task.id for o in await engine.enqueue([NewTask("a", {"n": n}) for n in range(20)])]
    await engine.set_limits(Limits("default", "a", rate_per_second=2, burst=3))
    assert await _claim_ids(engine) == ids[:3]
    assert await _claim_ids(engine) == []
    clock.advance(0.49)
    assert await _claim_ids(engine) == []
    clock.advance(0.01)
    assert await _claim_ids(engine) == ids[3:4]
    clock.advance(10)  # the bucket refills up to the burst, no further
    assert await _claim_ids(engine) == ids[4:7]
    # Over the limit means still pending, in order: nothing failed or skipped.
    assert (await engine.get_task(ids[7])).status == "pending"


async def test_the_queue_rate_limit_covers_every_type(
    engine: RedisEngine, clock: FakeClock
) -> None:
    await engine.enqueue([NewTask(t, {}) for t in "abab"])
    await engine.set_limits(Limits("default", rate_per_second=1, burst=1))
    assert len(await _claim_ids(engine, types=("a", "b"))) == 1
    clock.advance(1)
    assert len(await _claim_ids(engine, types=("a", "b"))) == 1


async def test_an_empty_bucket_schedules_a_wake_up_for_the_next_token(
    engine: RedisEngine, clock: FakeClock
) -> None:
    await engine.enqueue([NewTask("a", {}) for _ in range(3)])
    await engine.set_limits(Limits("default", "a", rate_per_second=4, burst=1))
    assert await engine.poll_for_work(["default"], ["a"]) == ["default"]  # the enqueue's
    await _claim_ids(engine)
    # No wake-up is passed on while the bucket is empty (a worker would spin on it) ...
    assert await engine.poll_for_work(["default"], ["a"]) == []
    # ... the timers hand one out when the next token is due, in 250 ms.
    assert await engine.run_due("default") == pytest.approx(0.25)
    clock.advance(0.25)
    await engine.run_due("default")
    assert await engine.poll_for_work(["default"], ["a"]) == ["default"]


async def test_a_concurrency_limit_counts_every_way_a_task_stops_running(
    engine: RedisEngine, clock: FakeClock
) -> None:
    await engine.enqueue([NewTask("a", {}) for _ in range(10)])
    await engine.set_limits(Limits("default", "a", max_running=2))
    first = await engine.claim("default", ["a"], 10, "w")
    assert len(first) == 2 and await _claim_ids(engine) == []
    await engine.finish([Outcome(first[0].lease, result_json="{}")])
    [third] = await engine.claim("default", ["a"], 10, "w")
    await engine.release([third.lease])
    [fourth] = await engine.claim("default", ["a"], 10, "w")
    await engine.cancel(fourth.lease.task_id)
    [fifth] = await engine.claim("default", ["a"], 10, "w")
    assert await _claim_ids(engine) == []
    clock.advance(11)  # both leases expire: the timers hand the tasks back
    await engine.run_due("default")
    assert len(await engine.claim("default", ["a"], 10, "w")) == 2
    assert (await engine.stats("default"))["a"].counts[Status.PROCESSING] == 2
    assert (await engine.get_task(fifth.lease.task_id)).status == "processing"


async def test_keys_take_turns_so_a_big_backlog_cannot_starve_a_small_one(
    engine: RedisEngine,
) -> None:
    big = [NewTask("a", {"n": n}, concurrency_key="big") for n in range(50)]
    small = [NewTask("a", {"n": n}, concurrency_key="small") for n in range(3)]
    await engine.enqueue(big)
    await engine.enqueue(small)
    order = []
    for _ in range(8):
        [task] = await engine.claim("default", ["a"], 1, "w")
        record = await engine.get_task(task.lease.task_id)
        order.append((task.task_data["n"], record.concurrency_key))
    assert order[:6] == [
        (0, "big"),
        (0, "small"),
        (1, "big"),
        (1, "small"),
        (2, "big"),
        (2, "small"),
    ]
    assert order[6:] == [(3, "big"), (4, "big")]


async def test_a_per_key_limit_holds_and_frees_the_key_as_its_tasks_end(
    engine: RedisEngine,
) -> None:
    await engine.set_limits(Limits("default", "a", max_running_per_key=1))
    await engine.enqueue([NewTask("a", {"k": k}, concurrency_key=k) for k in "xxxy"])
    running = {c.task_data["k"]: c for c in await engine.claim("default", ["a"], 10, "w")}
    assert sorted(running) == ["x", "y"]
    assert await _claim_ids(engine) == []
    await engine.finish([Outcome(running["x"].lease, result_json="{}")])
    [next_x] = await engine.claim("default", ["a"], 10, "w")
    assert next_x.task_data == {"k": "x"}


@pytest.mark.parametrize(
    ("limits", "field"),
    [
        (Limits("default", "a", rate_per_second=-1, burst=1), "rate_per_second"),
        (Limits("default", "a", rate_per_second=1, burst=0), "burst"),
        (Limits("default", "a", rate_per_second=1), "burst"),
        (Limits("default", "a", max_running=0), "max_running"),
        (Limits("default", "a", max_running_per_key=0), "max_running_per_key"),
    ],
)
async def test_impossible_limits_are_refused_naming_the_field(
    engine: RedisEngine, limits: Limits, field: str
) -> None:
    with pytest.raises(EngineError) as refused:
        await engine.set_limits(limits)
    assert refused.value.code is ErrorCode.INVALID_ARGUMENT and refused.value.field == field
    assert await engine.get_limits("default", "a") == Limits("default", "a")


async def test_limits_read_back_as_set_and_clear_when_left_out(engine: RedisEngine) -> None:
    limits = Limits("default", "a", rate_per_second=2.5, burst=4, max_running=3)
    await engine.set_limits(limits)
    assert await engine.get_limits("default", "a") == limits
    await engine.set_limits(Limits("default", "a"))
    assert await engine.get_limits("default", "a") == Limits("default", "a")


async def test_bounds_running_sees_running_limits_of_any_type_and_nothing_else(
    engine: RedisEngine,
) -> None:
    # What the worker pool reads before claiming ahead (worker/loop.py).
    assert not await engine.bounds_running("default")
    await engine.set_limits(Limits("default", "a", rate_per_second=5, burst=5))
    assert not await engine.bounds_running("default")
    await engine.set_limits(Limits("default", "b", max_running_per_key=1))
    assert await engine.bounds_running("default")
    await engine.set_limits(Limits("default", "b"))
    assert not await engine.bounds_running("default")
    await engine.set_limits(Limits("default", "c", max_running=4))
    assert await engine.bounds_running("default")
    assert not await engine.bounds_running("other")
