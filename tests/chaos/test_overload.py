"""Overload: ten times more concurrent callers than the server's limits.

The service's limits: RPCs open at once per server (--max-concurrent-rpcs, gRPC's
maximum_concurrent_rpcs: past it RESOURCE_EXHAUSTED before any handler runs), WatchTask
streams per server (--max-watch-streams, below the RPC limit, past it RESOURCE_EXHAUSTED)
and calls per connection (--max-concurrent-streams, an HTTP/2 setting: past it the client
queues calls on that connection, so it stays above the RPC limit by default).
Admitted calls are held open on a condition (a watched task that stays scheduled, or a
handler that runs until the test opens its gate), never on sleeps.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import grpc
from taskqueue.v1 import taskqueue_pb2 as pb
from taskqueue.v1 import taskqueue_pb2_grpc as pb_grpc

from .cluster import ChaosCluster
from .handlers_gate import gate_key
from .harness import health, request, stub

LIMIT = 16
CALLERS = 10 * LIMIT
SHED_WITHIN = 1.0


async def _watch(api: pb_grpc.TaskQueueServiceStub, task_id: str):  # type: ignore[no-untyped-def]
    """Open a watch and read its first message: (the call, status name, seconds taken)."""
    started = time.monotonic()
    call = api.WatchTask(pb.WatchTaskRequest(task_id=task_id), timeout=30)
    try:
        await call.read()
    except grpc.aio.AioRpcError as exc:
        return call, exc.code().name, time.monotonic() - started
    return call, "OK", time.monotonic() - started


async def _watch_flood(target: str, task_id: str) -> dict[str, object]:
    async with grpc.aio.insecure_channel(target) as channel:
        api = pb_grpc.TaskQueueServiceStub(channel)
        results = await asyncio.gather(*(_watch(api, task_id) for _ in range(CALLERS)))
        codes = Counter(code for _, code, _ in results)
        shed_slowest = max((s for _, code, s in results if code != "OK"), default=0.0)
        for call, code, _ in results:
            if code == "OK":
                call.cancel()  # load falls: every admitted watcher goes away

        async def admitted_again() -> bool:
            call, code, _ = await _watch(api, task_id)
            call.cancel()
            return code == "OK"

        recovered_in = await _poll(admitted_again, 5.0)
        second = await asyncio.gather(*(_watch(api, task_id) for _ in range(LIMIT + 1)))
        for call, _, _ in second:
            call.cancel()
        return {
            "codes": codes,
            "shed_slowest": shed_slowest,
            "recovered_in": recovered_in,
            "second": Counter(code for _, code, _ in second),
        }


async def _poll(check: Callable[[], object], timeout: float) -> float:
    started = time.monotonic()
    while not await check():  # type: ignore[misc]
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"not within {timeout}s")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


def test_watch_flood_is_shed_fast_and_recovers(make_cluster: Callable[..., ChaosCluster]) -> None:
    cluster = make_cluster("--max-watch-streams", str(LIMIT), label="overload")
    server = cluster.start()
    # A task due in five minutes stays live, so every admitted watch stays open.
    task_id = stub(cluster.channel(server)).Enqueue(
        request("chaos_noop", {}, delay_seconds=300), timeout=10
    ).task_id
    seen = asyncio.run(_watch_flood(server.target, task_id))
    print(f"\n{CALLERS} watchers, limit {LIMIT}: {dict(seen['codes'])}; slowest rejection "  # type: ignore[call-overload]
          f"{seen['shed_slowest']:.3f} s; admitted again {seen['recovered_in']:.3f} s after "
          f"load fell; then {LIMIT + 1} watchers: {dict(seen['second'])}")  # type: ignore[call-overload]  # fmt: skip
    assert seen["codes"] == Counter({"OK": LIMIT, "RESOURCE_EXHAUSTED": CALLERS - LIMIT})
    assert seen["shed_slowest"] < SHED_WITHIN  # type: ignore[operator]
    assert seen["second"] == Counter({"OK": LIMIT, "RESOURCE_EXHAUSTED": 1})
    assert server.running



RPC_LIMIT = 8
RPC_CALLERS = 10 * RPC_LIMIT
CHANNELS = 4
CALLER_DEADLINE = 30.0
HOLD_SECONDS = 25.0  # each admitted GetResult waits this long at most for the gated task


@dataclass(frozen=True)
class UnaryFlood:
    """What the callers saw, while the admitted ones held their slots and after."""

    before_gate: Counter[str]  # answers before load fell
    still_open: int  # calls holding a slot then
    codes: Counter[str]  # every caller's final answer
    refused_slowest: float
    probe: str  # a health check made while the server was full
    load_fell_in: float  # gate opened -> every held call answered
    recovered_in: float  # then -> a new call served


async def _get_result(api: pb_grpc.TaskQueueServiceStub, task_id: str) -> tuple[str, float]:
    """One GetResult wait: (OK and the task's status, or the error's code name; seconds)."""
    started = time.monotonic()
    try:
        reply = await api.GetResult(
            pb.GetResultRequest(task_id=task_id, wait_seconds=HOLD_SECONDS),
            timeout=CALLER_DEADLINE,
        )
    except grpc.aio.AioRpcError as exc:
        return exc.code().name, time.monotonic() - started
    return f"OK {pb.TaskStatus.Name(reply.status)}", time.monotonic() - started


async def _unary_flood(
    target: str, task_id: str, open_gate: Callable[[], object]
) -> UnaryFlood:
    channels = [grpc.aio.insecure_channel(target) for _ in range(CHANNELS)]
    try:
        for channel in channels:  # connected first: refusal times exclude connection set-up
            await asyncio.wait_for(channel.channel_ready(), 10)
        apis = [pb_grpc.TaskQueueServiceStub(channel) for channel in channels]
        calls = [
            asyncio.ensure_future(_get_result(apis[n % CHANNELS], task_id))
            for n in range(RPC_CALLERS)
        ]
        # Held: the callers that got a slot wait on the gated task, so every other caller
        # must be answered while they still hold theirs.
        answered = asyncio.Event()

        def count(_: object) -> None:
            if sum(c.done() for c in calls) >= RPC_CALLERS - RPC_LIMIT:
                answered.set()

        for call in calls:
            call.add_done_callback(count)
        try:
            await asyncio.wait_for(answered.wait(), 10)
        except TimeoutError:
            done = sum(c.done() for c in calls)
            raise AssertionError(f"{RPC_CALLERS - done} callers still hold a slot") from None
        before_gate = [c.result() for c in calls if c.done()]
        still_open = sum(not c.done() for c in calls)
        probe = await asyncio.to_thread(_health_while_saturated, target)
        gate_opened = time.monotonic()
        open_gate()  # load falls: the task completes and every held wait returns
        outcomes = await asyncio.wait_for(asyncio.gather(*calls), 15)
        load_fell_in = time.monotonic() - gate_opened

        async def served() -> bool:
            try:
                await apis[0].GetTask(pb.GetTaskRequest(task_id=task_id), timeout=2)
            except grpc.aio.AioRpcError:
                return False
            return True

        recovered_in = await _poll(served, 5.0)
    finally:
        for channel in channels:
            await channel.close(grace=None)
    return UnaryFlood(
        before_gate=Counter(code for code, _ in before_gate),
        still_open=still_open,
        codes=Counter(code for code, _ in outcomes),
        refused_slowest=max(s for code, s in outcomes if code == "RESOURCE_EXHAUSTED"),
        probe=probe,
        load_fell_in=load_fell_in,
        recovered_in=recovered_in,
    )


def _health_while_saturated(target: str) -> str:
    with grpc.insecure_channel(target) as channel:
        return health(channel)


def test_unary_flood_is_shed_at_once_and_recovers(
    make_cluster: Callable[..., ChaosCluster],
) -> None:
    cluster = make_cluster("--max-concurrent-rpcs", str(RPC_LIMIT), "--max-watch-streams",
                           str(RPC_LIMIT - 1), label="overload")  # fmt: skip
    server = cluster.start(handlers=("tests.chaos.handlers_gate",))
    api = stub(cluster.channel(server))
    task_id = api.Enqueue(request("chaos_gate", {"seconds": 60}), timeout=10).task_id

    def open_gate() -> None:
        cluster.recorder.rpush(gate_key(task_id, prefix=cluster.prefix), "open")

    seen = asyncio.run(_unary_flood(server.target, task_id, open_gate))
    print(f"\n{RPC_CALLERS} GetResult callers on {CHANNELS} channels, --max-concurrent-rpcs "
          f"{RPC_LIMIT}: {dict(seen.codes)}; slowest refusal {seen.refused_slowest:.3f} s "
          f"(deadline {CALLER_DEADLINE:.0f} s); health while saturated: {seen.probe}; held "
          f"calls answered {seen.load_fell_in:.3f} s after the gate opened; a new call "
          f"served {seen.recovered_in:.3f} s after that")  # fmt: skip
    refused = RPC_CALLERS - RPC_LIMIT
    assert seen.before_gate == Counter({"RESOURCE_EXHAUSTED": refused})
    assert seen.still_open == RPC_LIMIT
    # Nobody timed out: the excess was refused, the admitted calls got the finished task.
    assert seen.codes == Counter(
        {"OK TASK_STATUS_COMPLETED": RPC_LIMIT, "RESOURCE_EXHAUSTED": refused}
    )
    assert seen.refused_slowest < SHED_WITHIN
    # The limit is the whole server's: a health check is refused too while it is full.
    assert seen.probe == "RESOURCE_EXHAUSTED"
    assert seen.recovered_in < SHED_WITHIN
    assert server.running
