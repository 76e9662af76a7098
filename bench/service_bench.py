"""Service benchmark (issue 3): our gRPC server against a bare grpc.aio echo server measured
in the same run. Prints a markdown table and writes it to bench/results/service-<date>.md.

    .venv/bin/python bench/service_bench.py [--runs 3] [--profile DIR]

Three processes besides Redis: this one (the client: every caller is an asyncio task on one
grpc.aio channel), bench/echo_server.py, and `taskqueue-server` on a private redis-server
(no persistence) with the no-op handler of bench/noop_handlers.py. With --profile DIR it
instead records py-spy profiles of the server under the unary Enqueue load and the drain.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import redis
import service_load as sl
from benchlib import (
    REPO_ROOT,
    Figures,
    load_average,
    machine,
    percentile,
    private_redis,
    table,
    verdict,
    write_results,
)
from taskqueue.v1 import taskqueue_pb2_grpc as pb_grpc

sys.path.insert(0, str(REPO_ROOT))
from tests.support.server_process import ServerProcess, start_server

CALLERS = 32
SECONDS = 5.0
E2E_N = 10_000
WATCHERS = 1000


def note(what: str) -> None:
    print(f"service_bench: {what}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def echo_server(*extra_args: str) -> Iterator[tuple[str, int]]:
    """bench/echo_server.py (`extra_args`: e.g. --redis-url URL --redis-calls N): target, pid."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    args = [sys.executable, str(REPO_ROOT / "bench" / "echo_server.py"), "--port", "0"]
    args += extra_args
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if "echo ready on" not in line:
            raise RuntimeError(f"echo server did not start: {line!r}")
        yield line.rsplit(" ", 1)[1].strip(), process.pid
    finally:
        process.terminate()
        process.wait(10)


@contextlib.contextmanager
def our_server(url: str) -> Iterator[ServerProcess]:
    server = start_server(
        handlers=["bench.noop_handlers"], redis_url=url, key_prefix="bench",
        extra_args=["--accept-unknown-types", "--log-level", "WARNING"],
    )
    try:
        yield server
    finally:
        server.stop()


async def unary_with_redis_calls(
    stub: pb_grpc.TaskQueueServiceStub, pid: int, redis_url: str, f: Figures
) -> sl.Load:
    """The unary load on our server, counting the script calls Redis saw per Enqueue."""
    client = redis.Redis.from_url(redis_url)
    before = client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)
    load = await sl.unary_load(stub, pid, CALLERS, SECONDS)
    after = client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)
    client.close()
    f.add("unary_redis_calls", (after - before) / load.total_calls)
    return load


async def one_round(
    echo: tuple[str, int], ours: ServerProcess, redis_url: str, f: Figures
) -> None:
    async with grpc.aio.insecure_channel(echo[0]) as echo_ch, \
            grpc.aio.insecure_channel(ours.target) as our_ch:
        echo_stub = pb_grpc.TaskQueueServiceStub(echo_ch)
        stub = pb_grpc.TaskQueueServiceStub(our_ch)
        pid = ours.process.pid
        note("unary Enqueue: echo, then ours")
        for key, load in (
            ("echo", await sl.unary_load(echo_stub, echo[1], CALLERS, SECONDS)),
            ("unary", await unary_with_redis_calls(stub, pid, redis_url, f)),
        ):
            f.add(key, load.rate)
            f.add(f"{key}_server_us", load.server_cpu_us)
            f.add(f"{key}_client_us", load.client_cpu_us)
            f.add(f"{key}_server_share", load.server_cpu_share * 100)
        note("EnqueueBatch")
        f.add("batch", await sl.batch_load(stub, 20, 1000, 2))
        note("end to end")
        f.add("e2e_batch", await sl.end_to_end(stub, E2E_N, sl.batch_producer(stub)))
        f.add("e2e_unary", await sl.end_to_end(stub, E2E_N // 2, sl.unary_producer(stub, CALLERS)))
        note("idle pickup")
        samples = await sl.idle_pickup(stub, 300)
        f.add("pickup_p50", percentile(samples, 50))
        f.add("pickup_p99", percentile(samples, 99))


async def watch_round(ours: ServerProcess, f: Figures) -> None:
    note(f"{WATCHERS} WatchTask streams")
    async with grpc.aio.insecure_channel(ours.target) as channel:
        w = await sl.watch_streams(pb_grpc.TaskQueueServiceStub(channel), ours.process.pid,
                                   WATCHERS)
    f.add("rss_before", w.rss_before_mib)
    f.add("rss_with", w.rss_with_streams_mib)
    f.add("kib_per_stream", (w.rss_with_streams_mib - w.rss_before_mib) * 1024 / WATCHERS)
    f.add("watch_open", w.open_seconds * 1000)
    f.add("watch_fanout", w.fanout_seconds * 1000)


def rows(f: Figures) -> list[list[str]]:
    unary_ratio = f.median("unary") / f.median("echo")
    batch_ratio = f.median("batch") / f.median("unary")
    cpu = "server CPU {s} us/call ({share} % of a core); client CPU {c} us/call"
    return [
        [f"bare grpc.aio echo, unary calls/s at {CALLERS} callers", f.cell("echo"), "", "", ""],
        ["  CPU", cpu.format(s=f.cell("echo_server_us"), share=f.cell("echo_server_share"),
                             c=f.cell("echo_client_us")), "", "", ""],
        [f"unary Enqueue calls/s at {CALLERS} callers", f.cell("unary"),
         f"{unary_ratio:.2f}x echo", ">= 0.75x", verdict(unary_ratio, 0.75, True)],
        ["  CPU", cpu.format(s=f.cell("unary_server_us"), share=f.cell("unary_server_share"),
                             c=f.cell("unary_client_us")), "", "", ""],
        ["  Redis script calls per Enqueue (coalescing; timer calls included)",
         f.cell("unary_redis_calls", 3), "", "", ""],
        ["EnqueueBatch of 1,000 tasks (2 in flight), tasks/s", f.cell("batch"),
         f"{batch_ratio:.1f}x unary", ">= 20x", verdict(batch_ratio, 20, True)],
        [f"end to end no-op tasks/s, EnqueueBatch producer ({E2E_N:,} tasks)",
         f.cell("e2e_batch"), "", "", ""],
        [f"end to end no-op tasks/s, unary Enqueue producer at {CALLERS} callers "
         f"({E2E_N // 2:,} tasks)", f.cell("e2e_unary"), "", "", ""],
        ["idle pickup p50, ms (Enqueue -> GetResult wait answers)", f.cell("pickup_p50", 2),
         "", "<= 3", verdict(f.median("pickup_p50"), 3, False)],
        ["idle pickup p99, ms", f.cell("pickup_p99", 2), "", "<= 15",
         verdict(f.median("pickup_p99"), 15, False)],
        [f"{WATCHERS:,} WatchTask streams: server RSS MiB before -> with them",
         f"{f.cell('rss_before', 1)} -> {f.cell('rss_with', 1)}", "", "", ""],
        ["  memory per stream, KiB", f.cell("kib_per_stream", 1), "", "", ""],
        [f"  time to open all {WATCHERS:,} (first message on each), ms", f.cell("watch_open"),
         "", "", ""],
        ["  cancel all, until every stream saw CANCELLED and ended, ms",
         f.cell("watch_fanout"), "", "", ""],
    ]


def render(f: Figures, url: str, runs: int) -> str:
    return "\n".join([
        f"# Service benchmark, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Machine: {machine(url)}; 1-min load average at the end "
        f"{load_average()} (other work on the machine skews absolute figures; ratios less).",
        "Processes: the client (this bench; every caller an asyncio task on one grpc.aio "
        "channel), the echo server, taskqueue-server (concurrency 16, no-op async handler) and "
        "redis-server all share the 2 cores. Unary figures are over "
        f"{SECONDS:.0f} s windows after a 0.5 s warm-up; each figure is the median (min-max) of "
        f"{runs} runs.",
        "",
        table(["figure", "value", "ratio", "target", ""], rows(f)),
        "",
    ])


async def profile(url: str, out: Path) -> None:
    """py-spy the server under the unary Enqueue load and the drain; raw stacks in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    spy = str(Path(sys.executable).parent / "py-spy")
    with echo_server() as echo, our_server(url) as ours:
        async with grpc.aio.insecure_channel(ours.target) as channel, \
                grpc.aio.insecure_channel(echo[0]) as echo_channel:
            stub = pb_grpc.TaskQueueServiceStub(channel)
            echo_stub = pb_grpc.TaskQueueServiceStub(echo_channel)
            for name, seconds in (("echo", 8), ("unary", 8), ("drain", 8)):
                pid = echo[1] if name == "echo" else ours.process.pid
                record = subprocess.Popen([
                    spy, "record", "--pid", str(pid), "--duration", str(seconds),
                    "--rate", "100", "--format", "raw", "--native",
                    "--output", str(out / f"{name}.txt"),
                ], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                if name == "drain":
                    await sl.end_to_end(stub, 30_000, sl.batch_producer(stub))
                else:
                    await sl.unary_load(echo_stub if name == "echo" else stub, pid, CALLERS,
                                        seconds + 1)
                record.wait(60)
    print(f"profiles in {out}; summarise with bench/profile_top.py {out}/unary.txt")


async def main_async(args: argparse.Namespace) -> str | None:
    with private_redis() as url:
        if args.profile:
            await profile(url, Path(args.profile))
            return None
        f = Figures()
        with echo_server() as echo, our_server(url) as ours:
            for _ in range(args.runs):
                await one_round(echo, ours, url, f)
            for _ in range(args.runs):
                await watch_round(ours, f)
        return render(f, url, args.runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", metavar="DIR", help="record py-spy profiles instead")
    args = parser.parse_args()
    text = asyncio.run(main_async(args))
    if text is not None:
        write_results("service", text)


if __name__ == "__main__":
    main()
