"""Engine benchmark (issue 2): throughput against the client library's ceilings, Redis calls
per task, idle pickup latency, cost at 1M pending, memory per task. Prints a markdown table
and writes it to bench/results/engine-<date>.md.

    .venv/bin/python bench/engine_bench.py [--runs 3] [--deep 1000000]

Runs against a private redis-server it starts on a free port (no persistence), never the
shared Redis on 6379.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt

import engine_phases as ph
from benchlib import (
    Figures,
    load_average,
    machine,
    percentile,
    private_redis,
    table,
    verdict,
    write_results,
)
from redis.asyncio import Redis
from taskqueue_server.engine.settings import EngineSettings
from taskqueue_server.engine.store import RedisEngine, open_engine

N = 20_000
BATCH = 1000
CLAIM_BATCH = 100
SCALE_OPS = 500


async def open_bench(url: str) -> RedisEngine:
    return await open_engine(url, EngineSettings(key_prefix="bench"))


def record(f: Figures, key: str, measured: ph.Measured) -> None:
    f.add(key, measured.rate)
    f.add(f"{key}_trips", measured.trips / N)
    f.add(f"{key}_redis_us", measured.redis_us_per_task)


async def throughput_round(url: str, f: Figures, concurrency: int) -> None:
    client = Redis.from_url(url)
    await client.flushall()
    f.add("ceil_evalsha", await ph.pipelined_evalsha(client))
    f.add("ceil_ping", await ph.sequential_ping(client))
    engine = await open_bench(url)
    enqueued = await ph.batch_enqueue(engine, "tp", N, BATCH)
    record(f, "enqueue", enqueued)
    record(f, "direct", await ph.claim_finish_direct(engine, "tp", N, CLAIM_BATCH))
    # Steady state with a backlog: one batch enqueue per 1000, the pool claims and records.
    enqueued = await ph.batch_enqueue(engine, "tp", N, BATCH)
    drained = await ph.pool_drain(engine, "tp", N, concurrency)
    record(f, "pool", drained)
    f.add("life_trips", (enqueued.trips + drained.trips) / N)
    producer = await open_bench(url)
    samples = await ph.idle_pickup(engine, producer, "idle", 300)
    f.add("pickup_p50", percentile(samples, 50))
    f.add("pickup_p99", percentile(samples, 99))
    await producer.close()
    await engine.close()
    await client.aclose()


async def scale(url: str, f: Figures, deep: int, runs: int) -> None:
    """Single enqueue / claim cost at 1,000 then at `deep` pending; memory per task."""
    client = Redis.from_url(url)
    await client.flushall()
    engine = await open_bench(url)
    await ph.fill(engine, "scale", 1000)
    await ph.single_ops(engine, "scale", SCALE_OPS)  # warm-up, not counted
    for _ in range(runs):
        for name, value in (await ph.single_ops(engine, "scale", SCALE_OPS)).items():
            f.add(f"shallow_{name}", value)
    before = await ph.used_memory(client)
    seconds = await ph.fill(engine, "scale", deep - 1000)
    f.add("mem_per_task", (await ph.used_memory(client) - before) / (deep - 1000))
    f.add("fill_rate", (deep - 1000) / seconds)
    for _ in range(runs):
        for name, value in (await ph.single_ops(engine, "scale", SCALE_OPS)).items():
            f.add(f"deep_{name}", value)
    await engine.close()
    await client.aclose()


def ratio_rows(f: Figures) -> list[list[str]]:
    ceiling = f.median("ceil_evalsha")
    rows = []
    for key, what in (
        ("enqueue", f"batch enqueue ({BATCH}/call), tasks/s"),
        ("direct", f"claim({CLAIM_BATCH}) + finish in a loop, tasks/s"),
        ("pool", "claim+complete through WorkerPool, no-op async handler, tasks/s"),
    ):
        ratio = f.median(key) / ceiling
        rows.append([what, f.cell(key), f"{ratio:.2f}x ceiling", ">= 0.5x",
                     verdict(ratio, 0.5, True)])
        rows.append([f"  Redis time in scripts per task, us ({what.split(',')[0]})",
                     f.cell(f"{key}_redis_us", 1), "", "", ""])
    return rows


def scale_rows(f: Figures, deep: int) -> list[list[str]]:
    rows = []
    for op in ("enqueue", "claim"):
        for side, label in (("us", "client round trip"), ("redis_us", "Redis time per call")):
            shallow, deep_value = f.median(f"shallow_{op}_{side}"), f.median(f"deep_{op}_{side}")
            ratio = deep_value / shallow
            rows.append([
                f"one-task {op}, {label}, us: 1k pending -> {deep:,} pending",
                f"{f.cell(f'shallow_{op}_{side}', 1)} -> {f.cell(f'deep_{op}_{side}', 1)}",
                f"{ratio:.2f}x", "<= 1.5x", verdict(ratio, 1.5, False),
            ])
    return rows


def render(f: Figures, url: str, args: argparse.Namespace) -> str:
    rows = [
        ["ceiling: pipelined EVALSHA `return 1` (1000/pipeline), ops/s", f.cell("ceil_evalsha"),
         "", "", ""],
        ["ceiling: sequential PING, ops/s", f.cell("ceil_ping"), "", "", ""],
        *ratio_rows(f),
        [f"Redis calls per task, full life (batch enqueue, pool claim + finish, "
         f"concurrency {args.concurrency})", f.cell("life_trips", 3), "", "<= 2",
         verdict(f.median("life_trips"), 2, False)],
        ["  calls per task: batch enqueue / pool claim+finish / direct claim+finish",
         f"{f.cell('enqueue_trips', 4)} / {f.cell('pool_trips', 3)} / "
         f"{f.cell('direct_trips', 3)}", "", "", ""],
        ["idle pickup p50, ms (enqueue -> handler starts)", f.cell("pickup_p50", 2), "",
         "<= 2", verdict(f.median("pickup_p50"), 2, False)],
        ["idle pickup p99, ms", f.cell("pickup_p99", 2), "", "<= 10",
         verdict(f.median("pickup_p99"), 10, False)],
        *scale_rows(f, args.deep),
        [f"Redis memory per pending task, 100-byte payload ({args.deep:,} tasks), bytes",
         f.cell("mem_per_task"), "", "<= 1024", verdict(f.median("mem_per_task"), 1024, False)],
        ["(loading them: batch enqueue, 3 batches in flight, tasks/s)", f.cell("fill_rate"),
         "", "", ""],
    ]
    return "\n".join([
        f"# Engine benchmark, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Machine: {machine(url)}. Client: redis-py asyncio with hiredis, one process; "
        f"1-min load average at the end {load_average()} (other work on the machine skews "
        "absolute figures; ratios measured in the same run less).",
        f"Each figure: median (min-max) of {args.runs} runs; throughput over {N:,} tasks.",
        "",
        table(["figure", "value", "ratio", "target", ""], rows),
        "",
    ])


async def main_async(args: argparse.Namespace) -> str:
    with private_redis() as url:
        f = Figures()
        for _ in range(args.runs):
            await throughput_round(url, f, args.concurrency)
        await scale(url, f, args.deep, args.runs)
        return render(f, url, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--deep", type=int, default=1_000_000, help="pending tasks at depth")
    parser.add_argument("--concurrency", type=int, default=16, help="WorkerPool slots")
    args = parser.parse_args()
    write_results("engine", asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
