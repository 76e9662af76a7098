"""The engine's clock is Redis's, whatever this host's wall clock says."""

from __future__ import annotations

import time

import pytest
from redis.asyncio import Redis
from taskqueue_server.engine.models import NewTask
from taskqueue_server.engine.settings import EngineSettings
from taskqueue_server.engine.store import RedisEngine

from tests.support.server_process import REDIS_URL

SKEW_SECONDS = 300.0


async def redis_ms(client: Redis) -> float:
    seconds, micros = await client.time()
    return float(seconds * 1000 + micros / 1000)


async def test_times_come_from_redis_when_the_host_clock_is_off(
    monkeypatch: pytest.MonkeyPatch, engine_settings: EngineSettings
) -> None:
    skewed = time.time
    monkeypatch.setattr(time, "time", lambda: skewed() + SKEW_SECONDS)
    client = Redis.from_url(REDIS_URL)
    engine = RedisEngine(Redis.from_url(REDIS_URL), Redis.from_url(REDIS_URL), engine_settings)
    await engine.start()
    try:
        before = await redis_ms(client)
        now = engine.now_ms()
        [outcome] = await engine.enqueue([NewTask("t", {}, delay_seconds=1.0)])
        after = await redis_ms(client)
        assert before - 5 <= now <= after + 5
        assert before + 995 <= outcome.task.run_at_ms <= after + 1005
        # Ids lead with the same clock, so they sort with other servers' ids.
        assert int(outcome.task.id.split("-")[1][:12], 16) <= after + 5
    finally:
        await client.delete(*[k async for k in client.scan_iter(f"{engine_settings.key_prefix}:*")])
        await client.aclose()
        await engine.close()
