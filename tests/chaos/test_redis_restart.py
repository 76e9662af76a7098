"""Redis restart: the queue's Redis (AOF, fsync always) crashes and comes back mid-load.

While it is gone the servers report NOT_SERVING and callers get UNAVAILABLE fast (never a
hang to their deadline); retries succeed once it is back, and every task the service
acknowledged is still there and completes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc
from taskqueue.v1 import taskqueue_pb2 as pb

from tests.support.waiting import wait_until

from .cluster import ChaosCluster
from .harness import health, list_all, live_count, request, rpc_code, stub
from .private_redis import PrivateRedis

CALL_DEADLINE = 2.0


@dataclass(eq=False)  # threads must stay hashable
class Caller(threading.Thread):
    """Enqueues one task at a time with a deadline, retrying each (same idempotency key)."""

    cluster: ChaosCluster
    acknowledged: list[str] = field(default_factory=list)
    failures: list[tuple[grpc.StatusCode, float]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def __post_init__(self) -> None:
        super().__init__(daemon=True)

    def run(self) -> None:
        try:
            n = 0
            while not self.stop.is_set():
                self.acknowledged.append(self._enqueue(f"restart-{n}"))
                n += 1
        except BaseException as exc:
            self.error = exc

    def _enqueue(self, key: str) -> str:
        give_up = time.monotonic() + 60
        while True:
            api = stub(self.cluster.any_channel())
            started = time.monotonic()
            try:
                reply = api.Enqueue(
                    request("chaos_noop", {"key": key}, idempotency_key=key),
                    timeout=CALL_DEADLINE,
                )
                return str(reply.task_id)
            except grpc.RpcError as exc:
                self.failures.append((exc.code(), time.monotonic() - started))
                if time.monotonic() > give_up:
                    raise
                time.sleep(0.1)


def test_redis_restart_loses_no_acknowledged_task(
    private_redis: PrivateRedis, make_cluster: Callable[..., ChaosCluster]
) -> None:
    cluster = make_cluster("--lease-seconds", "2", redis_url=private_redis.url, label="restart")
    servers = [cluster.start(), cluster.start()]
    channels = [cluster.channel(s) for s in servers]
    caller = Caller(cluster)
    caller.start()
    try:
        wait_until(lambda: len(caller.acknowledged) >= 100, 20, "100 tasks acknowledged")
        private_redis.kill()
        went_down = time.monotonic()
        wait_until(
            lambda: all(health(c) == "NOT_SERVING" for c in channels), 5, "NOT_SERVING on both"
        )
        noticed = time.monotonic() - went_down
        for channel in channels:
            started = time.monotonic()
            code = rpc_code(lambda c=channel: stub(c).Stats(pb.StatsRequest(), timeout=3))
            assert code == grpc.StatusCode.UNAVAILABLE
            assert time.monotonic() - started < 1.0, "UNAVAILABLE at once, not at the deadline"
        # Keep Redis away until the caller has been turned down a few times.
        wait_until(lambda: len(caller.failures) >= 10, 20, "the caller saw the outage")
        during = len(caller.failures)

        private_redis.start()
        back = time.monotonic()
        wait_until(lambda: all(health(c) == "SERVING" for c in channels), 15, "SERVING again")
        serving_after = time.monotonic() - back
        acked_then = len(caller.acknowledged)
        wait_until(lambda: len(caller.acknowledged) >= acked_then + 100, 30, "100 more acked")
    finally:
        caller.stop.set()
        caller.join(70)
    assert caller.error is None, caller.error

    api = stub(channels[0])
    wait_until(lambda: live_count(api) == 0, 60, "every acknowledged task ran", 0.25)
    completed = {t.id for t in list_all(api, pb.TASK_STATUS_COMPLETED)}
    missing = set(caller.acknowledged) - completed
    codes = {code for code, _ in caller.failures}
    slowest = max((s for _, s in caller.failures), default=0.0)
    print(
        f"\nhealth NOT_SERVING {noticed:.2f} s after the crash, SERVING {serving_after:.2f} s "
        f"after the restart; {len(caller.failures)} failed calls ({during} while down), codes "
        f"{sorted(c.name for c in codes)}, slowest failure {slowest:.3f} s; "
        f"{len(caller.acknowledged)} acknowledged, {len(missing)} missing"
    )
    assert missing == set(), "an acknowledged task was lost"
    assert codes <= {grpc.StatusCode.UNAVAILABLE}, "callers see UNAVAILABLE, never a hang"
    assert slowest < CALL_DEADLINE
    assert caller.failures, "the outage must have been seen by the caller"
