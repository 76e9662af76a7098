"""Slow consumer: a WatchTask caller that stops reading must not grow the server's memory.

The task emits thousands of large progress events (far more bytes than the bound we assert)
while the watcher reads one message and then nothing. The engine's per-subscriber queue
holds 256 events; past that the stream is marked overflowed, so once the caller reads again
it gets what was buffered and then RESOURCE_EXHAUSTED. gRPC's own HTTP/2 flow-control
windows hold some messages too; the test prints how many arrived after the pause.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import grpc
from taskqueue.v1 import taskqueue_pb2 as pb

from tests.support.waiting import wait_until

from .cluster import ChaosCluster
from .harness import request, rss_kb, stub

EVENTS = 6_000
MESSAGE_BYTES = 8_000  # 48 MB of progress text in all
RSS_BOUND_KB = 24_000


def test_watcher_that_stops_reading_is_cut_off_with_bounded_memory(
    make_cluster: Callable[..., ChaosCluster],
) -> None:
    cluster = make_cluster(label="slowwatch")
    server = cluster.start()
    channel = cluster.channel(server)
    api = stub(channel)
    # Warm the paths a watch uses, so the baseline already holds their one-off allocations.
    warm = api.Enqueue(request("chaos_chatty", {"events": 50}), timeout=10).task_id
    for _ in api.WatchTask(pb.WatchTaskRequest(task_id=warm), timeout=30):
        pass
    baseline = rss_kb(server.process.pid)

    task_id = api.Enqueue(
        request("chaos_chatty", {"events": EVENTS, "message_bytes": MESSAGE_BYTES},
                delay_seconds=1.0),
        timeout=10,
    ).task_id  # fmt: skip
    stream = api.WatchTask(pb.WatchTaskRequest(task_id=task_id), timeout=120)
    first = next(stream)
    assert first.task.status == pb.TASK_STATUS_SCHEDULED

    peak = baseline
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.wait(0.05):
            peak = max(peak, rss_kb(server.process.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        wait_until(lambda: task_id in cluster.recorded("done"), 90, "all events emitted", 0.2)
    finally:
        stop.set()
        sampler.join(5)

    received = 0
    code = grpc.StatusCode.OK
    try:
        for _ in stream:
            received += 1
    except grpc.RpcError as exc:
        code = exc.code()
    growth = peak - baseline
    print(
        f"\n{EVENTS} events x {MESSAGE_BYTES} B emitted ({EVENTS * MESSAGE_BYTES // 2**20} MiB); "
        f"server RSS {baseline // 1024} MiB -> peak {peak // 1024} MiB (+{growth // 1024} MiB); "
        f"after resuming the reader got {received} messages, then {code.name}"
    )
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert received < EVENTS // 3, "most events were dropped, not buffered"
    assert growth < RSS_BOUND_KB, f"server grew {growth} KiB while the watcher was stalled"
    assert server.running
