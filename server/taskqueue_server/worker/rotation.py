"""Which queue the pool claims from next: round-robin over the queues that may have work.

A queue is "hinted" while it may hold ready tasks: at start, after a wake-up names it, and
while its claims come back full. A claim that comes back short un-hints it until its next
wake-up: an idle pool waits for one in Redis, a busy one looks for them every so often.
Every claim moves the queues it served to the back of the order, so a queue with a large
backlog gets its turn like any other and cannot starve the rest.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence

from ..engine.api import WorkerEngine
from ..engine.errors import EngineError

log = logging.getLogger(__name__)

IDLE_BLOCK_SECONDS = 1.0
# How often a busy pool looks for wake-ups of the queues it found empty: it never blocks in
# Redis, and without a look such a queue would wait until the busy ones ran dry.
WAKE_POLL_SECONDS = 0.05


class Rotation:
    def __init__(self, engine: WorkerEngine, queues: Sequence[str], types: Sequence[str]) -> None:
        self._engine = engine
        self._queues = list(dict.fromkeys(queues))
        self._types = types
        self._order = deque(self._queues)
        self._hinted = set(self._order)
        self._polled_at = 0.0

    def plan(self, free: int) -> list[tuple[str, int]]:
        """Split `free` slots over the next hinted queues, at least one slot each."""
        candidates = [q for q in self._order if q in self._hinted][:free]
        if not candidates:
            return []
        share, extra = divmod(free, len(candidates))
        served = set(candidates)
        self._order = deque([q for q in self._order if q not in served] + candidates)
        return [(q, share + (1 if i < extra else 0)) for i, q in enumerate(candidates)]

    def claimed(self, queue: str, got: int, asked: int) -> None:
        if got < asked:
            self._hinted.discard(queue)

    async def wait(self) -> None:
        """Block on the wake lists of every queue in one call (one connection).

        A single BLPOP across queues works while all of them live on one Redis node; on
        Redis Cluster the wait would be one per shard.
        """
        engine = self._engine
        try:
            queue = await engine.wait_for_work(self._queues, self._types, IDLE_BLOCK_SECONDS)
        except EngineError as exc:
            log.warning("waiting for work failed (%s)", exc.message)
            queue = None
        if queue is None:
            # Quiet for a while (or Redis away): look at every queue once more, in case a
            # wake-up was taken by a server that died before claiming.
            self._hinted.update(self._queues)
        else:
            self._hinted.add(queue)

    async def poll(self) -> None:
        """Hint the queues found empty that were woken since, looking at most every
        WAKE_POLL_SECONDS: how a busy pool notices new work in quiet queues."""
        now = asyncio.get_running_loop().time()
        quiet = [q for q in self._queues if q not in self._hinted]
        if not quiet or now - self._polled_at < WAKE_POLL_SECONDS:
            return
        self._polled_at = now
        try:
            woken = await self._engine.poll_for_work(quiet, self._types)
        except EngineError as exc:
            log.warning("looking for work failed (%s)", exc.message)
            return
        self._hinted.update(woken)
