"""Runs every workload against one system and writes the per-run figures as JSON.

Usage (compare.py calls it inside bench/.peers/venv):
    python runner.py --system celery --redis-url redis://127.0.0.1:PORT/0 --redis-pid PID \
        --n 20000 --runs 3 --out result.json

The job is bench/peers/job.py's (BENCH_JOB, set from --job: `realistic`, one Redis INCR in the
handler, or `noop`). The workload rules, identical for every system:
  W1   enqueue N jobs one call at a time, worker stopped; jobs/s of the producer loop.
  W1b  the same N through the library's bulk API (store flushed before and after).
  W2   the N jobs of W1 stay queued; start one worker command and poll the library's own
       record of finished jobs every 10 ms. The rate counts from the first poll that sees a
       finished job to the poll that sees all N, over the jobs finished in between, so worker
       start-up (imports, forks, connecting) is excluded the same way for everyone.
  CPU  user+system seconds of the worker tree and of redis-server between those two polls,
       per 1,000 jobs. RSS is the peak summed RSS of the worker tree over W2 and W3.
  MEM  Redis used_memory once all N are finished (results and metadata as the library keeps
       them), less what the flushed store used before W1.
  W3   with the worker now idle, enqueue one job and block on the library's result API,
       300 times (3 warm-up trips first); bounded by a time budget for slow pollers.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from driver import Driver, NoBulkAPI
from measure import PeakRSS, cpu_seconds

KINDS = ("realistic", "noop")  # job.py's; not imported here, it reads BENCH_JOB at import

SYSTEMS = {
    "celery": "celery_driver:CeleryDriver",
    "rq": "rq_driver:RQDriver",
    "rq-simple": "rq_driver:RQSimpleDriver",
    "arq": "arq_driver:ArqDriver",
    "dramatiq": "dramatiq_driver:DramatiqDriver",
    "huey": "huey_driver:HueyDriver",
    "bullmq": "bullmq_driver:BullMQDriver",
    "taskqueue": "taskqueue_driver:TaskQueueDriver",
    "taskqueue-asyncio": "taskqueue_driver:TaskQueueAsyncioDriver",
    "taskqueue-2p": "taskqueue_driver:TaskQueueTwoProcessDriver",
    "taskqueue-twocalls": "taskqueue_driver:TaskQueueTwoCallsDriver",
}
POLL_S = 0.01
WARMUP_TRIPS = 3


def load_driver(system: str, redis_url: str) -> Driver:
    module_name, class_name = SYSTEMS[system].split(":")
    cls: type[Driver] = getattr(importlib.import_module(module_name), class_name)
    return cls(redis_url)


def timed_rate(n: int, action: Any) -> float | None:
    started = time.perf_counter()
    try:
        action(n)
    except NoBulkAPI:
        return None
    return n / (time.perf_counter() - started)


def drain(
    driver: Driver, n: int, worker_pid: int, redis_pid: int, limit_s: float
) -> dict[str, Any]:
    """Poll until all n are done (or the limit passes); figures between first and last poll."""
    started = time.perf_counter()
    first: tuple[float, int, float, float] | None = None
    done = 0
    while True:
        done = driver.done_count()
        now = time.perf_counter()
        if first is None and done > 0:
            first = (now, done, cpu_seconds(worker_pid), cpu_seconds(redis_pid, tree=False))
        if done >= n or now - started > limit_s or not driver.worker_alive():
            break
        time.sleep(POLL_S)
    worker_cpu, redis_cpu = cpu_seconds(worker_pid), cpu_seconds(redis_pid, tree=False)
    if first is None or done == first[1]:
        return {"w2": None, "w2_partial": True, "done": done}
    t_first, done_first, worker_cpu0, redis_cpu0 = first
    jobs = done - done_first
    return {
        "w2": jobs / (now - t_first),
        "w2_partial": done < n,
        "done": done,
        "startup_s": t_first - started,
        "worker_cpu_ms_per_1k": (worker_cpu - worker_cpu0) / jobs * 1e6,
        "redis_cpu_ms_per_1k": (redis_cpu - redis_cpu0) / jobs * 1e6,
    }


def used_memory(driver: Driver) -> int:
    return int(driver.redis.info("memory")["used_memory"])


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    rank = max(1, round(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def run_once(driver: Driver, args: argparse.Namespace, log_path: Path) -> dict[str, Any]:
    driver.redis.flushdb()
    driver.reset()
    # others' jobs on the machine skew every figure; the 1-minute load says how much
    figures: dict[str, Any] = {"load1": os.getloadavg()[0]}
    figures["w1b"] = timed_rate(args.n, driver.enqueue_bulk)
    driver.redis.flushdb()
    driver.reset()
    memory_before = used_memory(driver)
    figures["w1"] = timed_rate(args.n, driver.enqueue_each)
    pid = driver.start_worker(log_path)
    with Path(args.pidfile).open("a") as pidfile:
        pidfile.write(f"{pid}\n")
    with PeakRSS(pid) as rss:
        figures.update(drain(driver, args.n, pid, args.redis_pid, args.drain_limit))
        if not figures["w2_partial"]:
            figures["redis_mb"] = (used_memory(driver) - memory_before) / 2**20
        # a drain cut short by its limit leaves a backlog; W3 needs an idle worker
        if not figures["w2_partial"] or driver.purge_queued():
            driver.round_trips(WARMUP_TRIPS, args.trip_budget)
            latencies = sorted(driver.round_trips(args.trips, args.trip_budget))
            figures["trips"] = len(latencies)
            for q in (50, 90, 99):
                figures[f"w3_p{q}_ms"] = percentile(latencies, q) * 1000
    figures["rss_mb"] = rss.peak / 2**20
    driver.stop_worker()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--system", choices=sorted(SYSTEMS), required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--redis-pid", type=int, required=True)
    parser.add_argument("--job", choices=KINDS, default="realistic")
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--trips", type=int, default=300)
    parser.add_argument("--trip-budget", type=float, default=90.0, help="seconds per W3")
    parser.add_argument("--drain-limit", type=float, default=300.0, help="seconds per W2")
    parser.add_argument("--out", required=True)
    parser.add_argument("--pidfile", required=True, help="worker pids, for compare.py's cleanup")
    parser.add_argument("--log", required=True, help="worker output goes here")
    args = parser.parse_args()

    os.environ["BENCH_LOG_DIR"] = str(Path(args.log).parent)
    # read by job.py and worker.mjs at import, in this process and in the workers it starts
    os.environ["BENCH_JOB"] = args.job
    driver = load_driver(args.system, args.redis_url)
    # compare.py ends a runner that overstays with SIGTERM: stop the worker on the way out
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    report: dict[str, Any] = {
        "system": driver.name,
        "job": args.job,
        "note": driver.concurrency_note,
        "versions": driver.versions(),
        "runs": [],
    }
    try:
        for run in range(args.runs):
            figures = run_once(driver, args, Path(args.log))
            print(f"  {driver.name} run {run + 1}: {json.dumps(figures)}", file=sys.stderr)
            report["runs"].append(figures)
            Path(args.out).write_text(json.dumps(report, indent=1))
    finally:
        driver.close()
        driver.redis.connection_pool.disconnect()
    return 0


if __name__ == "__main__":
    os.chdir(Path(__file__).resolve().parent)
    sys.exit(main())
