"""W1b, the bulk enqueue, this checkout's server against a baseline copy, batch by batch.

    mkdir -p /tmp/base && git archive <commit> server | tar -x -C /tmp/base
    .venv/bin/python bench/batch_ab.py --baseline /tmp/base/server [--batches 30] [--runs 3]

Two `taskqueue-server` processes share one private redis-server (each its own key prefix, a
queue no worker serves); the Python client sends `enqueue_many` of 1,000 `{"i": n}` tasks, as
compare.py's W1b does, to one then the other, alternating, so a drift of the machine's speed
falls on both alike. Per server it reports tasks/s and the CPU each process spent per task
while its batches ran: the client (this process), the server and Redis. Without --baseline
only this checkout runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import redis
from benchlib import REPO_ROOT, Figures, load_average, machine, private_redis, table, write_results
from service_load import cpu_seconds
from taskqueue_client import TaskQueueClient

sys.path.insert(0, str(REPO_ROOT))
from tests.support.server_process import ServerProcess, start_server

BATCH = 1000
WARM_BATCHES = 2


def script_usec(r: redis.Redis) -> int:
    """Microseconds Redis has spent inside scripts (EVALSHA) so far."""
    return int(r.info("commandstats").get("cmdstat_evalsha", {}).get("usec", 0))


@dataclass
class Contender:
    name: str
    server: ServerProcess
    client: TaskQueueClient
    stats: redis.Redis
    seconds: float = 0.0
    client_cpu: float = 0.0
    server_cpu: float = 0.0
    redis_cpu: float = 0.0
    script_usec: int = 0

    def send(self, redis_pid: int, start: int, timed: bool) -> None:
        batch = [{"task_type": "bench.job", "task_data": {"i": start + i}} for i in range(BATCH)]
        pids = (os.getpid(), self.server.process.pid, redis_pid)
        before = [cpu_seconds(pid) for pid in pids]
        usec = script_usec(self.stats)
        began = time.perf_counter()
        self.client.enqueue_many(batch)
        if timed:
            self.script_usec += script_usec(self.stats) - usec
            self.seconds += time.perf_counter() - began
            spent = [cpu_seconds(pid) - b for pid, b in zip(pids, before, strict=True)]
            self.client_cpu += spent[0]
            self.server_cpu += spent[1]
            self.redis_cpu += spent[2]


def one_run(url: str, baseline: str | None, batches: int, f: Figures) -> None:
    stats = redis.Redis.from_url(url)
    redis_pid = int(stats.info("server")["process_id"])
    codes = {"this checkout": None, **({"baseline": baseline} if baseline else {})}
    contenders = []
    try:
        for name, code in codes.items():
            path = os.pathsep.join([*([code] if code else []), str(REPO_ROOT)])
            server = start_server(
                handlers=["bench.noop_handlers"], redis_url=url,
                key_prefix="ab" + str(len(contenders)), env={"PYTHONPATH": path},
                extra_args=["--accept-unknown-types", "--log-level", "WARNING",
                            "--queues", "parked"],
            )  # fmt: skip
            contenders.append(Contender(name, server, TaskQueueClient(server.target), stats))
        for k in range(WARM_BATCHES + batches):
            for contender in contenders:
                contender.send(redis_pid, k * BATCH, timed=k >= WARM_BATCHES)
        n = batches * BATCH
        for c in contenders:
            f.add(f"{c.name}|rate", n / c.seconds)
            f.add(f"{c.name}|client", c.client_cpu * 1e6 / n)
            f.add(f"{c.name}|server", c.server_cpu * 1e6 / n)
            f.add(f"{c.name}|redis", c.redis_cpu * 1e6 / n)
            f.add(f"{c.name}|script", c.script_usec / n)
        if len(contenders) == 2:
            f.add("ratio", contenders[1].seconds / contenders[0].seconds)
    finally:
        for c in contenders:
            c.client.close()
            c.server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--baseline", metavar="DIR", help="a server/ directory to compare")
    parser.add_argument("--batches", type=int, default=30, help="timed batches per server per run")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.baseline and not (Path(args.baseline) / "taskqueue_server").is_dir():
        parser.error(f"--baseline {args.baseline}: no taskqueue_server package there")
    f = Figures()
    started = dt.datetime.now(dt.UTC)
    with private_redis() as url:
        for _ in range(args.runs):
            one_run(url, args.baseline, args.batches, f)
        where = machine(url)
    names = ["this checkout", *(["baseline"] if args.baseline else [])]
    rows = [
        [name, f.cell(f"{name}|rate"), f.cell(f"{name}|client", 1), f.cell(f"{name}|server", 1),
         f.cell(f"{name}|redis", 1), f.cell(f"{name}|script", 1)]
        for name in names
    ]  # fmt: skip
    header = ["server code", "EnqueueBatch tasks/s", "client CPU us/task",
              "server CPU us/task", "Redis CPU us/task", "in scripts, us/task"]  # fmt: skip
    write_results(
        "batch-ab",
        "\n".join([
            f"# W1b: EnqueueBatch of {BATCH:,}, alternated, {started:%Y-%m-%d %H:%M} UTC",
            "",
            f"{where}. {args.batches} batches per server per run, {args.runs} runs (a fresh "
            f"pair of servers each); median (min-max) of the runs. Load average after: "
            f"{load_average()}.",
            "",
            table(header, rows),
            "",
            *(["This checkout's rate against the baseline's, per run: "
               + ", ".join(f"{r:.2f}x" for r in f.runs["ratio"]), ""]
              if "ratio" in f.runs else []),
        ]),
    )  # fmt: skip


if __name__ == "__main__":
    main()
