"""The engine on Redis: the public API of engine/api.py, one round trip per operation.

Only this package imports redis. Every state change is one Lua script (scripts/*.lua);
this module encodes arguments, groups work into as few calls as possible and decodes replies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from . import (
    bulk,
    control,
    enqueue_wait,
    enqueuing,
    leasing,
    limits,
    listing,
    queue_retry,
    schedules,
    watching,
    workers,
)
from .clock import RedisClock
from .codec import decode_reply, decode_task, text
from .connection import Connection, connect
from .durability import ReplicaWait
from .errors import StoreUnavailable, TaskNotFound
from .events import EventFeed, EventHub
from .ids import queue_of
from .keys import QueueKeys, queue_registry, task_type_registry
from .local_redis import LocalRedis, redis_server_binary
from .models import TaskRecord
from .redis_errors import engine_errors_from_redis
from .scripts import Scripts
from .settings import EngineSettings
from .sharded_events import ShardedEventHub

log = logging.getLogger(__name__)

DUE_BATCH = 1000


class RedisEngine(
    enqueuing.EnqueuingMixin,
    enqueue_wait.EnqueueWaitMixin,
    leasing.LeasingMixin,
    listing.ListingMixin,
    watching.WatchingMixin,
    workers.WorkersMixin,
    schedules.SchedulesMixin,
    control.ControlMixin,
    bulk.BulkMixin,
    limits.LimitsMixin,
    queue_retry.QueueRetryMixin,
):
    """Implements engine.api.Engine on a redis.asyncio client (real Redis or fakeredis)."""

    def __init__(
        self,
        redis: Redis,
        blocking: Redis,
        settings: EngineSettings,
        clock: Callable[[], float] | None = None,
        hub: EventFeed | None = None,
        sharded: bool = False,
    ) -> None:
        """`hub` and `sharded` for Redis Cluster (connection.py): sharded pub/sub."""
        self.redis = redis
        self._blocking = blocking  # BLPOP ties up a connection; keep it off the shared pool
        self.settings = settings
        # Redis's clock unless a test injects one: deadlines must not depend on the host.
        self._redis_clock: RedisClock | None = None
        if clock is None:
            clock = self._redis_clock = RedisClock(redis)
        self.clock = clock
        self._clock_sync: asyncio.Task[None] | None = None
        self.local_redis: LocalRedis | None = None  # a private redis-server this engine stops
        self.store_label = ""  # what holds the tasks when no URL was given, for the ready line
        if hub is None and isinstance(redis, RedisCluster):  # a cluster client given directly
            hub, sharded = ShardedEventHub(redis, {}), True
        self.sharded = sharded
        self.scripts = Scripts(redis, sharded)
        self.hub: EventFeed = hub or EventHub(redis)
        self.replica_wait: ReplicaWait | None = None  # set by engine_on when asked for
        self.round_trips = 0  # counted for the benchmark's "Redis calls per task"
        self._lease_ms = int(settings.lease_seconds * 1000)
        self._enqueuers = {}
        self._hand_off = None  # the in-process worker pool, once app.py wires it
        self._registered_queues = set()
        self._unregistered_types: frozenset[str] = frozenset()  # set by start

    def keys(self, queue: str) -> QueueKeys:
        return QueueKeys(self.settings.key_prefix, queue)

    def now_ms(self) -> int:
        """Milliseconds on the store's clock: every due time and lease deadline uses it."""
        return int(self.clock() * 1000)

    async def run(
        self, name: str, queue: str, keys: list[str], args: list[Any], durable: bool = False
    ) -> Any:
        """Run a script; `durable` waits for replicas when --redis-wait-replicas asks."""
        self.round_trips += 1
        args = [self.keys(queue).base, *args]
        if durable and self.replica_wait is not None:
            return await self.replica_wait.run(self.scripts.script(name), keys, args)
        with engine_errors_from_redis():
            return await self.scripts.run(name, keys, args)

    async def start(self, task_types: Iterable[str] = ()) -> None:
        """Load the scripts, then set up this process' keys (`_set_up_keys`).

        Loading scripts touches no key. When the keys refuse (a Redis user barred from our
        prefix), the engine still starts, so calls answer with the store's own reason, and
        `ping` keeps failing, and retrying the set-up, until the keys can be used.
        """
        self._unregistered_types = frozenset(task_types)
        with engine_errors_from_redis():
            await self.scripts.load_all()
        with contextlib.suppress(StoreUnavailable):
            await self._set_up_keys()
        if self._redis_clock is not None:
            await self._redis_clock.sync()
            self._clock_sync = asyncio.create_task(
                self._redis_clock.keep_synced(), name="redis-clock"
            )

    async def _set_up_keys(self) -> None:
        """The page-token secret, and this process' task types in the shared set."""
        with engine_errors_from_redis():
            if not self._page_token_secret:
                await self._load_page_token_secret()
            if self._unregistered_types:
                await self.register_task_types(self._unregistered_types)
                self._unregistered_types = frozenset()

    async def ping(self) -> None:
        # A key read, not PING: a Redis ACL user may connect yet be barred from our keys.
        # Not serving until the set-up is done either: other servers' Enqueue needs our types.
        await self._set_up_keys()
        with engine_errors_from_redis():
            await self.redis.exists(queue_registry(self.settings.key_prefix))

    async def close(self) -> None:
        if self._clock_sync is not None:
            self._clock_sync.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._clock_sync
        await self.hub.close()
        if self.replica_wait is not None:
            await self.replica_wait.close()
        await self._blocking.aclose()
        await self.redis.aclose()
        if self.local_redis is not None:
            await self.local_redis.stop()

    # --- callers ---------------------------------------------------------------
    async def queues(self) -> list[str]:
        with engine_errors_from_redis():
            members = await self.redis.smembers(queue_registry(self.settings.key_prefix))  # type: ignore[misc]
        return sorted(text(m) for m in members)

    async def register_task_types(self, task_types: Iterable[str]) -> None:
        names = sorted(set(task_types))
        if names:
            with engine_errors_from_redis():
                await self.redis.sadd(task_type_registry(self.settings.key_prefix), *names)  # type: ignore[misc]

    async def known_task_types(self) -> frozenset[str]:
        with engine_errors_from_redis():
            members = await self.redis.smembers(task_type_registry(self.settings.key_prefix))  # type: ignore[misc]
        return frozenset(text(m) for m in members)

    async def get_task(self, task_id: str) -> TaskRecord:
        self.round_trips += 1
        fields, data = await self.read_raw(task_id)
        if not fields:
            raise TaskNotFound(task_id)
        return decode_task(task_id, fields, data)

    async def cancel(self, task_id: str) -> TaskRecord:
        queue = queue_of(task_id)
        keys = self.keys(queue)
        args = [self.now_ms(), self.settings.task_ttl_seconds, task_id]
        reply = await self.run("cancel", queue, [keys.lease, keys.scheduled], args)
        return decode_reply(task_id, reply)

    async def retry(self, task_id: str) -> TaskRecord:
        queue = queue_of(task_id)
        reply = await self.run("retry", queue, [self.keys(queue).seq], [self.now_ms(), task_id])
        return decode_reply(task_id, reply)


def engine_on(
    connection: Connection, settings: EngineSettings, clock: Callable[[], float] | None = None
) -> RedisEngine:
    """The engine on connect()'s clients: sharded pub/sub and SPUBLISH on a cluster."""
    hub = connection.sharded_events()
    engine = RedisEngine(
        connection.redis, connection.blocking, settings, clock, hub=hub, sharded=hub is not None
    )
    if settings.wait_replicas:
        engine.replica_wait = ReplicaWait(
            connection.redis, settings.wait_replicas, connection.cluster, connection.node_options
        )
    return engine


async def open_engine(
    redis_url: str | None, settings: EngineSettings, task_types: Iterable[str] = ()
) -> RedisEngine:
    """Connect to Redis at `redis_url`; without one, to a private redis-server when there is
    one on PATH (data in settings.data_dir), else to an in-process store.

    Loads every script before returning, so a server that started can run them, and
    registers `task_types` (the handlers this process runs) for every server's Enqueue.
    """
    local: LocalRedis | None = None
    binary = None if redis_url else redis_server_binary()
    if binary is not None:
        local = await LocalRedis.start(binary, settings.data_dir)
        redis_url = local.url
        log.warning(
            "NO REDIS URL: running a private redis-server (pid %d) with its data in %s (AOF "
            "on); it stops with this server. Set --redis-url to share a Redis among servers.",
            local.process.pid,
            local.data_dir,
        )
    if redis_url:
        engine = engine_on(await connect(redis_url), settings)
    else:
        import fakeredis

        log.warning(
            "NO REDIS URL and no redis-server on PATH: using the embedded in-memory store. "
            "NOTHING IS DURABLE: every task is lost when this process exits. Install Redis, "
            "or set --redis-url / TASKQUEUE_REDIS_URL for real use."
        )
        server = fakeredis.FakeServer()
        client = fakeredis.FakeAsyncRedis(server=server)
        blocking = fakeredis.FakeAsyncRedis(server=server)
        engine = RedisEngine(client, blocking, settings)
    engine.local_redis = local
    if local is not None:
        engine.store_label = f"private redis-server, data in {local.data_dir} (AOF on)"
    elif not redis_url:
        engine.store_label = "embedded in-memory store (not durable: no redis-server on PATH)"
    try:
        await engine.start(task_types)
    except BaseException:
        await engine.close()
        raise
    return engine
