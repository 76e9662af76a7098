"""The engine benchmark's measurements, each one function returning plain numbers.

Every function works on an engine opened on the private Redis of engine_bench.py; none of
them prints. Times are from time.perf_counter in this process.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from taskqueue_server.engine.models import NewTask, Outcome
from taskqueue_server.engine.store import RedisEngine
from taskqueue_server.worker.context import TaskContext
from taskqueue_server.worker.loop import WorkerPool
from taskqueue_server.worker.registry import Registration

PAYLOAD = {"payload": "x" * 86}  # {"payload":"x...x"} is exactly 100 bytes of JSON
NOOP = "noop"


@dataclass(frozen=True)
class Measured:
    """Tasks/s, engine round trips used, and Redis time (all scripts) per task in us."""

    rate: float
    trips: int
    redis_us_per_task: float


def tasks(n: int, queue: str) -> list[NewTask]:
    return [NewTask(task_type=NOOP, task_data=PAYLOAD, queue=queue) for _ in range(n)]


# --- ceilings from the same client library ------------------------------------------------
async def pipelined_evalsha(client: Redis, n: int = 30_000, batch: int = 1000) -> float:
    """Ops/s of a trivial script called by SHA, `batch` calls per pipeline."""
    sha = await client.script_load("return 1")
    start = time.perf_counter()
    for _ in range(n // batch):
        pipe = client.pipeline(transaction=False)
        for _ in range(batch):
            pipe.evalsha(sha, 0)
        await pipe.execute()
    return n / (time.perf_counter() - start)


async def sequential_ping(client: Redis, n: int = 3000) -> float:
    start = time.perf_counter()
    for _ in range(n):
        await client.ping()
    return n / (time.perf_counter() - start)


# --- throughput ------------------------------------------------------------------------------
async def batch_enqueue(engine: RedisEngine, queue: str, n: int, batch: int) -> Measured:
    """engine.enqueue with `batch` tasks per call."""
    batches = [tasks(batch, queue) for _ in range(n // batch)]  # built before the clock
    trips = engine.round_trips
    await engine.redis.config_resetstat()
    start = time.perf_counter()
    for group in batches:
        await engine.enqueue(group)
    elapsed = time.perf_counter() - start
    return Measured(n / elapsed, engine.round_trips - trips, await script_usec(engine.redis) / n)


async def claim_finish_direct(engine: RedisEngine, queue: str, n: int, batch: int) -> Measured:
    """claim(batch) then finish(all of them), in a loop, until n are done."""
    trips = engine.round_trips
    await engine.redis.config_resetstat()
    done = 0
    start = time.perf_counter()
    while done < n:
        claimed = await engine.claim(queue, [NOOP], batch, "bench")
        if not claimed:
            raise RuntimeError(f"queue ran dry after {done} of {n}")
        await engine.finish([Outcome(c.lease, result_json="{}") for c in claimed])
        done += len(claimed)
    elapsed = time.perf_counter() - start
    return Measured(done / elapsed, engine.round_trips - trips, await script_usec(engine.redis) / n)


class CountingEngine:
    """Forwards to the engine; sets `all_done` once `target` outcomes were recorded."""

    def __init__(self, engine: RedisEngine, target: int) -> None:
        self._engine = engine
        self.target = target
        self.recorded = 0
        self.all_done = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    async def finish(self, outcomes: Any) -> Any:
        stale = await self._engine.finish(outcomes)
        self._count(outcomes)
        return stale

    async def finish_and_claim(self, outcomes: Any, *claim: Any) -> Any:
        reply = await self._engine.finish_and_claim(outcomes, *claim)
        self._count(outcomes)
        return reply

    def _count(self, outcomes: Any) -> None:
        self.recorded += len(outcomes)
        if self.recorded >= self.target:
            self.all_done.set()


async def _noop(task_data: dict[str, Any], ctx: TaskContext) -> None:
    return None


def pool(engine: Any, queue: str, concurrency: int, fn: Any = _noop) -> WorkerPool:
    return WorkerPool(
        engine, {NOOP: Registration(NOOP, fn, True)}, queues=[queue], concurrency=concurrency,
        worker_id="bench",
    )


async def pool_drain(engine: RedisEngine, queue: str, n: int, concurrency: int) -> Measured:
    """A WorkerPool draining a backlog of n no-op tasks."""
    counting = CountingEngine(engine, n)
    workers = pool(counting, queue, concurrency)
    trips = engine.round_trips
    await engine.redis.config_resetstat()
    start = time.perf_counter()
    await workers.start()
    await asyncio.wait_for(counting.all_done.wait(), 300)
    elapsed = time.perf_counter() - start
    used = engine.round_trips - trips
    redis_us = await script_usec(engine.redis) / n
    await workers.stop(5)
    return Measured(n / elapsed, used, redis_us)


async def idle_pickup(
    worker_engine: RedisEngine, producer: RedisEngine, queue: str, samples: int
) -> list[float]:
    """Milliseconds from enqueue (one task, idle pool) until its handler starts."""
    started: asyncio.Queue[float] = asyncio.Queue()

    async def mark(task_data: dict[str, Any], ctx: TaskContext) -> None:
        started.put_nowait(time.perf_counter())

    workers = pool(worker_engine, queue, 16, mark)
    await workers.start()
    latencies = []
    try:
        await asyncio.sleep(0.2)
        for _ in range(samples):
            begin = time.perf_counter()
            await producer.enqueue(tasks(1, queue))
            latencies.append((await asyncio.wait_for(started.get(), 5) - begin) * 1000)
            while workers.running_count:  # let the pool go back to blocking in Redis
                await asyncio.sleep(0.001)
            await asyncio.sleep(0.01)
    finally:
        await workers.stop(5)
    return latencies


# --- scale -----------------------------------------------------------------------------------
async def evalsha_usec(client: Redis) -> float:
    stats = await client.info("commandstats")
    return float(stats.get("cmdstat_evalsha", {}).get("usec_per_call", 0.0))


async def script_usec(client: Redis) -> float:
    """Total microseconds Redis spent in EVALSHA since the last CONFIG RESETSTAT."""
    stats = await client.info("commandstats")
    return float(stats.get("cmdstat_evalsha", {}).get("usec", 0.0))


async def single_ops(engine: RedisEngine, queue: str, n: int) -> dict[str, float]:
    """Client-side us/op and Redis-side us/call of n sequential one-task enqueues, then claims."""
    client = engine.redis
    out: dict[str, float] = {}
    await client.config_resetstat()
    start = time.perf_counter()
    for _ in range(n):
        await engine.enqueue(tasks(1, queue))
    out["enqueue_us"] = (time.perf_counter() - start) / n * 1e6
    out["enqueue_redis_us"] = await evalsha_usec(client)
    await client.config_resetstat()
    start = time.perf_counter()
    for _ in range(n):
        if not await engine.claim(queue, [NOOP], 1, "bench"):
            raise RuntimeError("nothing to claim")
    out["claim_us"] = (time.perf_counter() - start) / n * 1e6
    out["claim_redis_us"] = await evalsha_usec(client)
    return out


async def fill(engine: RedisEngine, queue: str, n: int, batch: int = 1000) -> float:
    """Enqueue n tasks with a few batches in flight (the store coalesces them); seconds."""
    start = time.perf_counter()
    remaining = n

    async def submitter() -> None:
        nonlocal remaining
        while remaining > 0:
            size = min(batch, remaining)
            remaining -= size
            await engine.enqueue(tasks(size, queue))

    await asyncio.gather(*(submitter() for _ in range(3)))
    return time.perf_counter() - start


async def used_memory(client: Redis) -> int:
    return int((await client.info("memory"))["used_memory"])
