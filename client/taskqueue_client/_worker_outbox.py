"""Outcomes of tasks that finish together leave in one call, and calls overlap.

An outcome added while the loop still runs other finishing handlers waits for them: the
send starts on the loop's next turn and takes everything added until then, so a lone
outcome still goes out at once. While one send is in flight, a second may start once
`min_items` wait (a busy worker then keeps two calls under way, and its handlers run
while the server records the previous batch); otherwise the items wait for a send to end.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

log = logging.getLogger("taskqueue_client.worker")
Item = TypeVar("Item")


class Outbox(Generic[Item]):
    """Calls `send(items)` with batches of what `add` was given, `max_in_flight` at once."""

    def __init__(
        self,
        send: Callable[[list[Item]], Awaitable[None]],
        max_items: int,
        max_in_flight: int,
        min_items: int,
    ) -> None:
        self._send = send
        self._max_items = max_items
        self._max_in_flight = max_in_flight
        self._min_items = min_items
        self._waiting: list[Item] = []
        self._in_flight: set[asyncio.Task[None]] = set()
        self._scheduled = False
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def pending(self) -> bool:
        """True while items wait or a send is in flight."""
        return not self._idle.is_set()

    def add(self, item: Item) -> None:
        self._waiting.append(item)
        self._idle.clear()
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._start_sends)

    async def flushed(self) -> None:
        """Return once every item added so far was sent (whatever the outcome)."""
        await self._idle.wait()

    def _start_sends(self) -> None:
        self._scheduled = False
        while self._waiting and self._may_send():
            batch = self._waiting[: self._max_items]
            del self._waiting[: self._max_items]
            sending = asyncio.create_task(self._deliver(batch), name="finish-tasks")
            self._in_flight.add(sending)
        if not self._waiting and not self._in_flight:
            self._idle.set()

    def _may_send(self) -> bool:
        if not self._in_flight:
            return True
        return len(self._in_flight) < self._max_in_flight and len(self._waiting) >= self._min_items

    async def _deliver(self, batch: list[Item]) -> None:
        try:
            await self._send(batch)
        except Exception:  # the sender reports its own failures; this is a bug's last stop
            log.exception("sending %d outcome(s) failed", len(batch))
        finally:
            task = asyncio.current_task()
            assert task is not None
            self._in_flight.discard(task)
            self._start_sends()
