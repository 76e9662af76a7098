"""`--processes`: unary Enqueue from 32 concurrent callers and W2 drain, with 1 and 2
processes sharing the port, on a private Redis (issue 14).

    .venv/bin/python bench/processes_bench.py            # 20,000 tasks for the drain
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

import grpc
from benchlib import free_port, load_average, machine, private_redis, table, write_results
from drain_scale import drain, server
from service_load import unary_load
from taskqueue.v1 import taskqueue_pb2_grpc as pb_grpc

HEADER = ["processes", "unary Enqueue/s (32 callers)", "W2 drain tasks/s", "load average after"]
CALLERS = 32
SECONDS = 5.0


async def enqueue_rate(target: str) -> float:
    """Calls/s only: with several processes there is no one server pid to take CPU from."""
    # Several channels: one HTTP/2 connection would pin every call to one process.
    channels = [grpc.aio.insecure_channel(target) for _ in range(8)]
    try:
        loads = await asyncio.gather(*(
            unary_load(pb_grpc.TaskQueueServiceStub(ch), os.getpid(), CALLERS // 8, SECONDS, "noop")
            for ch in channels
        ))  # fmt: skip
        return sum(load.rate for load in loads)
    finally:
        await asyncio.gather(*(ch.close() for ch in channels))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tasks", type=int, default=20_000)
    args = parser.parse_args()
    rows = []
    with private_redis() as url:
        about = machine(url)
        for processes in (1, 2):
            port = free_port()
            with server(url, "parked", processes, port):  # enqueued tasks stay pending
                rate = asyncio.run(enqueue_rate(f"127.0.0.1:{port}"))
            drained = drain(url, args.tasks, 1, processes)
            rows.append([str(processes), f"{rate:,.0f}", f"{drained['rate']:,.0f}",
                         load_average()])  # fmt: skip
    write_results(
        "processes",
        f"# --processes, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n\n"
        f"Machine: {about}. Unary Enqueue: {CALLERS} callers over 8 channels for "
        f"{SECONDS:g} s. W2: {args.tasks:,} no-op tasks queued, then drained.\n\n"
        + table(HEADER, rows)
        + "\n",
    )


if __name__ == "__main__":
    main()
