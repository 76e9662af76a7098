"""Per-call latency (issue 16): the idle round trip and sequential unary Enqueue, A/B in one run.

    .venv/bin/python bench/roundtrip_bench.py [--trips 500] [--calls 2000] [--runs 3]
                                              [--profile DIR] [--baseline DIR]

One `taskqueue-server --concurrency 16` on a private redis-server runs the realistic bench job
(bench/peers/job.py: one Redis INCR in the handler), and bench/echo_server.py answers Enqueue
with a canned reply. Every call comes from one synchronous caller, one call at a time, as
bench/peers/taskqueue_driver.py makes them:

- round trip, two calls: `client.enqueue()` then `client.wait()` (Enqueue, then GetResult);
- round trip, one call: `client.run()` (Enqueue with wait_seconds), when the client has it;
- sequential Enqueue through the client, through a bare stub (no client wrapper), and the
  bare stub against the echo server (the ceiling of Python gRPC here);
- the floors: the same stub against echo servers on uvloop whose answer first waits for 0, 1
  and 3 sequential Redis script calls from Python (`return 1`): what a unary Enqueue (one
  round trip) and the round trip of `run()` (the enqueue, the handler's call, the finish)
  cost before any work of ours, p50 of one call at a time.

The variants alternate within each run, so machine load skews them alike. `--baseline DIR`
(a server package directory, e.g. `git archive <commit> server | tar -x -C /tmp/base`, then
`--baseline /tmp/base/server`) runs a second server from that code whose `run()` round trip
alternates with this checkout's. With --profile DIR
it records py-spy profiles of the server during each loop instead (raw stacks, for
bench/profile_top.py).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import redis
from benchlib import REPO_ROOT, Figures, load_average, percentile, private_redis, table
from service_bench import echo_server
from service_load import cpu_seconds
from taskqueue.v1 import taskqueue_pb2 as pb
from taskqueue.v1 import taskqueue_pb2_grpc as pb_grpc
from taskqueue_client import TaskQueueClient

sys.path.insert(0, str(REPO_ROOT))
from tests.support.server_process import ServerProcess, start_server

TASK_TYPE = "bench.job"
FLOOR_CALLS = (0, 1, 3)
PEERS = REPO_ROOT / "bench" / "peers"


def note(what: str) -> None:
    print(f"roundtrip_bench: {what}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def job_server(url: str, code: str | None = None) -> Iterator[ServerProcess]:
    """The measured server; `code`: a server package directory imported instead of this
    checkout's (--baseline)."""
    path = [*([code] if code else []), str(REPO_ROOT), str(PEERS)]
    server = start_server(
        handlers=["taskqueue_handlers"],
        redis_url=url,
        key_prefix="rtb" if code else "rt",
        extra_args=["--concurrency", "16", "--log-level", "WARNING"],
        env={"PYTHONPATH": ":".join(path), "BENCH_REDIS_URL": url},
    )
    try:
        yield server
    finally:
        server.stop()


def timed(n: int, call: Callable[[int], object]) -> list[float]:
    """Milliseconds per call, `n` calls one after another."""
    samples = []
    for i in range(n):
        start = time.perf_counter()
        call(i)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def rate(samples: list[float]) -> float:
    return len(samples) / (sum(samples) / 1000)


def cpu_us_per_call(pid: int, n: int, call: Callable[[int], object]) -> tuple[float, float]:
    """Calls/s of `n` calls, and the CPU (us per call) process `pid` spent meanwhile."""
    before = cpu_seconds(pid)
    calls_per_second = rate(timed(n, call))
    return calls_per_second, (cpu_seconds(pid) - before) * 1e6 / n


def one_run(
    client: TaskQueueClient,
    stub: pb_grpc.TaskQueueServiceStub,
    echo: pb_grpc.TaskQueueServiceStub,
    trips: int,
    calls: int,
    pids: tuple[int, int, int],
    f: Figures,
    floors: dict[int, pb_grpc.TaskQueueServiceStub],
    baseline: TaskQueueClient | None = None,
) -> None:
    data = {"i": 0}
    bare = pb.EnqueueRequest(task_type=TASK_TYPE, queue="parked")
    bare.task_data.update(data)
    note("round trips")
    f.add(
        "trip2",
        percentile(
            timed(trips, lambda i: client.wait(client.enqueue(TASK_TYPE, data), timeout=30)), 50
        ),
    )
    for name, target in (("trip1", client), ("trip1_base", baseline)):
        if target is not None:
            trip = percentile(
                timed(trips, lambda i, t=target: t.run(TASK_TYPE, data, timeout=30)), 50
            )
            f.add(name, trip)
    note("floors")
    for redis_calls, target in floors.items():
        samples = timed(trips, lambda i, t=target: t.Enqueue(bare))
        f.add(f"floor{redis_calls}", percentile(samples, 50))
    note("sequential Enqueue")
    # Into a queue no worker serves, so the enqueues measure the call alone.
    for name, target, pid in (("echo", echo, pids[0]), ("stub", stub, pids[1])):
        calls_per_second, cpu_us = cpu_us_per_call(pid, calls, lambda i, t=target: t.Enqueue(bare))
        f.add(name, calls_per_second)
        f.add(f"{name}_cpu", cpu_us)
    redis_us = cpu_us_per_call(pids[2], calls, lambda i: stub.Enqueue(bare))[1]
    f.add("redis_cpu", redis_us)
    f.add("client", rate(timed(calls, lambda i: client.enqueue(TASK_TYPE, data, queue="parked"))))


def render(f: Figures, runs: int) -> str:
    echo = f.median("echo")
    rows = [
        ["round trip p50, ms: enqueue() then wait() (two calls)", f.cell("trip2", 2), ""],
        [
            "round trip p50, ms: run() (Enqueue with wait_seconds)",
            f.cell("trip1", 2) if "trip1" in f.runs else "-",
            "",
        ],
        *(
            [["round trip p50, ms: run() on the --baseline server", f.cell("trip1_base", 2), ""]]
            if "trip1_base" in f.runs
            else []
        ),
        *(
            [
                f"floor p50, ms: echo on uvloop answering after {calls} Redis round trip(s)",
                f.cell(f"floor{calls}", 2),
                "",
            ]
            for calls in FLOOR_CALLS
        ),
        ["sequential Enqueue/s, bare stub on the echo server", f.cell("echo"), "1.00x"],
        [
            "sequential Enqueue/s, bare stub on taskqueue-server",
            f.cell("stub"),
            f"{f.median('stub') / echo:.2f}x",
        ],
        [
            "  server CPU per call, us: echo -> taskqueue-server",
            f"{f.cell('echo_cpu')} -> {f.cell('stub_cpu')}",
            "",
        ],
        ["  redis-server CPU per Enqueue, us", f.cell("redis_cpu"), ""],
        [
            "sequential Enqueue/s, TaskQueueClient.enqueue()",
            f.cell("client"),
            f"{f.median('client') / echo:.2f}x",
        ],
    ]
    return "\n".join(
        [
            f"# Round trip and sequential Enqueue, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
            "",
            f"1-min load average at the end {load_average()}; median (min-max) of {runs} runs.",
            "",
            table(["figure", "value", "vs echo"], rows),
            "",
        ]
    )


def profile(server: ServerProcess, client: TaskQueueClient, out: Path, n: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    spy = str(Path(sys.executable).parent / "py-spy")
    data = {"i": 0}
    loops: dict[str, Callable[[int], object]] = {
        "trip2": lambda i: client.wait(client.enqueue(TASK_TYPE, data), timeout=30),
        "enqueue": lambda i: client.enqueue(TASK_TYPE, data, queue="parked"),
    }
    if hasattr(client, "run"):
        loops["trip1"] = lambda i: client.run(TASK_TYPE, data, timeout=30)
    for name, loop in loops.items():
        record = subprocess.Popen(
            [
                spy,
                "record",
                "--pid",
                str(server.process.pid),
                "--rate",
                "250",
                "--format",
                "raw",
                "--output",
                str(out / f"{name}.txt"),
                "--idle",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1)
        timed(n, loop)
        record.send_signal(2)
        record.wait(60)
    print(f"profiles in {out}; summarise with bench/profile_top.py {out}/trip2.txt")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trips", type=int, default=500)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", metavar="DIR", type=Path)
    parser.add_argument(
        "--baseline", metavar="DIR", help="a server/ directory whose run() round trip alternates"
    )
    args = parser.parse_args()
    f = Figures()
    with (
        private_redis() as url,
        job_server(url) as server,
        job_server(url, args.baseline) if args.baseline else contextlib.nullcontext() as base,
        echo_server() as echo,
        grpc.insecure_channel(server.target) as channel,
        grpc.insecure_channel(echo[0]) as echo_channel,
        contextlib.ExitStack() as stack,
    ):
        floors = {
            calls: pb_grpc.TaskQueueServiceStub(
                stack.enter_context(
                    grpc.insecure_channel(
                        stack.enter_context(
                            echo_server("--redis-url", url, "--redis-calls", str(calls))
                        )[0]
                    )
                )
            )
            for calls in FLOOR_CALLS
        }
        client = TaskQueueClient(server.target)
        baseline = TaskQueueClient(base.target) if base else None
        stub = pb_grpc.TaskQueueServiceStub(channel)
        echo_stub = pb_grpc.TaskQueueServiceStub(echo_channel)
        redis_pid = int(redis.Redis.from_url(url).info("server")["process_id"])
        pids = (echo[1], server.process.pid, redis_pid)
        timed(50, lambda i: client.wait(client.enqueue(TASK_TYPE, {"i": i}), timeout=30))
        if args.profile:
            profile(server, client, args.profile, args.calls)
            return
        for _ in range(args.runs):
            one_run(client, stub, echo_stub, args.trips, args.calls, pids, f, floors, baseline)
        client.close()
        if baseline:
            baseline.close()
        scripts = redis.Redis.from_url(url).info("commandstats").get("cmdstat_evalsha", {})
    print(render(f, args.runs))
    # Redis's own time per script call (all scripts: enqueue, claim, finish, timers).
    print(
        f"Redis: {scripts.get('calls', 0):,} script calls, "
        f"{scripts.get('usec_per_call', 0):.1f} us each inside Redis"
    )


if __name__ == "__main__":
    main()
