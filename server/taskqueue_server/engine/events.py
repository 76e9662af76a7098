"""One Redis pub/sub connection per process, shared by every watcher and internal listener.

Subscribers register per channel; the first one subscribes in Redis and waits for the
confirmation (so a snapshot read afterwards cannot miss a change), the last one leaving
unsubscribes without the subscriber waiting for the write. Each subscriber has a bounded
queue: a consumer that falls behind is marked overflowed instead of growing memory without
bound. After a reconnect every subscriber gets a GAP marker, since messages published while
disconnected are gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
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
        self._confirmations: dict[str, asyncio.Future[Exception | None]] = {}
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # orders the writes of SUBSCRIBE and UNSUBSCRIBE
        self._writes: set[asyncio.Task[None]] = set()  # SUBSCRIBEs and UNSUBSCRIBEs going out
        self._stale = False  # subscriptions lost or never made: the reader makes them afresh

    async def publish(self, channel: str, message: bytes) -> None:
        await self._redis.publish(channel, message)

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str, confirmed: bool = True) -> AsyncIterator[Subscription]:
        """Yields once Redis confirmed the subscription (or, unconfirmed, once the SUBSCRIBE
        is written). The last subscriber's UNSUBSCRIBE is not waited for: a task of its own
        writes it, so a waiting Enqueue's answer does not wait for that write (about 80 us on
        a busy loop). The SUBSCRIBE, when there is one to write, comes from a task too, so a
        subscriber that is cancelled meanwhile leaves nothing half done."""
        sub = Subscription(self._capacity)
        confirmation, write = self._register(channel, sub)
        try:
            if write is not None:
                # Written before the caller goes on, so Redis runs it before what the caller
                # sends next (on a cluster, redis-py may write a command in the caller's own
                # step, ahead of a task made ready earlier).
                await asyncio.shield(write)
            if confirmed and confirmation is not None:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
                # that arrives as the confirmation does, and a caller's own deadline would be
                # lost. Shielded: every subscriber waiting for it shares it.
                async with asyncio.timeout(10):
                    failure = await asyncio.shield(confirmation)
                if failure is not None:
                    raise failure
            yield sub
        finally:
            self._unregister(channel, sub)

    def _register(
        self, channel: str, sub: Subscription
    ) -> tuple[asyncio.Future[Exception | None] | None, asyncio.Task[None] | None]:
        """Add `sub`. Returns the channel's pending confirmation (its result: the error that
        stopped the SUBSCRIBE, else None; None once Redis confirmed it), and the task writing
        the SUBSCRIBE when this is the channel's first subscriber."""
        subs = self._subs.setdefault(channel, set())
        subs.add(sub)
        write = None
        if len(subs) == 1:
            self._confirmations[channel] = asyncio.get_running_loop().create_future()
            write = self._spawn(self._send_subscribe(channel))
        return self._confirmations.get(channel), write

    def _unregister(self, channel: str, sub: Subscription) -> None:
        subs = self._subs.get(channel)
        if subs is None:
            return
        subs.discard(sub)
        if not subs:
            del self._subs[channel]
            self._confirmations.pop(channel, None)
            self._spawn(self._send_unsubscribe(channel))

    def _spawn(self, write: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(write)
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)
        return task

    async def _send_subscribe(self, channel: str) -> None:
        async with self._lock:
            if channel not in self._subs:
                return  # every subscriber left already
            if self._pubsub is None:
                self._pubsub = self._open()
            try:
                await self._pubsub.subscribe(channel)
            except (RedisError, OSError) as exc:
                log.warning("subscribing to %s failed (%s)", channel, exc)
                confirmation = self._confirmations.pop(channel, None)
                if confirmation is not None and not confirmation.done():
                    confirmation.set_result(exc)
                for sub in self._subs[channel]:
                    sub.offer(GAP)  # an unconfirmed subscriber reads what it missed instead
                self._stale = True  # the reader subscribes every channel afresh
            self._start_reader()

    async def _send_unsubscribe(self, channel: str) -> None:
        async with self._lock:
            if channel in self._subs or self._pubsub is None:
                return  # subscribed again meanwhile
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
                if self._stale:
                    # Subscriptions were lost or never made (Redis away): make them afresh.
                    await self._resubscribe()
                    continue
                # Not "unsubscribed, so lost": a first subscriber's SUBSCRIBE may be on its way
                # just after the last one's UNSUBSCRIBE was confirmed.
                if not self._subs and not pubsub.subscribed:
                    return  # idle: the next first subscriber starts a new reader
                message = await pubsub.get_message(timeout=1.0)
                if message is not None:
                    self._dispatch(message)
            except (RedisError, OSError) as exc:
                log.warning("event feed lost its Redis connection (%s); resubscribing", exc)
                self._stale = True

    def _dispatch(self, message: dict[str, Any]) -> None:
        channel = message["channel"]
        channel = channel.decode() if isinstance(channel, bytes) else channel
        kind = message["type"]
        if kind in ("message", "smessage"):
            for sub in self._subs.get(channel, ()):
                sub.offer(message["data"])
        elif kind in ("subscribe", "ssubscribe"):
            confirmation = self._confirmations.pop(channel, None)
            if confirmation is not None and not confirmation.done():
                confirmation.set_result(None)

    async def _resubscribe(self) -> None:
        await asyncio.sleep(0.2)
        async with self._lock:
            old, self._pubsub = self._pubsub, self._open()
            if old is not None:
                with contextlib.suppress(Exception):
                    await old.aclose()  # type: ignore[no-untyped-call]
            channels = list(self._subs)
            self._stale = False
            if not channels:
                return
            try:
                await self._pubsub.subscribe(*channels)
            except (RedisError, OSError):
                self._stale = True
                return
            for channel in channels:
                for sub in self._subs[channel]:
                    sub.offer(GAP)

    async def close(self) -> None:
        for write in list(self._writes):
            write.cancel()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()  # type: ignore[no-untyped-call]
