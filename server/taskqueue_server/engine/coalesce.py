"""Merges concurrent calls into shared Redis round trips.

While one call of a queue's script is in flight, new requests collect; the next call takes
them all. Under load this turns N concurrent Enqueues into a few script calls without adding
latency when idle (a lone request goes out at once). With `max_in_flight` above 1, that many
calls may be under way at once (each takes what waits when it starts), so the caller's loop
and Redis work side by side rather than in turns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")
Reply = TypeVar("Reply")


class Coalescer(Generic[Item, Reply]):
    """Calls `flush(items)` with everything submitted since the previous flush began."""

    def __init__(
        self,
        flush: Callable[[list[Item]], Awaitable[list[Reply]]],
        max_items: int,
        max_in_flight: int = 1,
    ) -> None:
        self._flush = flush
        self._max_items = max_items
        self._max_in_flight = max_in_flight
        self._waiting: list[tuple[Item, asyncio.Future[Reply]]] = []
        self._running: list[asyncio.Task[None]] = []

    @property
    def pending(self) -> bool:
        """True while items wait or a flush is in flight."""
        return bool(self._waiting) or any(not drain.done() for drain in self._running)

    async def submit(self, item: Item) -> Reply:
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        # A drain that found nothing more to take is done at once (not when its callbacks
        # run), so an item arriving then starts a drain of its own instead of being left.
        self._running = [drain for drain in self._running if not drain.done()]
        if len(self._running) < self._max_in_flight:
            self._running.append(asyncio.create_task(self._drain()))
        return await future

    async def _drain(self) -> None:
        while self._waiting:
            batch = self._waiting[: self._max_items]
            del self._waiting[: self._max_items]
            try:
                replies = await self._flush([item for item, _ in batch])
            except BaseException as exc:  # every waiter learns of the failure
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            for (_, future), reply in zip(batch, replies, strict=True):
                if not future.done():
                    future.set_result(reply)
