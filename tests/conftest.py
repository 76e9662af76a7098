"""Shared fixtures: a Redis URL, and the engine on real Redis and on the embedded store."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import fakeredis
import pytest
import redis
from redis.asyncio import Redis
from taskqueue_server.engine.connection import connect
from taskqueue_server.engine.settings import EngineSettings
from taskqueue_server.engine.store import RedisEngine, engine_on

from tests.support.redis_cluster import LocalCluster, LocalSentinel
from tests.support.server_process import REDIS_URL, ServerFactory


@pytest.fixture(scope="session")
def redis_available() -> None:
    """Fail clearly, once, when the suite's Redis does not answer."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.fail(f"these tests need Redis at {REDIS_URL} (TASKQUEUE_TEST_REDIS_URL): {exc}")


@pytest.fixture
def servers(redis_available: None) -> Iterator[ServerFactory]:
    """Real server processes for this test; they share one fresh key prefix, deleted after."""
    with ServerFactory() as factory:
        yield factory


@dataclass
class FakeClock:
    """Time the engine sees; tests move it instead of sleeping."""

    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def engine_settings() -> EngineSettings:
    return EngineSettings(key_prefix=f"tqtest-{uuid.uuid4().hex[:12]}", lease_seconds=10)


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[LocalCluster]:
    """A real Redis Cluster (3 primaries + 3 replicas on loopback) for the whole session."""
    cluster = LocalCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="session")
def redis_sentinel() -> Iterator[LocalSentinel]:
    """A real Sentinel group (primary, replica, 3 sentinels on loopback) for the session."""
    group = LocalSentinel()
    try:
        group.start()
        yield group
    finally:
        group.close()


@pytest.fixture(params=["redis", "embedded", pytest.param("cluster", marks=pytest.mark.cluster)])
async def engine(
    request: pytest.FixtureRequest, clock: FakeClock, engine_settings: EngineSettings
) -> AsyncIterator[RedisEngine]:
    """The engine on real Redis (the one that counts), on fakeredis and on a real Redis
    Cluster (sharded pub/sub, slot-routed scripts), with a fake clock."""
    if request.param == "cluster":
        cluster: LocalCluster = request.getfixturevalue("redis_cluster")
        store = engine_on(await connect(cluster.url), engine_settings, clock)
    elif request.param == "redis":
        store = RedisEngine(
            Redis.from_url(REDIS_URL), Redis.from_url(REDIS_URL), engine_settings, clock=clock
        )
    else:
        server = fakeredis.FakeServer()
        fake = fakeredis.FakeAsyncRedis(server=server)
        store = RedisEngine(fake, fakeredis.FakeAsyncRedis(server=server), engine_settings, clock)
    await store.start()
    yield store
    client = store.redis
    keys = [k async for k in client.scan_iter(match=f"{engine_settings.key_prefix}:*", count=10000)]
    if keys:
        await client.delete(*keys)
    await store.close()
