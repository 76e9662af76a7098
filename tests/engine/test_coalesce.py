"""The Coalescer merges concurrent submissions into shared calls, one call under way at a
time (the store's enqueues and the worker pool's outcomes go through it)."""

from __future__ import annotations

import asyncio

import pytest
from taskqueue_server.engine.coalesce import Coalescer


class Gated:
    """A flush that records its batches and returns only when its gate opens."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.gates: list[asyncio.Event] = []
        self.started = asyncio.Event()

    async def __call__(self, items: list[str]) -> list[str]:
        gate = asyncio.Event()
        self.batches.append(items)
        self.gates.append(gate)
        self.started.set()
        await gate.wait()
        if "bad" in items:
            raise RuntimeError("Redis said no")
        return [item.upper() for item in items]

    async def flushes(self, count: int) -> None:
        while len(self.batches) < count:
            self.started.clear()
            await asyncio.wait_for(self.started.wait(), 5)


async def test_the_next_call_takes_everything_that_waited_for_the_one_in_flight() -> None:
    flush = Gated()
    coalescer = Coalescer(flush, max_items=10)
    calls = [asyncio.create_task(coalescer.submit("a"))]
    await flush.flushes(1)
    calls += [asyncio.create_task(coalescer.submit(x)) for x in "bc"]
    await asyncio.sleep(0)  # b and c have been submitted; no second call may start
    assert flush.batches == [["a"]] and coalescer.pending
    flush.gates[0].set()
    await flush.flushes(2)
    assert flush.batches[1] == ["b", "c"]
    flush.gates[1].set()
    assert await asyncio.gather(*calls) == ["A", "B", "C"]
    assert not coalescer.pending


async def test_a_failed_call_fails_its_own_items_and_the_next_call_goes_on() -> None:
    flush = Gated()
    coalescer = Coalescer(flush, max_items=10)
    bad = asyncio.create_task(coalescer.submit("bad"))
    await flush.flushes(1)
    good = asyncio.create_task(coalescer.submit("ok"))
    flush.gates[0].set()
    with pytest.raises(RuntimeError, match="Redis said no"):
        await bad
    await flush.flushes(2)
    flush.gates[1].set()
    assert await good == "OK"


async def test_a_call_that_took_everything_is_not_pending_to_whom_it_wakes() -> None:
    """The worker pool's fetch loop waits while outcomes are being recorded and is woken by
    the recording call itself; woken, it must not still see that call as pending, or it
    waits for a wake-up that never comes (a variant that tracked calls with a done-callback
    did, and a task stayed pending for good)."""
    woken = asyncio.Event()

    async def flush(items: list[str]) -> list[str]:
        woken.set()  # as WorkerPool._record sets _slot_freed before it returns
        return items

    coalescer = Coalescer(flush, max_items=10)

    async def fetch_loop() -> bool:
        await woken.wait()
        return coalescer.pending

    looking = asyncio.create_task(fetch_loop())
    await asyncio.sleep(0)
    assert await coalescer.submit("a") == "a"
    assert await looking is False
