"""Redis stall: SIGSTOP the queue's Redis for longer than the lease, then SIGCONT.

Every lease runs out while Redis is frozen. When it wakes, the tasks are handed back and run
again; what must never happen is two executions of one task at the same time, and nothing
may be lost. The handler records each execution's interval in the shared test Redis (which
is not stopped), and flags a task whose executions overlap.

A worker that cannot renew its leases stops its handlers before the leases can end
(worker/loop.py's lease guard), and a renewal never revives a lease past its deadline, so a
task handed to another worker is no longer running where it was. With one server cut off
from Redis while the others still reach it, `test_cut_off_worker_stops_before_its_lease_passes_on`
shows it deterministically.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from urllib.parse import urlparse

from taskqueue.v1 import taskqueue_pb2 as pb
from taskqueue_server.engine.keys import QueueKeys

from tests.support.server_process import REDIS_URL
from tests.support.waiting import wait_until

from .cluster import ChaosCluster
from .handlers_chaos import record_key
from .harness import enqueue_all, list_all, live_count, request, stub
from .private_redis import PrivateRedis
from .proxy import StallingProxy

REDIS_PORT = urlparse(REDIS_URL).port or 6379
LEASE_SECONDS = 2.0
# 6 leases, and more than twice the servers' 5 s Redis socket timeout, so calls sent late
# in the stall (with a clock past every lease deadline) are queued when Redis wakes.
STALL_SECONDS = 12.0


def overlapping(intervals: list[str]) -> list[tuple[float, float]]:
    """Pairs of (start, end) executions of one task that ran at the same time."""
    spans = sorted((float(s), float(e)) for s, e, _pid in (i.split(",") for i in intervals))
    return [b for a, b in itertools.pairwise(spans) if b[0] < a[1]]


def test_stalled_redis_never_lets_a_task_run_twice_at_once(
    private_redis: PrivateRedis, make_cluster: Callable[..., ChaosCluster]
) -> None:
    cluster = make_cluster(
        "--lease-seconds", str(LEASE_SECONDS), "--concurrency", "8",
        redis_url=private_redis.url, label="stall",
    )  # fmt: skip
    servers = [cluster.start(), cluster.start()]
    api = stub(cluster.channel(servers[0]))
    # Some first runs end during the stall, some outlive it (those are the ones at risk).
    sleeps = [3.0, 8.0, 14.0, 18.0] * 4
    ids = enqueue_all(
        api, [request("chaos_interval", {"sleep": s, "rerun_sleep": 0.5}) for s in sleeps]
    )
    wait_until(lambda: len(cluster.recorded("runs")) >= 12, 20, "a dozen tasks running")

    private_redis.pause()
    try:
        time.sleep(STALL_SECONDS)  # the fault itself: Redis frozen this long
    finally:
        private_redis.resume()

    wait_until(lambda: live_count(api) == 0, 90, "every task terminal after the stall", 0.25)
    completed = {t.id for t in list_all(api, pb.TASK_STATUS_COMPLETED)}
    assert completed == set(ids), "no task lost"
    store = private_redis.client()
    assert store.zcard(QueueKeys(cluster.prefix, "default").lease) == 0, "no lease left behind"
    redelivered = [t for t in list_all(api) if t.redeliveries > 0]
    overlaps = {task_id: overlapping(cluster.recorded_list("iv", task_id)) for task_id in ids}
    overlaps = {k: v for k, v in overlaps.items() if v}
    flagged = cluster.recorder.smembers(record_key("overlaps", prefix=cluster.prefix))
    print(
        f"\nstall {STALL_SECONDS} s, lease {LEASE_SECONDS} s: {len(redelivered)} tasks "
        f"redelivered, {len(overlaps)} ran twice at once (flagged live: {len(flagged)})"
    )
    assert overlaps == {} and not flagged, f"executions overlapped: {overlaps}"


def test_cut_off_worker_stops_before_its_lease_passes_on(
    make_cluster: Callable[..., ChaosCluster],
) -> None:
    cluster = make_cluster("--lease-seconds", str(LEASE_SECONDS), label="partition")
    proxy = StallingProxy(REDIS_PORT)
    try:
        cut_off = cluster.start("--concurrency", "4", redis_url=f"redis://127.0.0.1:{proxy.port}/0")
        api = stub(cluster.channel(cut_off))
        ids = enqueue_all(api, [request("chaos_interval", {"sleep": 9.0, "rerun_sleep": 0.5})] * 4)
        wait_until(lambda: len(cluster.recorded("runs")) == 4, 15, "the first server runs all 4")
        healthy = cluster.start("--concurrency", "4")
        proxy.pause()  # the first server can no longer reach Redis; the second still can
        wait_until(
            lambda: len(cluster.recorded("done")) == 4, 20, "the healthy server finished them"
        )
        proxy.resume()
        healthy_api = stub(cluster.channel(healthy))
        wait_until(lambda: live_count(healthy_api) == 0, 20, "every task terminal", 0.25)
        # The cut-off server's handlers have ended (stopped or finished) once it reconnected.
        wait_until(
            lambda: all(len(cluster.recorded_list("iv", i)) >= 2 for i in ids),
            20, "both executions of every task recorded",
        )  # fmt: skip
    finally:
        proxy.close()
    overlaps = {i: overlapping(cluster.recorded_list("iv", i)) for i in ids}
    assert {i: o for i, o in overlaps.items() if o} == {}, "a task ran twice at once"
