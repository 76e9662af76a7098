"""The timers' sleep compares announced due times with the store's clock, not this host's."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from taskqueue_server.worker.timers import _sleep_until_due

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
