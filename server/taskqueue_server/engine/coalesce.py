"""Merges concurrent calls into shared Redis round trips.

While one call of a queue's script is in flight, new requests collect; the next call takes
them all. Under load this turns N concurrent Enqueues into a few script calls without adding
latency when idle (a lone request goes out at once).
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
        self, flush: Callable[[list[Item]], Awaitable[list[Reply]]], max_items: int
    ) -> None:
        self._flush = flush
        self._max_items = max_items
        self._waiting: list[tuple[Item, asyncio.Future[Reply]]] = []
        self._running: asyncio.Task[None] | None = None

    @property
    def pending(self) -> bool:
        """True while items wait or a flush is in flight."""
        return bool(self._waiting) or (self._running is not None and not self._running.done())

    async def submit(self, item: Item) -> Reply:
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._running is None or self._running.done():
            self._running = asyncio.create_task(self._drain())
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
