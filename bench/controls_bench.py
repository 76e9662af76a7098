"""Queue controls at scale (issue 13): ListQueues and one queue's overview with a queue of
1,000,000 pending tasks, and how long a purge of it blocks Redis per call. Prints a markdown
table and writes it to bench/results/controls-<date>.md.

    .venv/bin/python bench/controls_bench.py [--deep 1000000] [--samples 200]

Runs against a private redis-server it starts on a free port (no persistence), never the
shared Redis on 6379.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import time
from typing import Any

import engine_phases as ph
from benchlib import load_average, machine, percentile, private_redis, table, write_results
from taskqueue_server.engine import control
from taskqueue_server.engine.models import Status
from taskqueue_server.engine.settings import EngineSettings
from taskqueue_server.engine.store import RedisEngine, open_engine
from taskqueue_server.http.metrics import Metrics

TARGET_MS = 50.0
SMALL_QUEUES = 20  # a realistic deployment has a handful of other queues beside the big one


async def latencies_ms(call: Any, samples: int) -> list[float]:
    out = []
    for _ in range(samples):
        start = time.perf_counter()
        await call()
        out.append((time.perf_counter() - start) * 1000)
    return out


def time_each_call(engine: RedisEngine) -> list[float]:
    """Wrap the engine's script calls; the returned list fills with each call's ms."""
    durations: list[float] = []
    original = engine.run

    async def timed(name: str, queue: str, keys: list[str], args: list[Any]) -> Any:
        start = time.perf_counter()
        try:
            return await original(name, queue, keys, args)
        finally:
            durations.append((time.perf_counter() - start) * 1000)

    engine.run = timed  # type: ignore[method-assign]
    return durations


async def measure(url: str, deep: int, samples: int) -> list[list[str]]:
    engine = await open_engine(url, EngineSettings(key_prefix="bench"))
    try:
        fill_s = await ph.fill(engine, "big", deep)
        for n in range(SMALL_QUEUES):
            await ph.fill(engine, f"small{n}", 10)
        await engine.pause_queue("small0")
        overview = await engine.queue_overview("big")
        assert sum(c.counts[Status.PENDING] for c in overview.counts.values()) == deep
        rows = []
        metrics = Metrics()
        for name, call in (
            (f"ListQueues ({SMALL_QUEUES + 1} queues, one of {deep:,})", engine.list_queues),
            (f"queue overview of the {deep:,}-task queue", lambda: engine.queue_overview("big")),
            # What GET /metrics does besides aiohttp: read every queue and render the text.
            ("/metrics body (queue families + exposition)", lambda: metrics.render(engine)),
        ):
            ms = await latencies_ms(call, samples)
            p50, p99 = percentile(ms, 50), percentile(ms, 99)
            rows.append([name, f"{p50:.2f}", f"{p99:.2f}", "met" if p99 <= TARGET_MS else "MISSED"])
        durations = time_each_call(engine)
        await engine.redis.config_resetstat()
        start = time.perf_counter()
        purged = await engine.purge_queue("big")
        total = time.perf_counter() - start
        assert purged == deep, purged
        # What Redis itself spent per script call: how long each call blocked other clients.
        stats = await engine.redis.info("commandstats")
        in_redis = stats["cmdstat_evalsha"]["usec_per_call"] / 1000
        rows.append(
            [
                f"PurgeQueue of {deep:,}: {len(durations)} calls of {control.CHUNK} tasks, "
                f"{total:.1f} s in all; per call, round trip (mean inside Redis "
                f"{in_redis:.1f} ms)",
                f"{percentile(durations, 50):.2f}",
                f"{percentile(durations, 99):.2f} (max {max(durations):.2f})",
                "bounded",
            ]
        )
        rows.append([f"(fill: {deep:,} tasks enqueued in {fill_s:.1f} s)", "", "", ""])
        return rows
    finally:
        await engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deep", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    with private_redis() as url:
        load_before = load_average()
        rows = asyncio.run(measure(url, args.deep, args.samples))
        header = (
            f"# Queue controls at scale, {dt.date.today():%Y-%m-%d}\n\n"
            f"Machine: {machine(url)}. Load average (1 min) {load_before} before, "
            f"{load_average()} after (other engineers share the machine).\n\n"
        )
        body = table(["measure", "p50 ms", "p99 ms", f"target {TARGET_MS:.0f} ms"], rows)
        write_results("controls", header + body + "\n")


if __name__ == "__main__":
    main()
