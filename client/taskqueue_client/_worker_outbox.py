"""Outcomes of tasks that finish together leave in one call.

While one send is in flight, new outcomes collect; the next send takes them all. A lone
outcome goes out at once, so batching adds no latency when the worker is quiet.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")


class Outbox(Generic[Item]):
    """Calls `send(items)` with everything submitted since the previous send began."""

    def __init__(self, send: Callable[[list[Item]], Awaitable[None]], max_items: int) -> None:
        self._send = send
        self._max_items = max_items
        self._waiting: list[tuple[Item, asyncio.Future[None]]] = []
        self._sending: asyncio.Task[None] | None = None

    @property
    def pending(self) -> bool:
        """True while items wait or a send is in flight."""
        return bool(self._waiting) or (self._sending is not None and not self._sending.done())

    async def submit(self, item: Item) -> None:
        """Return once the send that carried `item` is over (whatever its outcome)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._sending is None or self._sending.done():
            self._sending = asyncio.create_task(self._drain())
        await future

    async def _drain(self) -> None:
        while self._waiting:
            batch = self._waiting[: self._max_items]
            del self._waiting[: self._max_items]
            try:
                await self._send([item for item, _ in batch])
            finally:
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)
