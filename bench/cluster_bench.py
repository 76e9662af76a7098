"""Redis Cluster (issue 14): W2 drain on 1 Redis vs a 3-shard cluster on this machine, the
Redis CPU and memory per task, and the enqueue latency --redis-wait-replicas 1 costs.

The tasks go to 6 queues (on a cluster, spread over the 3 shards); one worker server serves
all 6. Both Redis set-ups are private, without persistence (tests/support/redis_cluster.py).

    .venv/bin/python bench/cluster_bench.py --tasks 12000
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time

import drain_scale
import redis
from benchlib import (
    REPO_ROOT,
    load_average,
    machine,
    percentile,
    private_redis,
    table,
    write_results,
)
from drain_scale import completed
from taskqueue_client import TaskQueueClient

sys.path.insert(0, str(REPO_ROOT))
from tests.support.redis_cluster import LocalCluster

QUEUES = [f"bench{i}" for i in range(6)]
BATCH = 500
HEADER = ["Redis", "W2 drain tasks/s", "Redis CPU µs/task (all primaries)",
          "Redis memory B/task (pending)", "load average after"]  # fmt: skip


def server(url: str, queues: list[str], *args: str) -> contextlib.AbstractContextManager[
    TaskQueueClient
]:
    return drain_scale.server(url, ",".join(queues), extra=args)


def primaries(ports: list[int]) -> list[redis.Redis]:
    nodes = [redis.Redis(port=p) for p in ports]
    return [n for n in nodes if n.info("replication")["role"] == "master"]


def usage(nodes: list[redis.Redis]) -> tuple[float, int]:
    """CPU seconds and used memory summed over the nodes."""
    infos = [(n.info("cpu"), n.info("memory")) for n in nodes]
    cpu = sum(c["used_cpu_sys"] + c["used_cpu_user"] for c, _ in infos)
    return cpu, sum(m["used_memory"] for _, m in infos)


def drain(url: str, nodes: list[redis.Redis], tasks: int) -> list[str]:
    """One row: tasks queued through a server serving none of QUEUES, then drained."""
    _, memory0 = usage(nodes)
    with server(url, ["parked"]) as front:
        for start in range(0, tasks, BATCH):
            queue = QUEUES[(start // BATCH) % len(QUEUES)]
            front.enqueue_many([{"task_type": "noop", "task_data": {"i": start + i},
                                 "queue": queue} for i in range(BATCH)])  # fmt: skip
        cpu0, memory1 = usage(nodes)
        with server(url, QUEUES):
            head_start = completed(front)
            first = time.perf_counter()
            while (done := completed(front)) < tasks:
                time.sleep(0.05)
            rate = (done - head_start) / (time.perf_counter() - first)
        cpu1, _ = usage(nodes)
    return [f"{rate:,.0f}", f"{(cpu1 - cpu0) / tasks * 1e6:,.0f}",
            f"{(memory1 - memory0) / tasks:,.0f}", load_average()]  # fmt: skip


def enqueue_latency(url: str, *args: str, calls: int = 400) -> tuple[float, float]:
    """p50 and p99 ms of sequential unary Enqueue on a cluster queue."""
    with server(url, ["parked"], *args) as client:
        samples = []
        for i in range(calls):
            started = time.perf_counter()
            client.enqueue("noop", {"i": i}, queue=QUEUES[i % len(QUEUES)])
            samples.append((time.perf_counter() - started) * 1000)
    return percentile(samples, 50), percentile(samples, 99)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tasks", type=int, default=12_000)
    args = parser.parse_args()
    rows = []
    with private_redis() as url:
        about = machine(url)
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        rows.append(["1 Redis", *drain(url, [redis.Redis(port=port)], args.tasks)])
    cluster = LocalCluster()
    try:
        cluster.start()
        nodes = primaries(cluster.ports)
        rows.append(["cluster, 3 primaries + 3 replicas", *drain(cluster.url, nodes, args.tasks)])
        latency = [
            [label, *(f"{v:.2f}" for v in enqueue_latency(cluster.url, *flags))]
            for label, flags in (("async replication", ()),
                                 ("--redis-wait-replicas 1", ("--redis-wait-replicas", "1")))
        ]  # fmt: skip
    finally:
        cluster.close()
    write_results(
        "cluster",
        f"# Redis Cluster, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n\n"
        f"Machine: {about}. W2: {args.tasks:,} no-op tasks over {len(QUEUES)} queues, "
        "queued first, then drained by one server (concurrency 16) serving all of them.\n\n"
        + table(HEADER, rows)
        + "\n\nUnary Enqueue, one caller, 400 calls on the cluster:\n\n"
        + table(["mode", "p50 ms", "p99 ms"], latency)
        + "\n",
    )


if __name__ == "__main__":
    main()
