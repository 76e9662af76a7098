"""Per queue: promote due tasks and reclaim expired leases, sleeping until the next due time.

Every server runs this; the due script is safe to run concurrently. A newly scheduled task
is announced on the queue's timer channel, so the sleep ends early when something becomes
due sooner than planned; lease deadlines are not announced, so the sleep is capped
(EngineSettings.max_timer_sleep_seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

from ..engine.api import WorkerEngine
from ..engine.errors import EngineError

log = logging.getLogger(__name__)


async def run_timers(engine: WorkerEngine, queue: str) -> None:
    while True:
        try:
            async with engine.schedule_signals(queue) as signals:
                await _tick_forever(engine, queue, signals)
        except EngineError as exc:
            log.warning("timers for %s paused (%s); retrying", queue, exc.message)
            await asyncio.sleep(1.0)


async def _tick_forever(engine: WorkerEngine, queue: str, signals: AsyncIterator[float]) -> None:
    while True:
        delay = await engine.run_due(queue)
        if delay > 0:
            await _sleep_until_due(signals, time.time() + delay)


async def _sleep_until_due(signals: AsyncIterator[float], wake_at: float) -> None:
    """Sleep until `wake_at`, or until a task is announced as due before it."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(max(0.0, wake_at - time.time())):
            async for due in signals:
                if due < wake_at:
                    return
