"""The service benchmark's client side: load generators over one grpc.aio channel.

All callers are asyncio tasks in this one process (the bench process), separate from the
server processes they drive. Each function returns plain numbers and prints nothing.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
from google.protobuf import struct_pb2
from taskqueue.v1 import taskqueue_pb2 as pb
from taskqueue.v1 import taskqueue_pb2_grpc as pb_grpc

PAYLOAD = {"payload": "x" * 86}  # 100 bytes as JSON, as in the engine bench
HELD = "held"  # no handler takes it: measures the enqueue path alone
NOOP = "noop"
_TICKS = os.sysconf("SC_CLK_TCK")


def request(task_type: str) -> pb.EnqueueRequest:
    data = struct_pb2.Struct()
    data.update(PAYLOAD)
    return pb.EnqueueRequest(task_type=task_type, task_data=data)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


@dataclass(frozen=True)
class Load:
    """Calls/s over the window, and CPU used per call (us) by the server and by us."""

    rate: float
    server_cpu_us: float
    client_cpu_us: float
    server_cpu_share: float  # of one core, over the window
    total_calls: int  # warm-up included


async def unary_load(
    stub: pb_grpc.TaskQueueServiceStub, server_pid: int, callers: int, seconds: float,
    task_type: str = HELD,
) -> Load:
    """`callers` concurrent loops of unary Enqueue for `seconds` (after a short warm-up)."""
    req = request(task_type)
    counting = False
    calls = total = 0
    stop = False

    async def caller() -> None:
        nonlocal calls, total
        while not stop:
            await stub.Enqueue(req)
            total += 1
            if counting:
                calls += 1

    tasks = [asyncio.create_task(caller()) for _ in range(callers)]
    await asyncio.sleep(0.5)
    counting = True
    server0, client0, start = cpu_seconds(server_pid), time.process_time(), time.perf_counter()
    await asyncio.sleep(seconds)
    counting = False
    elapsed = time.perf_counter() - start
    server_cpu = cpu_seconds(server_pid) - server0
    client_cpu = time.process_time() - client0
    stop = True
    await asyncio.gather(*tasks)
    return Load(calls / elapsed, server_cpu / calls * 1e6, client_cpu / calls * 1e6,
                server_cpu / elapsed, total)


async def batch_load(
    stub: pb_grpc.TaskQueueServiceStub, batches: int, size: int, callers: int,
    task_type: str = HELD,
) -> float:
    """Tasks/s of EnqueueBatch with `size` tasks per call, `callers` calls in flight."""
    batch = pb.EnqueueBatchRequest(tasks=[request(task_type) for _ in range(size)])
    left = batches

    async def caller() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await stub.EnqueueBatch(batch)

    start = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    return batches * size / (time.perf_counter() - start)


async def completed(stub: pb_grpc.TaskQueueServiceStub, task_type: str = NOOP) -> int:
    stats = await stub.Stats(pb.StatsRequest(task_type=task_type))
    return stats.task_types[task_type].completed if task_type in stats.task_types else 0


async def end_to_end(
    stub: pb_grpc.TaskQueueServiceStub, n: int,
    produce: Callable[[int], Awaitable[list[str]]],
) -> float:
    """No-op tasks/s from the first enqueue until all n completed and the last result reads."""
    before = await completed(stub)
    start = time.perf_counter()
    ids = await produce(n)
    while await completed(stub) - before < n:
        await asyncio.sleep(0.01)
    result = await stub.GetResult(pb.GetResultRequest(task_id=ids[-1], wait_seconds=5))
    elapsed = time.perf_counter() - start
    if result.status != pb.TASK_STATUS_COMPLETED:
        raise RuntimeError(f"last task ended {result.status}")
    return n / elapsed


def batch_producer(stub: pb_grpc.TaskQueueServiceStub) -> Callable[[int], Awaitable[list[str]]]:
    async def produce(n: int) -> list[str]:
        ids: list[str] = []
        batch = pb.EnqueueBatchRequest(tasks=[request(NOOP) for _ in range(1000)])
        for _ in range(n // 1000):
            reply = await stub.EnqueueBatch(batch)
            ids.extend(t.id for t in reply.tasks)
        return ids

    return produce


def unary_producer(
    stub: pb_grpc.TaskQueueServiceStub, callers: int
) -> Callable[[int], Awaitable[list[str]]]:
    async def produce(n: int) -> list[str]:
        req = request(NOOP)
        ids: list[str] = []

        async def caller(count: int) -> None:
            for _ in range(count):
                ids.append((await stub.Enqueue(req)).task_id)

        shares = [n // callers + (1 if i < n % callers else 0) for i in range(callers)]
        await asyncio.gather(*(caller(share) for share in shares))
        return ids

    return produce


async def idle_pickup(stub: pb_grpc.TaskQueueServiceStub, samples: int) -> list[float]:
    """Ms from Enqueue until GetResult(wait) answers COMPLETED, one task at a time."""
    req = request(NOOP)
    latencies = []
    for _ in range(samples):
        start = time.perf_counter()
        task_id = (await stub.Enqueue(req)).task_id
        result = await stub.GetResult(pb.GetResultRequest(task_id=task_id, wait_seconds=5))
        latencies.append((time.perf_counter() - start) * 1000)
        if result.status != pb.TASK_STATUS_COMPLETED:
            raise RuntimeError(f"task {task_id} ended {result.status}")
        await asyncio.sleep(0.01)  # the pool goes back to blocking in Redis
    return latencies


@dataclass(frozen=True)
class Watching:
    rss_before_mib: float
    rss_with_streams_mib: float
    open_seconds: float
    fanout_seconds: float


async def watch_streams(
    stub: pb_grpc.TaskQueueServiceStub, server_pid: int, n: int
) -> Watching:
    """n WatchTask streams on n pending tasks; RSS before/with them; then cancel all and time
    until every stream has seen CANCELLED and ended."""
    batch = pb.EnqueueBatchRequest(tasks=[request(HELD) for _ in range(n)])
    ids = [t.id for t in (await stub.EnqueueBatch(batch)).tasks]
    rss_before = rss_mib(server_pid)
    start = time.perf_counter()
    calls = [stub.WatchTask(pb.WatchTaskRequest(task_id=i)) for i in ids]
    firsts = await asyncio.gather(*(c.read() for c in calls))
    opened = time.perf_counter() - start
    if any(f is grpc.aio.EOF or f.task.status != pb.TASK_STATUS_PENDING for f in firsts):
        raise RuntimeError("a stream did not start with the pending snapshot")
    await asyncio.sleep(1.0)  # let the server settle before reading its RSS
    rss_with = rss_mib(server_pid)

    async def until_cancelled(call: grpc.aio.UnaryStreamCall[pb.WatchTaskRequest,
                                                             pb.WatchTaskResponse]) -> None:
        last = None
        while (reply := await call.read()) is not grpc.aio.EOF:
            last = reply.task.status
        if last != pb.TASK_STATUS_CANCELLED:
            raise RuntimeError(f"stream ended on {last}")

    readers = [asyncio.create_task(until_cancelled(c)) for c in calls]
    start = time.perf_counter()
    sem = asyncio.Semaphore(32)

    async def cancel(task_id: str) -> None:
        async with sem:
            await stub.CancelTask(pb.CancelTaskRequest(task_id=task_id))

    await asyncio.gather(*(cancel(i) for i in ids))
    await asyncio.gather(*readers)
    return Watching(rss_before, rss_with, opened, time.perf_counter() - start)
