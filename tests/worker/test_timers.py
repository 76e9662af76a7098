"""The timers' sleep compares announced due times with the store's clock, not this host's."""

from __future__ import annotations

import asyncio

import pytest
from taskqueue_server.worker.timers import _sleep_until_due

STORE_NOW_MS = 1_000_000  # the store's clock, decades away from this host's


def store_now() -> int:
    return STORE_NOW_MS


async def test_a_task_due_sooner_than_planned_ends_the_sleep() -> None:
    signals: asyncio.Queue[bytes] = asyncio.Queue()
    sleeper = asyncio.create_task(_sleep_until_due(signals, 30.0, store_now))
    signals.put_nowait(str(STORE_NOW_MS + 500).encode())
    await asyncio.wait_for(sleeper, 5)


async def test_a_task_due_after_the_planned_wake_does_not() -> None:
    signals: asyncio.Queue[bytes] = asyncio.Queue()
    sleeper = asyncio.create_task(_sleep_until_due(signals, 30.0, store_now))
    signals.put_nowait(str(STORE_NOW_MS + 60_000).encode())
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncio.shield(sleeper), 0.3)
    assert signals.empty(), "the announcement was read and judged"
    sleeper.cancel()
