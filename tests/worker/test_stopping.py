"""A pool that stops while a claim of its own is in flight (an outcome call's, or the fetch
loop's) hands back what that claim returned:
no task it will never run stays leased to it until the lease runs out."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from taskqueue_server.engine.models import NewTask, Status
from taskqueue_server.engine.store import RedisEngine
from taskqueue_server.worker.context import TaskContext
from taskqueue_server.worker.loop import WorkerPool
from taskqueue_server.worker.registry import Registration

DEADLINE_S = 10.0


async def until(condition: Any, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + DEADLINE_S
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.01)


async def test_tasks_an_outcome_call_claims_for_a_stopping_pool_go_back(
    engine: RedisEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    first_may_end = asyncio.Event()
    in_flight, answer = asyncio.Event(), asyncio.Event()
    finish_and_claim = engine.finish_and_claim

    async def held(*args: Any, **kwargs: Any) -> Any:
        reply = await finish_and_claim(*args, **kwargs)
        in_flight.set()
        await answer.wait()  # the reply is on its way while the pool begins to stop
        return reply

    async def handler(task_data: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
        if task_data["n"] == 1:
            await first_may_end.wait()
        return {}

    monkeypatch.setattr(engine, "finish_and_claim", held)
    pool = WorkerPool(engine, {"t": Registration("t", handler, True)}, concurrency=1)
    await pool.start()
    stopping: asyncio.Task[None] | None = None
    try:
        [first] = await engine.enqueue([NewTask("t", {"n": 1})])

        async def running() -> bool:
            return (await engine.get_task(first.task.id)).status is Status.PROCESSING

        await until(running, "the first task never started")
        [second] = await engine.enqueue([NewTask("t", {"n": 2})])  # no free slot: it waits
        first_may_end.set()
        await asyncio.wait_for(in_flight.wait(), DEADLINE_S)  # it claimed the second task
        assert (await engine.get_task(second.task.id)).status is Status.PROCESSING
        stopping = asyncio.create_task(pool.stop(1.0))
        await asyncio.sleep(0)  # stop() has begun: it waits for the first task's handler job
        assert pool.offer("default", ["t"], 1) is None
        answer.set()
        await asyncio.wait_for(stopping, DEADLINE_S)
        assert (await engine.get_task(first.task.id)).status is Status.COMPLETED
        assert (await engine.get_task(second.task.id)).status is Status.PENDING
        assert await engine.redis.zscore(engine.keys("default").lease, second.task.id) is None
    finally:
        answer.set()
        first_may_end.set()
        if stopping is None:  # failed before the test stopped it
            await pool.stop(1.0)


async def test_tasks_the_fetch_loop_claims_for_a_stopping_pool_go_back(
    engine: RedisEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_flight, answer = asyncio.Event(), asyncio.Event()
    run = engine.run

    async def held(name: str, *args: Any, **kwargs: Any) -> Any:
        reply = await run(name, *args, **kwargs)
        if name == "claim" and reply:
            in_flight.set()
            await answer.wait()  # Redis has leased it; the reply is still on its way
        return reply

    async def handler(task_data: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
        return {}

    monkeypatch.setattr(engine, "run", held)
    pool = WorkerPool(engine, {"t": Registration("t", handler, True)}, concurrency=1)
    await pool.start()
    stopping: asyncio.Task[None] | None = None
    try:
        [task] = await engine.enqueue([NewTask("t", {})])
        await asyncio.wait_for(in_flight.wait(), DEADLINE_S)
        assert (await engine.get_task(task.task.id)).status is Status.PROCESSING
        stopping = asyncio.create_task(pool.stop(1.0))
        await asyncio.sleep(0)  # stop() has begun: it cancels the fetch loop mid-claim
        assert pool.offer("default", ["t"], 1) is None
        answer.set()
        await asyncio.wait_for(stopping, DEADLINE_S)
        assert (await engine.get_task(task.task.id)).status is Status.PENDING
        assert await engine.redis.zscore(engine.keys("default").lease, task.task.id) is None
    finally:
        answer.set()
        if stopping is None:  # failed before the test stopped it
            await pool.stop(1.0)
