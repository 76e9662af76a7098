"""The timers' sleep compares announced due times with the store's clock, not this host's."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from taskqueue_server.engine.store import RedisEngine
from taskqueue_server.worker.timers import _sleep_until_due, run_timers

STORE_NOW_MS = 1_000_000  # the store's clock, decades away from this host's


def store_now() -> int:
    return STORE_NOW_MS


async def announced(*due: float) -> AsyncIterator[float]:
    """Announcements (epoch seconds on the store's clock), then silence."""
    for seconds in due:
        yield seconds
    await asyncio.Event().wait()


async def test_a_task_due_sooner_than_planned_ends_the_sleep() -> None:
    signals = announced(STORE_NOW_MS / 1000 + 0.5)
    await asyncio.wait_for(_sleep_until_due(signals, 30.0, store_now), 5)


async def test_a_task_due_after_the_planned_wake_does_not() -> None:
    signals = announced(STORE_NOW_MS / 1000 + 60)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(_sleep_until_due(signals, 30.0, store_now), 0.5)


async def test_the_timers_keep_sleeping_after_a_quiet_interval(engine: RedisEngine) -> None:
    """A sleep that ends by timeout must not spoil the next: the signal stream outlives the
    cancelled wait (an async generator would be closed by it, and every later sleep would end
    at once, calling the due script in a tight loop)."""
    calls = 0
    run_due = engine.run_due

    async def counted(queue: str) -> float:
        nonlocal calls
        calls += 1
        await run_due(queue)
        return 0.05  # nothing due: sleep 50 ms, as an idle queue's timer would

    engine.run_due = counted  # type: ignore[method-assign]
    timers = asyncio.create_task(run_timers(engine, "default", asyncio.Semaphore(1)))
    try:
        await asyncio.sleep(1.0)  # the window in which calls are counted, not a wait for them
    finally:
        timers.cancel()
    # 1 s of 50 ms sleeps is about 20 calls; a spinning loop makes thousands.
    assert 5 <= calls <= 40, calls
