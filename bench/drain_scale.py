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
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

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


@dataclass(frozen=True)
class Job:
    """The handler module a worker server loads, the task type it serves, and what its
    import needs (PYTHONPATH entries put before the repository's, environment)."""

    handlers: str
    task_type: str
    path: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)


NOOP = Job("bench.noop_handlers", TASK_TYPE)


@contextlib.contextmanager
def server(
    redis_url: str,
    queue: str,
    processes: int = 1,
    port: int = 0,
    http_port: int = 0,
    extra: tuple[str, ...] = (),
    job: Job = NOOP,
    pids: list[int] | None = None,
    concurrency: int = 16,
) -> Iterator[TaskQueueClient]:
    """One taskqueue-server with the bench's no-op handler (or `job`'s), serving `queue`
    (comma-separated for several; HTTP on `http_port` when given; `extra` flags appended;
    its process id appended to `pids`)."""
    port = port or free_port()
    command = [
        str(REPO_ROOT / ".venv/bin/taskqueue-server"), "--redis-url", redis_url,
        "--handlers", job.handlers, "--concurrency", str(concurrency), "--queues", queue,
        "--port", str(port), "--http-port", str(http_port), "--log-level", "WARNING",
        "--processes", str(processes), *extra,
    ]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([*job.path, str(REPO_ROOT)]), **job.env)
    process = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    if pids is not None:
        pids.append(process.pid)
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


def completed(client: TaskQueueClient, task_type: str = TASK_TYPE) -> int:
    counts = client.stats(task_type).get(task_type)
    return 0 if counts is None else counts.completed


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU so far of these processes and their descendants (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    todo = list(pids)
    while todo:
        pid = todo.pop()
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
            for children in Path(f"/proc/{pid}/task").glob("*/children"):
                todo += [int(child) for child in children.read_text().split()]
    return total


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, all) CPU seconds of every core since boot (Linux /proc/stat): whatever ran,
    attributed to a process or not (softirqs of the loopback traffic included)."""
    ticks = os.sysconf("SC_CLK_TCK")
    user, nice, system, idle, iowait, irq, softirq, steal = (
        int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    )
    busy = user + nice + system + irq + softirq + steal
    return busy / ticks, (busy + idle + iowait) / ticks


def redis_cpu_seconds(redis_url: str) -> float:
    info = redis.Redis.from_url(redis_url).info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def drain(
    redis_url: str,
    tasks: int,
    workers: int,
    processes: int = 1,
    job: Job = NOOP,
    profile: Path | None = None,
    concurrency: int = 16,
) -> dict[str, float]:
    """Tasks/s for `workers` servers (of `processes` each) draining `tasks` queued before,
    with the worker servers' and Redis's CPU per task over the same span; `profile` names a
    py-spy raw output file for the first worker server's drain. The queue stays paused until
    every worker server is up, so the whole drain is timed (a server of several processes
    takes seconds to answer, while its first process drains already)."""
    redis.Redis.from_url(redis_url).flushall()
    with server(redis_url, "parked", job=job) as front:
        front.pause_queue("default")
        loaded = time.perf_counter()
        for start in range(0, tasks, BATCH):
            count = min(BATCH, tasks - start)
            front.enqueue_many(
                [{"task_type": job.task_type, "task_data": {"i": start + i}} for i in range(count)]
            )
        load_seconds = time.perf_counter() - loaded
        memory = redis.Redis.from_url(redis_url).info("memory")["used_memory"]
        with contextlib.ExitStack() as stack:
            pids: list[int] = []
            for _ in range(workers):
                stack.enter_context(
                    server(redis_url, "default", processes, job=job, pids=pids,
                           concurrency=concurrency)
                )  # fmt: skip
            if profile is not None:
                stack.enter_context(profiling(pids[0], profile))
            first = time.perf_counter()
            cpu, redis_cpu = cpu_seconds(pids), redis_cpu_seconds(redis_url)
            busy, every = machine_cpu_seconds()
            front.resume_queue("default")
            while completed(front, job.task_type) < tasks:
                time.sleep(POLL_SECONDS)
            busy_after, every_after = machine_cpu_seconds()
            return {
                "rate": tasks / (time.perf_counter() - first),
                "load_rate": tasks / load_seconds,
                "memory_mib": memory / 2**20,
                "worker_us": (cpu_seconds(pids) - cpu) / tasks * 1e6,
                "redis_us": (redis_cpu_seconds(redis_url) - redis_cpu) / tasks * 1e6,
                # Of all the machine's cores over the drain, the share busy (0-1).
                "machine_busy": (busy_after - busy) / (every_after - every),
            }


@contextlib.contextmanager
def profiling(pid: int, output: Path) -> Iterator[None]:
    """py-spy sampling `pid` (with its subprocesses) into `output`, raw (collapsed) stacks."""
    command = [str(REPO_ROOT / ".venv/bin/py-spy"), "record", "--format", "raw", "--rate", "200",
               "--subprocesses", "-o", str(output), "--pid", str(pid)]  # fmt: skip
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        spy.wait(30)


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
