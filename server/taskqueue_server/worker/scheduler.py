"""The scheduler duty: fire due schedule ticks, sleeping until the earliest next run.

Every server runs one; the fire script lets exactly one of them enqueue each tick, and a
tick stays due until one does, so any server may die at any point. A created, changed or
resumed schedule is announced, which ends the sleep early; the sleep is capped
(engine.schedules.MAX_SLEEP_SECONDS) in case an announcement was missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from ..engine.errors import EngineError
from ..engine.schedule_api import ScheduleEngine

log = logging.getLogger(__name__)
_RETRY_SECONDS = 1.0


async def run_scheduler(engine: ScheduleEngine) -> None:
    while True:
        try:
            async with engine.schedule_changes() as changed:
                while True:
                    delay = await engine.fire_due_schedules()
                    await _sleep_until_change(changed, delay)
        except EngineError as exc:
            log.warning("scheduler paused (%s); retrying", exc.message)
            await asyncio.sleep(_RETRY_SECONDS)
        except Exception:
            # A bug must not end the duty for good: the ticks would wait for another server.
            log.exception("scheduler failed; retrying in %.0f s", _RETRY_SECONDS)
            await asyncio.sleep(_RETRY_SECONDS)


async def _sleep_until_change(changed: Callable[[], Awaitable[None]], delay: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(delay):
            await changed()
