"""Limits (issue 15): W2 drain with a rate and a concurrency limit set far above the load
against none, same run; and the claim's cost with 1,000 concurrency keys in play.

    .venv/bin/python bench/limits_bench.py --tasks 20000 --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import redis
from benchlib import load_average, machine, private_redis, table, write_results
from drain_scale import BATCH, POLL_SECONDS, TASK_TYPE, completed, server
from taskqueue_client import QueueLimits
from taskqueue_server.engine.models import Limits, NewTask, Outcome
from taskqueue_server.engine.settings import EngineSettings
from taskqueue_server.engine.store import open_engine

# Far above what one server reaches: the limits are checked on every claim, never binding.
FAR_ABOVE = [
    QueueLimits(rate_per_second=1_000_000, burst=1_000_000),
    QueueLimits(task_type=TASK_TYPE, rate_per_second=1_000_000, burst=1_000_000,
                max_running=100_000, max_running_per_key=100_000),
]  # fmt: skip
KEYS = 1000
CLAIM_COUNT = 10


def drain_rate(url: str, tasks: int, limited: bool) -> float:
    """W2: `tasks` no-op tasks queued, then one worker server drains them; tasks/s."""
    redis.Redis.from_url(url).flushall()
    with server(url, "parked") as front:
        for limits in FAR_ABOVE if limited else []:
            front.set_limits(limits)
        for start in range(0, tasks, BATCH):
            count = min(BATCH, tasks - start)
            front.enqueue_many([{"task_type": TASK_TYPE, "task_data": {}}] * count)
        with server(url, "default"):
            head_start = completed(front)
            first = time.perf_counter()
            while (done := completed(front)) < tasks:
                time.sleep(POLL_SECONDS)
            return (done - head_start) / (time.perf_counter() - first)


async def claim_cost_us(url: str, tasks: int, keys: int) -> float:
    """Microseconds per claimed task (claim of CLAIM_COUNT, then finish), `keys` keys."""
    redis.Redis.from_url(url).flushall()
    engine = await open_engine(url, EngineSettings(key_prefix="bench"))
    try:
        if keys:
            # A per-key limit in play, never binding.
            await engine.set_limits(Limits("default", TASK_TYPE, max_running_per_key=1_000_000))
        for start in range(0, tasks, BATCH):
            await engine.enqueue([
                NewTask(TASK_TYPE, {}, concurrency_key=f"k{(start + i) % keys}" if keys else "")
                for i in range(BATCH)
            ])  # fmt: skip
        claimed, first = 0, time.perf_counter()
        while batch := await engine.claim("default", [TASK_TYPE], CLAIM_COUNT, "bench"):
            await engine.finish([Outcome(c.lease) for c in batch])
            claimed += len(batch)
        return (time.perf_counter() - first) / claimed * 1e6
    finally:
        await engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with private_redis() as url:
        about = machine(url)
        rates: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.rounds):  # alternate, so drift in the machine's load hits both
            for limited in (False, True):
                rates[limited].append(drain_rate(url, args.tasks, limited))
                print(f"limited={limited}: {rates[limited][-1]:,.0f}/s", flush=True)
        plain_us = asyncio.run(claim_cost_us(url, args.tasks, 0))
        keyed_us = asyncio.run(claim_cost_us(url, args.tasks, KEYS))
    plain, limited = statistics.median(rates[False]), statistics.median(rates[True])
    drain_rows = [
        ["none", f"{plain:,.0f}", ", ".join(f"{r:,.0f}" for r in rates[False]), ""],
        ["rate + concurrency, far above the load", f"{limited:,.0f}",
         ", ".join(f"{r:,.0f}" for r in rates[True]), f"{(limited / plain - 1) * 100:+.1f} %"],
    ]  # fmt: skip
    claim_rows = [
        ["no concurrency key", f"{plain_us:,.0f}", ""],
        [f"{KEYS:,} keys, per-key limit set", f"{keyed_us:,.0f}",
         f"{(keyed_us / plain_us - 1) * 100:+.1f} %"],
    ]  # fmt: skip
    write_results(
        "limits",
        f"# Limits, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n\n"
        f"Machine: {about}; load average after: {load_average()}.\n\n"
        f"W2: {args.tasks:,} no-op tasks queued, then drained by one server (median of "
        f"{args.rounds} alternating rounds).\n\n"
        + table(["limits", "W2 drain tasks/s", "each round", "vs none"], drain_rows)
        + f"\n\nClaim cost: {args.tasks:,} tasks, claim {CLAIM_COUNT} then finish, on the "
        "engine directly.\n\n"
        + table(["tasks", "µs per task (claim + finish)", "vs none"], claim_rows)
        + "\n",
    )


if __name__ == "__main__":
    main()
