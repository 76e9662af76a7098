"""Per queue: promote due tasks and reclaim expired leases, sleeping until the next due time.

Every server runs this; the due script is safe to run concurrently. A newly scheduled task
is announced on the queue's timer channel, so the sleep ends early when something becomes
due sooner than planned; lease deadlines are not announced, so the sleep is capped
(EngineSettings.max_timer_sleep_seconds).

Announced due times are on the store's clock (Redis's, see engine/clock.py), never this
host's: the sleep itself is a relative timeout, and an announcement is compared with the
store's `now`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from ..engine.api import WorkerEngine
from ..engine.errors import EngineError

log = logging.getLogger(__name__)


async def run_timers(engine: WorkerEngine, queue: str, gate: asyncio.Semaphore) -> None:
    """`gate` is shared by the timers of every queue of a server: without it, 200 queues
    would each hold a Redis connection for their due call at the same moment."""
    while True:
        try:
            async with engine.schedule_signals(queue) as signals:
                await _tick_forever(engine, queue, signals, gate)
        except EngineError as exc:
            log.warning("timers for %s paused (%s); retrying", queue, exc.message)
            await asyncio.sleep(1.0)


async def _tick_forever(
    engine: WorkerEngine, queue: str, signals: AsyncIterator[float], gate: asyncio.Semaphore
) -> None:
    while True:
        async with gate:
            delay = await engine.run_due(queue)
        if delay > 0:
            await _sleep_until_due(signals, delay, engine.now_ms)


async def _sleep_until_due(
    signals: AsyncIterator[float], delay: float, now_ms: Callable[[], int]
) -> None:
    """Sleep `delay` seconds, or until a task is announced as due before they end."""
    wake_at = now_ms() / 1000 + delay
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(delay):
            async for due in signals:
                if due < wake_at:
                    return
