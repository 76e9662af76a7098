"""The bench job every Python system runs, in its realistic or its no-op variant.

BENCH_JOB=realistic (the default): one Redis INCR of a shared counter through an ordinary
Redis client, as a real handler does one call to a store; the counter's value is returned
with the job's echo, so the result is stored by the library. BENCH_JOB=noop: the echo alone,
which measures the queue's own overhead. BullMQ's worker.mjs reads the same variable.
"""

from __future__ import annotations

import os
from typing import Any

import redis
import redis.asyncio

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
KIND = os.environ.get("BENCH_JOB", "realistic")
COUNTER_KEY = "bench:counter"

# created on first use, in the process (and for the async one the event loop) that runs jobs;
# redis-py's pools notice a fork and reconnect in the child
_sync_client: redis.Redis | None = None
_async_client: redis.asyncio.Redis | None = None


def run_sync(data: dict[str, Any]) -> dict[str, Any]:
    """The job for libraries with synchronous handlers (threads or processes)."""
    global _sync_client
    if KIND == "noop":
        return {"ok": True, "i": data["i"]}
    if _sync_client is None:
        _sync_client = redis.Redis.from_url(REDIS_URL)
    return {"ok": True, "i": data["i"], "count": _sync_client.incr(COUNTER_KEY)}


async def run_async(
    data: dict[str, Any], client: redis.asyncio.Redis | None = None
) -> dict[str, Any]:
    """The job for asyncio handlers; `client` is the library's own connection where it has one."""
    global _async_client
    if KIND == "noop":
        return {"ok": True, "i": data["i"]}
    if client is None:
        if _async_client is None:
            _async_client = redis.asyncio.Redis.from_url(REDIS_URL)
        client = _async_client
    return {"ok": True, "i": data["i"], "count": await client.incr(COUNTER_KEY)}
