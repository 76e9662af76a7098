"""Streamed against unary enqueue (issue 16): one task per `enqueue()` call of the asyncio
client, from 32 concurrent coroutines and from one, in the same run. Prints a markdown table
and writes it to bench/results/stream-enqueue-<date>.md.

    .venv/bin/python bench/stream_enqueue_bench.py [--runs 3] [--seconds 5]

Two processes besides a private redis-server (no persistence): this one (every producer is an
asyncio task of one AsyncTaskQueueClient) and `taskqueue-server`. The tasks go to a queue no
worker serves, so the server only stores them; each round uses a fresh queue. Each caller's
task gets the client's automatic idempotency key, as every enqueue does by default.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from pathlib import Path

import redis
from benchlib import (
    REPO_ROOT,
    Figures,
    load_average,
    machine,
    percentile,
    private_redis,
    table,
    write_results,
)
from taskqueue_client import AsyncTaskQueueClient

sys.path.insert(0, str(REPO_ROOT))
from tests.support.server_process import start_server

BULLMQ_SEQUENTIAL_ADD = 8280  # jobs/s, issue 16's quiet run: the bar for 32 coroutines
MODES = ("unary", "stream")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def redis_cpu_seconds(url: str) -> float:
    """User + system CPU time of the Redis server so far, from INFO."""
    client = redis.Redis.from_url(url)
    try:
        info = client.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
    finally:
        client.close()


def cpu_now(server_pid: int, redis_url: str) -> dict[str, float]:
    return {
        "client_us": time.process_time(),
        "server_us": cpu_seconds(server_pid),
        "redis_us": redis_cpu_seconds(redis_url),
    }


async def produce(
    target: str, server_pid: int, redis_url: str, mode: str, callers: int, seconds: float
) -> dict[str, float]:
    """Enqueues per second, p50 ms, and client, server and Redis CPU us per enqueue, of
    `callers` coroutines enqueuing for `seconds`."""
    queue = f"bench_{uuid.uuid4().hex[:8]}"
    latencies: list[float] = []
    async with AsyncTaskQueueClient(target, stream_enqueues=mode == "stream") as client:
        for _ in range(50):  # warm up: channel, stream, server caches
            await client.enqueue("noop", {"warm": True}, queue=queue)
        stop = time.perf_counter() + seconds

        async def caller() -> None:
            while time.perf_counter() < stop:
                started = time.perf_counter()
                await client.enqueue("noop", {"n": 1}, queue=queue)
                latencies.append(time.perf_counter() - started)

        began, cpu_before = time.perf_counter(), cpu_now(server_pid, redis_url)
        await asyncio.gather(*(caller() for _ in range(callers)))
        elapsed, cpu_after = time.perf_counter() - began, cpu_now(server_pid, redis_url)
    count = len(latencies)
    per_job = {name: (cpu_after[name] - cpu_before[name]) / count * 1e6 for name in cpu_after}
    return {"rate": count / elapsed, "p50": percentile(latencies, 50) * 1000, **per_job}


async def main_async(runs: int, seconds: float) -> str:
    f = Figures()
    with private_redis() as url:
        server = start_server(
            handlers=["bench.noop_handlers"],
            redis_url=url,
            key_prefix="bench",
            extra_args=["--accept-unknown-types", "--log-level", "WARNING"],
        )
        try:
            for run in range(runs):
                for callers in (32, 1):
                    for mode in MODES:
                        got = await produce(
                            server.target, server.process.pid, url, mode, callers, seconds
                        )
                        for name, value in got.items():
                            f.add(f"{mode}_{callers}_{name}", value)
                        print(
                            f"run {run + 1}: {callers} callers, {mode}: {got}",
                            file=sys.stderr,
                            flush=True,
                        )
            about = machine(url)
        finally:
            server.stop()
    return render(f, runs, seconds, about)


def render(f: Figures, runs: int, seconds: float, about: str) -> str:
    rows = []
    for callers in (32, 1):
        unary, stream = f.median(f"unary_{callers}_rate"), f.median(f"stream_{callers}_rate")
        for mode in MODES:
            rows.append(
                [
                    f"{callers} coroutine{'s' if callers > 1 else ''}, {mode}",
                    f.cell(f"{mode}_{callers}_rate"),
                    f.cell(f"{mode}_{callers}_p50", 2),
                    f.cell(f"{mode}_{callers}_client_us"),
                    f.cell(f"{mode}_{callers}_server_us"),
                    f.cell(f"{mode}_{callers}_redis_us"),
                    f"{stream / unary:.2f}x" if mode == "stream" else "",
                ]
            )
    bar = f.median("stream_32_rate")
    cpu = [f.median(f"stream_32_{part}_us") for part in ("client", "server", "redis")]
    cores, total, busiest = os.cpu_count() or 1, sum(cpu), max(cpu)
    ceiling = min(cores * 1e6 / total, 1e6 / busiest)
    verdict = "met" if bar >= BULLMQ_SEQUENTIAL_ADD else "MISSED"
    return "\n".join(
        [
            f"# Streamed enqueue against unary, {time.strftime('%Y-%m-%d')}",
            "",
            f"Medians of {runs} runs of {seconds:g} s each (min-max); {about}; 1-min load average "
            f"at the end {load_average()}.",
            "",
            table(
                [
                    "producer, one task per call",
                    "jobs/s",
                    "p50 ms",
                    "client CPU us/job",
                    "server CPU us/job",
                    "Redis CPU us/job",
                    "stream/unary",
                ],
                rows,
            ),
            "",
            f"Bar (issue 16): 32 coroutines at least BullMQ's sequential add, "
            f"{BULLMQ_SEQUENTIAL_ADD:,} jobs/s: {bar:,.0f}, {verdict}.",
            "",
            f"CPU ceiling of the streamed 32-coroutine load on {cores} idle cores: "
            f"{ceiling:,.0f} jobs/s (client, server and Redis need {total:.0f} us of CPU per "
            f"job together; the busiest process alone {busiest:.0f} us, one core at most).",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    write_results("stream-enqueue", asyncio.run(main_async(args.runs, args.seconds)))


if __name__ == "__main__":
    main()
