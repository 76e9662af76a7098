"""One Redis pub/sub connection per process, shared by every watcher and internal listener.

Subscribers register per channel; the first one subscribes in Redis and waits for the
confirmation (so a snapshot read afterwards cannot miss a change), the last one leaving
unsubscribes. Each subscriber has a bounded queue: a consumer that falls behind is marked
overflowed instead of growing memory without bound. After a reconnect every subscriber
gets a GAP marker, since messages published while disconnected are gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

GAP = b"\x00gap"
OVERFLOW = b"\x00overflow"


class Subscription:
    """What one subscriber reads: message payloads, GAP or OVERFLOW markers."""

    def __init__(self, capacity: int) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(capacity)
        self.overflowed = False

    def offer(self, payload: bytes) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(payload)
        except asyncio.QueueFull:
            self.overflowed = True
            # Make room for the marker so the reader learns why the stream ends.
            self.queue.get_nowait()
            self.queue.put_nowait(OVERFLOW)


class EventFeed(Protocol):
    """What the engine subscribes through: an EventHub, or ShardedEventHub on a cluster."""

    def subscribe(
        self, channel: str, confirmed: bool = True
    ) -> contextlib.AbstractAsyncContextManager[Subscription]:
        """Yields once Redis confirmed the subscription, or with `confirmed=False` once the
        SUBSCRIBE is written to Redis (Redis runs it before any command sent after it)."""

    async def publish(self, channel: str, message: bytes) -> None:
        """Publish from Python (scripts publish their own events) so `subscribe` hears it."""

    async def close(self) -> None:
        """Drop every connection."""


class EventHub:
    """Fans Redis pub/sub messages out to in-process subscribers."""

    def __init__(
        self, redis: Redis, capacity: int = 256, open_pubsub: Callable[[], PubSub] | None = None
    ) -> None:
        # Redis Cluster passes its own opener: a sharded connection to the channel's shard.
        self._redis = redis
        self._open = open_pubsub or redis.pubsub
        self._capacity = capacity
        self._subs: dict[str, set[Subscription]] = {}
        self._confirmations: dict[str, list[asyncio.Future[None]]] = {}
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def publish(self, channel: str, message: bytes) -> None:
        await self._redis.publish(channel, message)

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str, confirmed: bool = True) -> AsyncIterator[Subscription]:
        """Yields once Redis confirmed the subscription (or, unconfirmed, once it is sent)."""
        sub = Subscription(self._capacity)
        try:
            await self._add(channel, sub, confirmed)
            yield sub
        finally:
            await self._remove(channel, sub)

    async def _add(self, channel: str, sub: Subscription, wait_confirmed: bool = True) -> None:
        async with self._lock:
            subs = self._subs.setdefault(channel, set())
            subs.add(sub)
            if len(subs) > 1:
                return
            if self._pubsub is None:
                self._pubsub = self._open()
            confirmed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._confirmations.setdefault(channel, []).append(confirmed)
            await self._pubsub.subscribe(channel)
            self._start_reader()
        if not wait_confirmed:
            return
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
        # arrives as the confirmation does, and a caller's own deadline would be lost.
        async with asyncio.timeout(10):
            await confirmed

    async def _remove(self, channel: str, sub: Subscription) -> None:
        async with self._lock:
            subs = self._subs.get(channel)
            if subs is None:
                return
            subs.discard(sub)
            if not subs:
                del self._subs[channel]
                self._confirmations.pop(channel, None)
                if self._pubsub is not None:
                    with contextlib.suppress(RedisError, OSError):
                        await self._pubsub.unsubscribe(channel)

    def _start_reader(self) -> None:
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read_forever(), name="taskqueue-event-hub")

    async def _read_forever(self) -> None:
        while True:
            pubsub = self._pubsub
            assert pubsub is not None
            try:
                if not pubsub.subscribed:
                    if not self._subs:
                        return  # idle: _ensure_reader starts a new reader when needed
                    # An earlier resubscribe failed (Redis still down): try again.
                    await self._resubscribe()
                    continue
                message = await pubsub.get_message(timeout=1.0)
                if message is not None:
                    self._dispatch(message)
            except (RedisError, OSError) as exc:
                log.warning("event feed lost its Redis connection (%s); resubscribing", exc)
                await self._resubscribe()

    def _dispatch(self, message: dict[str, Any]) -> None:
        channel = message["channel"]
        channel = channel.decode() if isinstance(channel, bytes) else channel
        kind = message["type"]
        if kind in ("message", "smessage"):
            for sub in self._subs.get(channel, ()):
                sub.offer(message["data"])
        elif kind in ("subscribe", "ssubscribe"):
            for future in self._confirmations.pop(channel, []):
                if not future.done():
                    future.set_result(None)

    async def _resubscribe(self) -> None:
        await asyncio.sleep(0.2)
        async with self._lock:
            old, self._pubsub = self._pubsub, self._open()
            if old is not None:
                with contextlib.suppress(Exception):
                    await old.aclose()  # type: ignore[no-untyped-call]
            channels = list(self._subs)
            if not channels:
                return
            try:
                await self._pubsub.subscribe(*channels)
            except (RedisError, OSError):
                return
            for channel in channels:
                for sub in self._subs[channel]:
                    sub.offer(GAP)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()  # type: ignore[no-untyped-call]
