"""The store a server runs without --redis-url (issue 16): the in-process fallback (fakeredis)
against the private redis-server child (AOF on), through the real server over gRPC.

    .venv/bin/python bench/default_store_bench.py [--runs 2]

Per store and run, one fresh `taskqueue-server` (no-op handler of bench/noop_handlers.py,
concurrency 16, data in a fresh temporary directory): EnqueueBatch of tasks nobody takes
(tasks/s), then enqueue-and-drain of no-op tasks (tasks/s until all completed), then the
idle round trip (Enqueue until GetResult answers COMPLETED, one task at a time). The
fallback is forced by starting the server with a PATH that holds no redis-server. Prints a
markdown table and writes it to bench/results/default_store-<date>.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import shutil
import sys
import tempfile
from pathlib import Path

import grpc
import service_load as sl
from benchlib import REPO_ROOT, Figures, load_average, machine, percentile, table, write_results
from taskqueue.v1 import taskqueue_pb2_grpc as pb_grpc

sys.path.insert(0, str(REPO_ROOT))
from tests.support.server_process import start_server

STORES = ("in-process fakeredis", "private redis-server")
BATCHES, BATCH_SIZE = 5, 1000
DRAIN_N = 5000
PICKUPS = 100


async def one_run(store: str, f: Figures) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="tq-bench-data-"))
    empty = Path(tempfile.mkdtemp(prefix="tq-bench-path-"))
    env = {"PATH": str(empty)} if store == STORES[0] else {}
    server = start_server(
        handlers=["bench.noop_handlers"], redis_url=None, key_prefix="bench", env=env,
        extra_args=["--accept-unknown-types", "--log-level", "WARNING",
                    "--data-dir", str(data_dir)],
    )
    try:
        assert ("private redis-server" in server.ready_line) == (store == STORES[1]), (
            server.ready_line
        )
        async with grpc.aio.insecure_channel(server.target) as channel:
            stub = pb_grpc.TaskQueueServiceStub(channel)
            f.add(f"{store}:batch", await sl.batch_load(stub, BATCHES, BATCH_SIZE, 2))
            f.add(f"{store}:drain", await sl.end_to_end(stub, DRAIN_N, sl.batch_producer(stub)))
            samples = await sl.idle_pickup(stub, PICKUPS)
            f.add(f"{store}:p50", percentile(samples, 50))
            f.add(f"{store}:p99", percentile(samples, 99))
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
        shutil.rmtree(empty, ignore_errors=True)


def render(f: Figures, runs: int) -> str:
    rows = [
        [f"EnqueueBatch ({BATCH_SIZE} per call, 2 in flight), tasks/s",
         *(f.cell(f"{s}:batch") for s in STORES)],
        [f"enqueue + drain {DRAIN_N:,} no-op tasks, tasks/s",
         *(f.cell(f"{s}:drain") for s in STORES)],
        ["idle round trip Enqueue -> COMPLETED, p50 ms", *(f.cell(f"{s}:p50", 1) for s in STORES)],
        ["idle round trip, p99 ms", *(f.cell(f"{s}:p99", 1) for s in STORES)],
    ]
    redis_url = "redis://127.0.0.1:6379/0"  # only asked for its version
    return "\n".join([
        f"# Default store benchmark, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Machine: {machine(redis_url, 'as the server child: AOF everysec, unix socket')}; "
        f"1-min load average at the end {load_average()}. Each figure is the median (min-max) "
        f"of {runs} runs, a fresh server and data directory each.",
        "",
        table(["figure", *STORES], rows),
        "",
    ])


async def main_async(runs: int) -> str:
    f = Figures()
    for _ in range(runs):
        for store in STORES:
            print(f"default_store_bench: {store}", file=sys.stderr, flush=True)
            await one_run(store, f)
    return render(f, runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2)
    write_results("default_store", asyncio.run(main_async(parser.parse_args().runs)))


if __name__ == "__main__":
    main()
