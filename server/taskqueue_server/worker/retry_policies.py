"""Which retry policy a failed attempt follows: the task's own, over its queue's default,
over the server's flags, field by field (docs/workflows.md, "Per-queue default").

The one place both kinds of worker get it: the in-process pool (loop.py) and the
WorkerService's FailTask/FinishTasks for remote workers. A queue's default lives in Redis
(engine/queue_retry.py); each process keeps what it read for CACHE_SECONDS, so a change made
through another server process is followed within that time, and at once through this one
(forget).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ..engine.api import QueueRetryDefaults
from ..engine.errors import EngineError
from ..engine.settings import RetryOverride, RetryPolicy

log = logging.getLogger(__name__)

CACHE_SECONDS = 1.0


class RetryPolicies:
    """The server's flags and the queue defaults this process last read."""

    def __init__(
        self,
        engine: Callable[[], QueueRetryDefaults],
        flags: RetryPolicy,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine  # read per call: the engine may attach after start
        self.flags = flags
        self._clock = clock
        self._read: dict[str, tuple[float, RetryOverride | None]] = {}

    async def for_task(self, queue: str, own: RetryOverride | None) -> RetryPolicy:
        """The policy a failed attempt of a task of `queue` with policy `own` follows."""
        default = await self._queue_default(queue)
        policy = default.over(self.flags) if default is not None else self.flags
        return own.over(policy) if own is not None else policy

    def forget(self, queue: str) -> None:
        """Read the queue's default again next time (it was just changed here)."""
        self._read.pop(queue, None)

    async def _queue_default(self, queue: str) -> RetryOverride | None:
        cached = self._read.get(queue)
        if cached is not None and self._clock() - cached[0] < CACHE_SECONDS:
            return cached[1]
        try:
            default = await self._engine().queue_retry_policy(queue)
        except EngineError as exc:
            # The failure must still be recorded (its report retries while Redis is away):
            # back off with what was last read, else the flags.
            log.warning("reading queue %s's retry policy failed (%s)", queue, exc.message)
            return cached[1] if cached is not None else None
        self._read[queue] = (self._clock(), default)
        return default
