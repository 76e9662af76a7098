"""W2 at scale (issue 7): how the drain rate of taskqueue-server holds up with depth and workers.

Loads N no-op tasks through a front server whose workers watch an unused queue, then starts
K worker servers and times the drain from the moment the last of them answers (tasks done
before then are left out of the rate) to the Stats poll that sees all N. The first servers
start draining while the others boot, so N must be large enough for that head start to be
small. Runs on a private Redis.

    .venv/bin/python bench/drain_scale.py                      # 200k x1, 200k x2, 1M x1
    .venv/bin/python bench/drain_scale.py --cases 20000:1,1000000:2
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import time
from collections.abc import Iterator

import redis
from benchlib import (
    REPO_ROOT,
    free_port,
    load_average,
    machine,
    private_redis,
    table,
    write_results,
)
from taskqueue_client import TaskQueueClient

TASK_TYPE = "noop"
BATCH = 1000
POLL_SECONDS = 0.05


@contextlib.contextmanager
def server(
    redis_url: str,
    queue: str,
    processes: int = 1,
    port: int = 0,
    http_port: int = 0,
    extra: tuple[str, ...] = (),
) -> Iterator[TaskQueueClient]:
    """One taskqueue-server with the bench's no-op handler, serving `queue` (comma-separated
    for several; HTTP on `http_port` when given; `extra` flags appended)."""
    port = port or free_port()
    command = [
        str(REPO_ROOT / ".venv/bin/taskqueue-server"), "--redis-url", redis_url,
        "--handlers", "bench.noop_handlers", "--concurrency", "16", "--queues", queue,
        "--port", str(port), "--http-port", str(http_port), "--log-level", "WARNING",
        "--processes", str(processes), *extra,
    ]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    process = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    client = TaskQueueClient(f"127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                client.stats()
                break
            except Exception:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield client
    finally:
        client.close()
        process.terminate()
        process.wait(30)


def completed(client: TaskQueueClient) -> int:
    counts = client.stats(TASK_TYPE).get(TASK_TYPE)
    return 0 if counts is None else counts.completed


def drain(redis_url: str, tasks: int, workers: int, processes: int = 1) -> dict[str, float]:
    """Tasks/s for `workers` servers (of `processes` each) draining `tasks` queued before."""
    redis.Redis.from_url(redis_url).flushall()
    with server(redis_url, "parked") as front:
        loaded = time.perf_counter()
        for start in range(0, tasks, BATCH):
            count = min(BATCH, tasks - start)
            front.enqueue_many(
                [{"task_type": TASK_TYPE, "task_data": {"i": start + i}} for i in range(count)]
            )
        load_seconds = time.perf_counter() - loaded
        memory = redis.Redis.from_url(redis_url).info("memory")["used_memory"]
        with contextlib.ExitStack() as stack:
            for _ in range(workers):
                stack.enter_context(server(redis_url, "default", processes))
            head_start = completed(front)
            first = time.perf_counter()
            while (done := completed(front)) < tasks:
                time.sleep(POLL_SECONDS)
            return {
                "rate": (done - head_start) / (time.perf_counter() - first),
                "head_start": head_start,
                "load_rate": tasks / load_seconds,
                "memory_mib": memory / 2**20,
            }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--cases", default="200000:1,200000:2,1000000:1",
                        help="comma-separated TASKS:WORKER_SERVERS[:PROCESSES_EACH]")  # fmt: skip
    args = parser.parse_args()
    rows = []
    with private_redis() as url:
        about = machine(url)
        for case in args.cases.split(","):
            tasks, workers, processes = ([int(part) for part in case.split(":")] + [1])[:3]
            print(f"drain_scale: {tasks:,} tasks, {workers}x{processes} process(es)", flush=True)
            result = drain(url, tasks, workers, processes)
            rows.append([
                f"{tasks:,}", f"{workers} x {processes}", f"{result['head_start']:,.0f}",
                f"{result['rate']:,.0f}", f"{result['load_rate']:,.0f}",
                f"{result['memory_mib']:,.0f}", load_average(),
            ])  # fmt: skip
    header = ["queued tasks", "worker servers x processes", "done before all were up",
              "W2 drain tasks/s",
              "EnqueueBatch load tasks/s",
              "Redis MiB when loaded", "load average after"]  # fmt: skip
    write_results(
        "drain-scale",
        f"# W2 at scale, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n\n"
        f"Machine: {about}. One run per case; each worker server runs 16 slots.\n\n"
        + table(header, rows)
        + "\n",
    )


if __name__ == "__main__":
    main()
