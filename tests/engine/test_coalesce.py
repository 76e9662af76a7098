"""The Coalescer merges concurrent submissions into shared calls, with at most
`max_in_flight` calls under way at once (the worker pool records outcomes with two)."""

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


async def test_one_call_in_flight_takes_everything_that_waited() -> None:
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


async def test_two_calls_in_flight_overlap_and_the_rest_waits_for_either() -> None:
    flush = Gated()
    coalescer = Coalescer(flush, max_items=10, max_in_flight=2)
    first = asyncio.create_task(coalescer.submit("a"))
    await flush.flushes(1)
    second = asyncio.create_task(coalescer.submit("b"))
    await flush.flushes(2)  # under way while the first still is
    rest = [asyncio.create_task(coalescer.submit(x)) for x in "cd"]
    await asyncio.sleep(0)
    assert flush.batches == [["a"], ["b"]]
    flush.gates[1].set()  # the second ends first; its drain takes what waited
    assert await second == "B"
    await flush.flushes(3)
    assert flush.batches[2] == ["c", "d"]
    flush.gates[0].set()
    flush.gates[2].set()
    assert [await first, *await asyncio.gather(*rest)] == ["A", "C", "D"]
    assert not coalescer.pending


async def test_a_failed_call_fails_only_its_own_items() -> None:
    flush = Gated()
    coalescer = Coalescer(flush, max_items=10, max_in_flight=2)
    bad = asyncio.create_task(coalescer.submit("bad"))
    await flush.flushes(1)
    good = asyncio.create_task(coalescer.submit("ok"))
    await flush.flushes(2)
    for gate in flush.gates:
        gate.set()
    with pytest.raises(RuntimeError, match="Redis said no"):
        await bad
    assert await good == "OK"


@pytest.mark.parametrize("max_in_flight", [1, 2])
async def test_a_call_that_took_everything_is_not_pending_to_whom_it_wakes(
    max_in_flight: int,
) -> None:
    """The worker pool's fetch loop waits while outcomes are being recorded and is woken by
    the recording call itself; woken, it must not still see that call as pending, or it
    waits for a wake-up that never comes (a task then stayed pending for good)."""
    woken = asyncio.Event()

    async def flush(items: list[str]) -> list[str]:
        woken.set()  # as WorkerPool._record sets _slot_freed before it returns
        return items

    coalescer = Coalescer(flush, max_items=10, max_in_flight=max_in_flight)

    async def fetch_loop() -> bool:
        await woken.wait()
        return coalescer.pending

    looking = asyncio.create_task(fetch_loop())
    await asyncio.sleep(0)
    assert await coalescer.submit("a") == "a"
    assert await looking is False
