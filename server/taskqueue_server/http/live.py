"""Live queue figures for every open dashboard, from one reader per server process.

While at least one page listens, one loop reads every queue's counters once a second (one
pipelined round trip: the engine's list_queues) and hands the same snapshot to every page,
so twenty viewers cost Redis what one does. Throughput is the change in finished totals
(completed, failed, cancelled) between successive reads; the last `HISTORY` rates per queue
feed the sparklines. With no page open the loop stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable

import orjson

from ..engine.api import CallerEngine
from ..engine.errors import EngineError
from .api import queue_json

log = logging.getLogger("taskqueue_server.http")

INTERVAL_SECONDS = 1.0
HISTORY = 60


class LiveFeed:
    """Fans one reader's snapshots out to every subscribed page."""

    def __init__(self, engine_of: Callable[[], CallerEngine | None]) -> None:
        self._engine_of = engine_of
        self._pages: set[asyncio.Queue[bytes]] = set()
        self._reader: asyncio.Task[None] | None = None
        self._finished: dict[str, tuple[float, int]] = {}
        self._rates: dict[str, deque[float]] = {}
        self.latest = b""

    @property
    def listeners(self) -> int:
        return len(self._pages)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[bytes]]:
        """A queue of snapshots (JSON); the newest replaces one not yet taken; empty at the end."""
        page: asyncio.Queue[bytes] = asyncio.Queue(maxsize=1)
        if self.latest:
            page.put_nowait(self.latest)
        self._pages.add(page)
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read(), name="dashboard-live-feed")
        try:
            yield page
        finally:
            self._pages.discard(page)

    async def stop(self) -> None:
        """End every page's stream (an empty snapshot) and the reader, so shutdown need not
        wait for browsers to hang up."""
        self._publish(b"")
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def _read(self) -> None:
        while self._pages:
            engine = self._engine_of()
            try:
                if engine is not None:
                    self._publish(await self.snapshot(engine))
            except EngineError as exc:
                self._publish(orjson.dumps({"error": exc.message}))
            await asyncio.sleep(INTERVAL_SECONDS)

    async def snapshot(self, engine: CallerEngine) -> bytes:
        now = time.monotonic()
        queues = [queue_json(overview) for overview in await engine.list_queues()]
        for queue in queues:
            queue["rates"] = list(self._rate(queue["name"], now, queue["finished_total"]))
        return orjson.dumps({"queues": queues, "interval_seconds": INTERVAL_SECONDS})

    def _rate(self, queue: str, now: float, finished: int) -> deque[float]:
        rates = self._rates.setdefault(queue, deque(maxlen=HISTORY))
        before = self._finished.get(queue)
        self._finished[queue] = (now, finished)
        if before is not None and now > before[0]:
            # Totals never go down, unless the store lost its data: not negative throughput.
            rates.append(round(max(0, finished - before[1]) / (now - before[0]), 2))
        return rates

    def _publish(self, snapshot: bytes) -> None:
        self.latest = snapshot
        for page in self._pages:
            if page.full():
                page.get_nowait()
            page.put_nowait(snapshot)


def sse_event(snapshot: bytes) -> bytes:
    """One server-sent event carrying a snapshot."""
    return b"event: queues\ndata: " + snapshot + b"\n\n"

