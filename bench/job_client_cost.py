"""What the realistic job's one Redis call costs its caller's CPU, client by client.

    .venv/bin/python bench/job_client_cost.py [--calls 2000] [--runs 3]

compare.py's realistic job (bench/peers/job.py) does one INCR through the system's usual client;
W2 measures the worker's CPU per job with that call included. This measures the call alone, the
way the workers make it: 16 concurrent callers (the slots of a taskqueue-server, BullMQ's
concurrency 10 rounded up) each doing `--calls` INCRs in a row on a private redis-server, and
reports the calling process' CPU (user + system) per INCR:

- redis.asyncio on uvloop, with hiredis: what a taskqueue handler (and arq's job) uses;
- ioredis on Node.js: what BullMQ's job uses (bench/peers/bullmq).

So the worker CPU per job of compare.py can be split into the queue's own part and the job's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import time
from pathlib import Path

import redis.asyncio
import uvloop
from benchlib import BENCH_DIR, Figures, load_average, machine, private_redis, table, write_results

CONCURRENCY = 16
KEY = "bench:counter"
BULLMQ_DIR = BENCH_DIR / "peers" / "bullmq"

NODE_SCRIPT = """
import { createRequire } from "module";
const require = createRequire(process.argv[2] + "/package.json");
const Redis = require("ioredis");
const [url, calls, concurrency, key] =
  [process.argv[3], Number(process.argv[4]), Number(process.argv[5]), process.argv[6]];
const client = new Redis(url);
await client.incr(key);
const cpu = process.cpuUsage();
const started = process.hrtime.bigint();
await Promise.all(Array.from({ length: concurrency }, async () => {
  for (let i = 0; i < calls; i++) await client.incr(key);
}));
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
const used = process.cpuUsage(cpu);
console.log(JSON.stringify({ seconds, cpu_us: used.user + used.system }));
client.disconnect();
"""


async def python_run(url: str, calls: int) -> tuple[float, float]:
    """(INCR/s, client CPU us per INCR) through redis.asyncio."""
    client = redis.asyncio.Redis.from_url(url)
    try:
        await client.incr(KEY)  # connect outside the timing

        async def caller() -> None:
            for _ in range(calls):
                await client.incr(KEY)

        cpu, started = time.process_time(), time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(CONCURRENCY)))
        seconds, used = time.perf_counter() - started, time.process_time() - cpu
    finally:
        await client.aclose()
    n = calls * CONCURRENCY
    return n / seconds, used * 1e6 / n


def node_run(url: str, calls: int, script: Path) -> tuple[float, float]:
    out = subprocess.run(
        ["node", str(script), str(BULLMQ_DIR), url, str(calls), str(CONCURRENCY), KEY],
        check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    figures = json.loads(out.stdout)
    n = calls * CONCURRENCY
    return n / figures["seconds"], figures["cpu_us"] / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=2000, help="INCRs per caller per run")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    f = Figures()
    started = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    with private_redis() as url:
        script = Path(f"/tmp/job_client_cost_{time.monotonic_ns()}.mjs")
        script.write_text(NODE_SCRIPT)
        try:
            for _ in range(args.runs):  # alternated, so both see the same machine
                rate, cpu = uvloop.run(python_run(url, args.calls))
                f.add("python|rate", rate)
                f.add("python|cpu", cpu)
                rate, cpu = node_run(url, args.calls, script)
                f.add("node|rate", rate)
                f.add("node|cpu", cpu)
        finally:
            script.unlink()
        where = machine(url)
    rows = [
        ["redis.asyncio (uvloop, hiredis), Python", f.cell("python|rate"), f.cell("python|cpu", 1)],
        ["ioredis, Node.js", f.cell("node|rate"), f.cell("node|cpu", 1)],
    ]
    write_results(
        "job-client-cost",
        "\n".join([
            f"# The realistic job's INCR, client by client, {started} UTC",
            "",
            f"{where}. {CONCURRENCY} concurrent callers x {args.calls:,} INCRs a run, "
            f"{args.runs} runs alternated; median (min-max). Load average after: "
            f"{load_average()}.",
            "",
            table(["client", "INCR/s", "caller CPU us per INCR"], rows),
            "",
        ]),
    )  # fmt: skip


if __name__ == "__main__":
    main()
