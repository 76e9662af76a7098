"""Redis memory per finished task (issue 16), through a real server and the Python client.

    .venv/bin/python bench/memory_bench.py [--tasks 20000]

A private redis-server (no persistence) and one `taskqueue-server` running the peers'
realistic job (bench/peers/job.py: one INCR, a small dict as the result). The client
enqueues N tasks in batches of 1,000 (with its automatic idempotency keys, as every
enqueue of the Python client has), the server runs them all, then the bench reports
INFO memory's used_memory delta / N and where it goes: MEMORY USAGE of sampled keys of each
kind, each index's MEMORY USAGE / its entries, and the task hash's OBJECT ENCODING; and the
Redis CPU per task (INFO cpu, user + sys, over enqueue and drain; the job's own INCR included,
as in the peers' runs). The server and client come from the import path, so
`PYTHONPATH=<old checkout>/server:<old checkout>/client` measures an older version.
Prints a markdown report and writes it to bench/results/memory-<date>.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Iterator

import redis
from benchlib import (
    BENCH_DIR,
    REPO_ROOT,
    load_average,
    machine,
    private_redis,
    table,
    write_results,
)
from taskqueue_client import TaskQueueClient

sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(BENCH_DIR / "peers"))
from driver import bench_job_data

from tests.support.server_process import start_server

TASK_TYPE = "bench.job"
PREFIX = "mem"
BATCH = 1000
SAMPLES = 200
DEADLINE_S = 600
# Per-task keys by their part after the queue prefix "<PREFIX>:{default}:" (engine/keys.py).
PER_TASK_KINDS = ("t:", "d:", "res:", "idem:", "deps:")
INDEXES = ("all", "s:completed", "expiry")
# Lists of the tasks whose retention ends in one second (scripts/_lib.lua, expire_at).
EXPIRY_BUCKETS = "x:"


def wait_all_completed(client: TaskQueueClient, n: int) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        stats = client.stats(TASK_TYPE).get(TASK_TYPE)
        if stats is not None and stats.completed >= n:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {stats.completed if stats else 0} of {n} completed")
        time.sleep(0.2)


def redis_cpu_seconds(r: redis.Redis) -> float:
    info = r.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def keys_of(r: redis.Redis, kind: str) -> Iterator[bytes]:
    yield from r.scan_iter(match=f"{PREFIX}:{{default}}:{kind}*", count=1000)


def breakdown(r: redis.Redis, n: int) -> tuple[list[list[str]], str]:
    """Rows (what, keys, bytes each, bytes per task) and the task hash's encoding."""
    rows: list[list[str]] = []
    encoding = "-"
    for kind in PER_TASK_KINDS:
        count, sampled, total = 0, 0, 0
        for key in keys_of(r, kind):
            count += 1
            if sampled < SAMPLES:
                total += int(r.memory_usage(key, samples=0) or 0)
                sampled += 1
                if kind == "t:" and encoding == "-":
                    encoding = r.object("encoding", key).decode()
        each = total / sampled if sampled else 0.0
        rows.append([f"`{kind}<id>`", f"{count:,}", f"{each:.0f}", f"{each * count / n:.0f}"])
    for index in INDEXES:
        key = f"{PREFIX}:{{default}}:{index}"
        entries = int(r.zcard(key))
        usage = int(r.memory_usage(key, samples=0) or 0)
        each = usage / entries if entries else 0.0
        rows.append([f"`{index}` entry", f"{entries:,}", f"{each:.0f}", f"{usage / n:.0f}"])
    entries, usage = 0, 0
    for key in keys_of(r, EXPIRY_BUCKETS):
        entries += int(r.llen(key))
        usage += int(r.memory_usage(key, samples=0) or 0)
    each = usage / entries if entries else 0.0
    rows.append(
        [f"`{EXPIRY_BUCKETS}<second>` entry", f"{entries:,}", f"{each:.0f}", f"{usage / n:.0f}"]
    )
    return rows, encoding


@contextlib.contextmanager
def taskqueue_server(url: str) -> Iterator[str]:
    """One taskqueue-server on `url` running the realistic job (also anatomy_bench.py's)."""
    server = start_server(
        handlers=["taskqueue_handlers"],
        redis_url=url,
        key_prefix=PREFIX,
        env={
            "PYTHONPATH": os.pathsep.join(
                [
                    *filter(None, [os.environ.get("PYTHONPATH")]),
                    str(REPO_ROOT),
                    str(BENCH_DIR / "peers"),
                ]
            ),
            "BENCH_REDIS_URL": url.rsplit("/", 1)[0] + "/15",
        },
        extra_args=["--concurrency", "16", "--log-level", "WARNING"],
    )
    try:
        yield server.target
    finally:
        server.stop()


def enqueue(client: TaskQueueClient, n: int) -> None:
    """N realistic jobs in batches of BATCH, each with the client's automatic idempotency key."""
    for start in range(0, n, BATCH):
        client.enqueue_many(
            [
                {"task_type": TASK_TYPE, "task_data": bench_job_data(i)}
                for i in range(start, min(n, start + BATCH))
            ]
        )


def run(n: int) -> str:
    with private_redis() as url:
        r = redis.Redis.from_url(url)
        with taskqueue_server(url) as target:
            with TaskQueueClient(target) as client:
                client.stats(TASK_TYPE)
                before = int(r.info("memory")["used_memory"])
                cpu_before = redis_cpu_seconds(r)
                enqueue(client, n)
                wait_all_completed(client, n)
            cpu = redis_cpu_seconds(r) - cpu_before
            after = int(r.info("memory")["used_memory"])
            rows, encoding = breakdown(r, n)
            sample = next(keys_of(r, "t:"))
            fields = r.hgetall(sample)
        load = load_average()
        lines = [
            f"# Redis memory per finished task, N = {n:,}",
            "",
            f"{machine(url)}; load average {load}",
            "",
            f"used_memory delta / N: **{(after - before) / n:,.0f} B** "
            f"({(after - before) / 1e6:.1f} MB in all); Redis CPU per task "
            f"{cpu / n * 1e6:.0f} us (user + sys)",
            "",
            table(["key", "keys", "bytes each (MEMORY USAGE)", "bytes per task"], rows),
            "",
            f"task hash: OBJECT ENCODING `{encoding}`, {len(fields)} fields; longest value "
            f"{max((len(v) for v in fields.values()), default=0)} bytes",
            "",
        ]
        r.close()
        return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=20_000)
    args = parser.parse_args()
    write_results("memory", run(args.tasks))


if __name__ == "__main__":
    main()
