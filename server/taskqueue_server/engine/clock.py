"""The engine's time: Redis's clock, read locally.

Every lease deadline and due time is a Redis score compared with a `now` that whichever
server runs the script sends. Host clocks differ; a server whose clock runs ahead sees the
leases other servers granted as expired and hands their tasks back (poison after the
redelivery cap), and scheduled tasks fire early or late by the skew. So no server uses its
own wall clock for them: each reads Redis's TIME and carries it forward on its monotonic
clock, which no NTP step or operator moves.

Why not TIME inside each script: the scripts take `now` as an argument so tests can drive
time with a fake clock, and one sample every few seconds costs nothing per task.
"""

from __future__ import annotations

import asyncio
import logging
import time

from redis.asyncio import Redis

from .errors import EngineError
from .redis_errors import engine_errors_from_redis

log = logging.getLogger(__name__)

SAMPLES = 3  # per sync; the quickest round trip bounds the error best
RESYNC_SECONDS = 5.0  # monotonic clocks drift by parts per million; this keeps it sub-ms


class RedisClock:
    """Seconds since the epoch on Redis's clock: an anchor read with TIME, plus elapsed time.

    The anchor is taken at the midpoint of the quickest of a few TIME round trips, so its
    error is at most half that round trip (well under a millisecond on a LAN).
    """

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        # Until the first sync: the local wall clock, the best guess there is.
        self._anchor_redis = time.time()
        self._anchor_local = time.monotonic()
        self.round_trip = 0.0  # of the sample in use, in seconds (its error is half of it)

    def __call__(self) -> float:
        return self._anchor_redis + (time.monotonic() - self._anchor_local)

    async def sync(self) -> None:
        """Read Redis's clock again; UNAVAILABLE (EngineError) when Redis does not answer."""
        best: tuple[float, float, float] | None = None
        with engine_errors_from_redis():
            for _ in range(SAMPLES):
                sent = time.monotonic()
                seconds, micros = await self._redis.time()
                received = time.monotonic()
                if best is None or received - sent < best[0]:
                    best = (received - sent, seconds + micros / 1_000_000, (sent + received) / 2)
        assert best is not None
        self.round_trip, self._anchor_redis, self._anchor_local = best

    async def keep_synced(self, interval: float = RESYNC_SECONDS) -> None:
        """Sync every `interval` seconds until cancelled; a failed sync keeps the last one."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sync()
            except EngineError as exc:
                log.debug("could not read Redis's clock (%s); keeping the last reading", exc)
