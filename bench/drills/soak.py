"""Soak: many tasks through one server; memory, fds, connections and asyncio tasks must stay flat.

    .venv/bin/python bench/drills/soak.py --tasks 1000000

Runs against a Redis of its own (started here, no persistence, on a free loopback port) so
Redis memory and key counts are the soak's alone. Retention is short (--ttl, default 30 s),
so finished tasks are trimmed during the run and a flat line is reachable. Every sample
records: tasks done, throughput, server RSS and open fds (/proc), the server's asyncio task
and thread counts (asked through a probe task the server runs), Redis used_memory, keys and
connected clients. Prints a markdown table and the drift between the first sample after
trimming started and the last one.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import grpc
from taskqueue.v1 import taskqueue_pb2 as pb

from tests.chaos.cluster import ChaosCluster
from tests.chaos.harness import live_count, open_fds, request, rss_kb, stub
from tests.chaos.private_redis import PrivateRedis
from tests.support.server_process import DEMO_HANDLERS

COLUMNS = (
    "elapsed s", "tasks done", "tasks/s", "server RSS MiB", "server fds", "asyncio tasks",
    "threads", "redis used MiB", "redis keys", "redis clients",
)  # fmt: skip


def probe(api, task_id_holder: list[str]) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Ask the server about itself by running a probe task (it is queued behind the backlog)."""
    task_id = api.Enqueue(request("chaos_probe", {}, priority=100), timeout=10).task_id
    reply = api.GetResult(pb.GetResultRequest(task_id=task_id, wait_seconds=30), timeout=35)
    task_id_holder.append(task_id)
    return {k: float(v) for k, v in reply.result.items()}


def sample(api, server, store, started: float, done: int, last: list[float]):  # type: ignore[no-untyped-def]
    now = time.monotonic()
    rate = (done - last[1]) / max(1e-9, now - last[0])
    last[:] = [now, done]
    inside = probe(api, [])
    memory = store.info("memory")
    clients = store.info("clients")
    return (
        round(now - started), done, round(rate), round(rss_kb(server.process.pid) / 1024, 1),
        open_fds(server.process.pid), int(inside["asyncio_tasks"]), int(inside["threads"]),
        round(memory["used_memory"] / 2**20, 1), store.dbsize(), clients["connected_clients"],
    )  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--ttl", type=int, default=30, help="task and result retention, s")
    parser.add_argument("--sample-every", type=float, default=30.0, help="seconds")
    parser.add_argument("--backlog", type=int, default=5000, help="most live tasks at once")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--max-minutes", type=float, default=0, help="stop early (0: never)")
    args = parser.parse_args()
    redis = PrivateRedis(appendonly=False)
    redis.start()
    cluster = ChaosCluster(redis_url=redis.url, label="soak")
    rows = []
    try:
        server = cluster.start(
            "--concurrency", str(args.concurrency), "--log-level", "WARNING",
            "--task-ttl-seconds", str(args.ttl), "--result-ttl-seconds", str(args.ttl),
            handlers=(DEMO_HANDLERS,),
        )  # fmt: skip
        api = stub(grpc.insecure_channel(server.target))
        store = redis.client()
        started = time.monotonic()
        last = [started, 0.0]
        rows.append(sample(api, server, store, started, 0, last))
        print(" | ".join(COLUMNS), flush=True)
        print(" | ".join(map(str, rows[-1])), flush=True)
        enqueued, next_sample = 0, started + args.sample_every
        stop_at = started + args.max_minutes * 60 if args.max_minutes else float("inf")
        while time.monotonic() < stop_at:
            live = live_count(api)
            done = enqueued - live
            if enqueued >= args.tasks and live == 0:
                break
            if enqueued < args.tasks and live < args.backlog:
                size = min(1000, args.tasks - enqueued, args.backlog - live)
                batch = [request("echo", {"n": enqueued + i}) for i in range(size)]
                api.EnqueueBatch(pb.EnqueueBatchRequest(tasks=batch), timeout=30)
                enqueued += size
            else:
                time.sleep(0.05)  # the backlog is full; the server is working through it
            if time.monotonic() >= next_sample:
                rows.append(sample(api, server, store, started, done, last))
                print(" | ".join(map(str, rows[-1])), flush=True)
                next_sample += args.sample_every
        rows.append(sample(api, server, store, started, enqueued - live_count(api), last))
    finally:
        cluster.close()
        redis.close()
    report(args, rows)
    return 0


def report(args: argparse.Namespace, rows: list[tuple]) -> None:  # type: ignore[type-arg]
    print(f"\n### Soak: {rows[-1][1]} tasks through one server, retention {args.ttl} s\n")
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for row in rows:
        print("| " + " | ".join(map(str, row)) + " |")
    # Flat means: from the first sample after retention began trimming to the end.
    trimmed = [r for r in rows if r[0] >= 2 * args.ttl] or rows
    first, last = trimmed[0], trimmed[-1]
    print(f"\nDrift from {first[0]} s to {last[0]} s: RSS {last[3] - first[3]:+.1f} MiB, "
          f"fds {last[4] - first[4]:+d}, asyncio tasks {last[5] - first[5]:+d}, "
          f"threads {last[6] - first[6]:+d}, Redis {last[7] - first[7]:+.1f} MiB, "
          f"keys {last[8] - first[8]:+d}, clients {last[9] - first[9]:+d}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
