"""Remote workers (issue 12): drain rate, idle pickup latency, renewal cost, and the mixed
fleet, all on a private Redis and in one run so the figures compare.

- W2: 20,000 no-op tasks queued, then drained by one server's in-process pool, or by 1 or 2
  remote Python worker processes (`taskqueue worker`, 16 slots each) leasing through one
  server that runs no handlers for them. Rate measured as in drain_scale.py.
- Idle pickup: one idle remote worker; enqueue one task at a time; handler start minus send.
- Renewal: one caller holds 1,000 leases and renews all of them per RenewLeases call.
- Mixed fleet: tests/support/fleet.py with 5,000 tasks (needs node); each completed once.

    .venv/bin/python bench/remote_worker_bench.py [--tasks 20000] [--fleet-tasks 5000]
    .venv/bin/python bench/remote_worker_bench.py --drains-only --repeat 3   # W2 A/B only
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
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
from drain_scale import BATCH, TASK_TYPE, completed, server
from taskqueue.v1 import worker_pb2 as wpb
from taskqueue.v1 import worker_pb2_grpc as wpb_grpc

sys.path.insert(0, str(REPO_ROOT))
WORKER = str(REPO_ROOT / ".venv/bin/taskqueue")


@contextlib.contextmanager
def remote_workers(target: str, count: int, client: str | None = None) -> Iterator[None]:
    """`count` worker processes; `client`: another taskqueue_client to run them with (the
    `client/` directory of an older checkout), for a before/after in one run."""
    command = [WORKER, "worker", "--target", target, "--handlers", "bench.remote_noop_handlers",
               "--concurrency", "16", *os.environ.get("BENCH_WORKER_ARGS", "").split()]  # fmt: skip
    path = [client] if client else []
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([*path, str(REPO_ROOT)]))
    processes = [
        subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(count)
    ]
    try:
        yield
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(30)


def cpu_seconds() -> float:
    """CPU time so far of this bench's child processes (servers, workers, Redis)."""
    total, tick = 0, os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == os.getpid():  # ppid
                total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / tick


@dataclass
class Drain:
    rate: float  # tasks/s
    cpu_us: float  # CPU of every process involved (servers, workers, Redis) per task


def timed_drain(
    redis_url: str, tasks: int, workers: Callable[[str], contextlib.AbstractContextManager[Any]]
) -> Drain:
    """Queue `tasks` through a front server that runs none, then time `workers(front target)`
    draining them: the rate as in drain_scale.py, and the CPU all processes spent per task
    (a cost that load on the machine skews far less than the rate)."""
    redis.Redis.from_url(redis_url).flushall()
    with server(redis_url, "parked") as front:
        for start in range(0, tasks, BATCH):
            count = min(BATCH, tasks - start)
            front.enqueue_many([{"task_type": TASK_TYPE} for _ in range(count)])
        with workers(front.target):
            head_start, cpu = completed(front), cpu_seconds()
            first = time.perf_counter()
            while (done := completed(front)) < tasks:
                time.sleep(0.05)
            seconds, cpu = time.perf_counter() - first, cpu_seconds() - cpu
            return Drain((done - head_start) / seconds, cpu / (done - head_start) * 1e6)


def in_process_drain(redis_url: str, tasks: int) -> Drain:
    return timed_drain(redis_url, tasks, lambda _: server(redis_url, "default"))


def remote_drain(redis_url: str, tasks: int, processes: int, client: str | None = None) -> Drain:
    """`processes` remote workers draining `tasks` queued before they start."""
    return timed_drain(redis_url, tasks, lambda target: remote_workers(target, processes, client))


def pickup_latency(redis_url: str, samples: int) -> list[float]:
    """Milliseconds from sending Enqueue to the idle remote handler's start."""
    redis.Redis.from_url(redis_url).flushall()
    latencies = []
    with server(redis_url, "parked") as front, remote_workers(front.target, 1):
        front.wait(front.enqueue("stamp"), timeout=60)  # the worker is up and polling
        for _ in range(samples):
            time.sleep(0.05)  # idle again: back in its long poll
            sent = time.time()
            result = front.wait(front.enqueue("stamp"), timeout=30)
            latencies.append((float(result["started"]) - sent) * 1000)
    return latencies


def renewals_per_second(redis_url: str, held: int, seconds: float) -> float:
    redis.Redis.from_url(redis_url).flushall()
    with server(redis_url, "parked") as front:
        front.enqueue_many([{"task_type": "stamp"} for _ in range(held)])
        with grpc.insecure_channel(front.target) as channel:
            workers = wpb_grpc.WorkerServiceStub(channel)
            lease = wpb.LeaseTasksRequest(worker_id="bench", task_types=["stamp"], max_tasks=held)
            leased = workers.LeaseTasks(lease, timeout=60).tasks
            assert len(leased) == held, len(leased)
            leases = [wpb.TaskLease(task_id=t.task_id, lease_token=t.lease_token) for t in leased]
            renew = wpb.RenewLeasesRequest(worker_id="bench", leases=leases)
            calls, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                reply = workers.RenewLeases(renew, timeout=30)
                assert len(reply.renewed) == held
                calls += 1
            return calls / (time.perf_counter() - start)


def fleet(redis_url: str, tasks: int) -> str:
    os.environ["TASKQUEUE_TEST_REDIS_URL"] = redis_url  # read when tests.support loads
    from tests.support.fleet import check_fleet, run_fleet
    from tests.support.server_process import ServerFactory

    with ServerFactory(redis_url=redis_url) as factory:
        run = run_fleet(factory, redis_url, tasks, timeout=600)
    check_fleet(run)
    kinds = (
        f"server pools ran {run.by_kind['server']}, remote Python {run.by_kind['python']}, "
        f"Node {len(run.node_done)}"
    )
    rate = tasks / run.seconds
    return f"{tasks:,} tasks in {run.seconds:.1f} s ({rate:,.0f}/s), each completed once; {kinds}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--fleet-tasks", type=int, default=5_000)
    parser.add_argument(
        "--drains-only",
        action="store_true",
        help="only the in-process and 1-remote drains; prints, writes nothing",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run the drains this many times, interleaved; report the medians",
    )
    parser.add_argument(
        "--baseline-client",
        metavar="DIR",
        help="also drain with 1 remote worker running the taskqueue_client in DIR "
        "(`git archive main client | tar -x -C /tmp/b` gives /tmp/b/client)",
    )
    args = parser.parse_args()
    with private_redis() as url:
        about = machine(url)
        # In the order they run.
        runs: dict[str, list[Drain]] = {"in-process": [], "1 remote, baseline client": [],
                                        "1 remote": [], "2 remote": []}  # fmt: skip
        lines = []
        for _ in range(args.repeat):
            runs["in-process"].append(in_process_drain(url, args.tasks))
            if args.baseline_client:
                baseline = remote_drain(url, args.tasks, 1, args.baseline_client)
                runs["1 remote, baseline client"].append(baseline)
            runs["1 remote"].append(remote_drain(url, args.tasks, 1))
            if not args.drains_only:
                runs["2 remote"].append(remote_drain(url, args.tasks, 2))
            ratio = runs["1 remote"][-1].rate / runs["in-process"][-1].rate
            lines.append(
                ", ".join(f"{name} {drains[-1].rate:,.0f}/s ({drains[-1].cpu_us:.0f} us CPU/task)"
                          for name, drains in runs.items() if drains)
                + f"; 1 remote/in-process {ratio:.2f}x; load {load_average()}"
            )  # fmt: skip
            print(lines[-1], flush=True)
        rate = {name: statistics.median(d.rate for d in drains) if drains else 0.0
                for name, drains in runs.items()}  # fmt: skip
        cpu = {name: statistics.median(d.cpu_us for d in drains) if drains else 0.0
               for name, drains in runs.items()}  # fmt: skip
        in_process, one, two = rate["in-process"], rate["1 remote"], rate["2 remote"]
        drain_load = load_average()
        if args.drains_only:
            return
        latencies = pickup_latency(url, args.samples)
        renewals = renewals_per_second(url, 1000, 10.0)
        fleet_line = fleet(url, args.fleet_tasks) if args.fleet_tasks else "not run"
    rows = [
        ["W2 drain, in-process pool (1 server, 16 slots)", f"{in_process:,.0f} tasks/s",
         f"{cpu['in-process']:.0f} us CPU/task"],
        ["W2 drain, 1 remote Python worker (16 slots)", f"{one:,.0f} tasks/s",
         f"{one / in_process:.2f}x in-process (target 0.7x); {cpu['1 remote']:.0f} us CPU/task"],
        ["W2 drain, 2 remote Python workers", f"{two:,.0f} tasks/s",
         f"{two / in_process:.2f}x; {cpu['2 remote']:.0f} us CPU/task"],
        *([["W2 drain, 1 remote worker with the baseline client", f"{base:,.0f} tasks/s",
            f"{base / in_process:.2f}x in-process; {cpu['1 remote, baseline client']:.0f} us "
            f"CPU/task ({args.baseline_client})"]]
          if (base := rate["1 remote, baseline client"]) else []),
        ["Idle pickup, enqueue to remote handler start", f"p50 {percentile(latencies, 50):.1f} ms",
         f"p90 {percentile(latencies, 90):.1f} ms, p99 {percentile(latencies, 99):.1f} ms "
         f"({len(latencies)} samples; target p50 < 5 ms)"],
        ["RenewLeases with 1,000 leases per call", f"{renewals:,.1f} calls/s",
         f"{renewals * 1000:,.0f} leases renewed/s"],
    ]  # fmt: skip
    write_results(
        "remote-workers",
        f"# Remote workers, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n\n"
        f"Machine: {about}. Load average after the drains: {drain_load}; at the end: "
        f"{load_average()}. Median of {args.repeat} interleaved run(s) of each drain; "
        f"{args.tasks:,} tasks per drain. CPU/task: every process of the drain (servers, "
        "workers, Redis) while it ran, per task drained.\n\n"
        + table(["figure", "value", "note"], rows)
        + f"\n\nMixed fleet (2 server pools + 2 remote Python + 1 Node worker): {fleet_line}.\n"
        + "\nEach round of drains, in order:\n\n"
        + "".join(f"- {line}\n" for line in lines),
    )


if __name__ == "__main__":
    main()
