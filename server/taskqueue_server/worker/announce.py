"""Heartbeats of the in-process pool, so ListWorkers shows it beside remote workers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ..engine.api import WorkerEngine
from ..engine.errors import EngineError
from ..engine.models import WorkerInfo

log = logging.getLogger(__name__)


async def announce_forever(
    engine: WorkerEngine, describe: Callable[[], WorkerInfo], interval: float
) -> None:
    """Announce `describe()` now and every `interval` seconds (a third of the lease)."""
    while True:
        try:
            await engine.announce_worker(describe())
        except EngineError as exc:
            log.warning("worker heartbeat failed (%s); retrying", exc.message)
        await asyncio.sleep(interval)
