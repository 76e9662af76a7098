"""Clock skew: two servers on one Redis, one of them under libfaketime five minutes ahead.

Leases and due times are on Redis's clock, so the skewed server neither takes the other's
leases for expired (no redelivery, no poison) nor fires delayed tasks early or late: each
starts within 100 ms of its due time, measured on Redis's clock by the handler.
"""

from __future__ import annotations

import glob
import shutil
import time
from collections.abc import Callable

import pytest
import redis
from google.protobuf import json_format
from taskqueue.v1 import taskqueue_pb2 as pb
from taskqueue.v1 import taskqueue_pb2_grpc as pb_grpc

from tests.support.waiting import wait_until

from .cluster import ChaosCluster
from .harness import enqueue_all, request, stub

SKEW_SECONDS = 300
LEASE_SECONDS = 2
LEASED_TASKS = 16
DELAYED_TASKS = 8
DUE_TOLERANCE_MS = 100


def faketime_env(offset_seconds: int) -> dict[str, str]:
    """The environment that runs a process under libfaketime (Debian's `faketime` package).

    The `faketime` command forks, which would hide the server's pid and signals; preloading
    the library runs the server itself with the shifted clock.
    """
    libraries = glob.glob("/usr/lib/*/faketime/libfaketime.so.1") + glob.glob(
        "/usr/lib/faketime/libfaketime.so.1"
    )
    if not shutil.which("faketime") or not libraries:
        pytest.fail("this drill needs libfaketime: `apt-get install -y faketime` (scripts/env.sh)")
    return {
        "LD_PRELOAD": libraries[0],
        "FAKETIME": f"+{offset_seconds}s",
        # Only the wall clock is skewed, as between two hosts; monotonic time stays real.
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }


def redis_ms(client: redis.Redis) -> float:
    seconds, micros = client.time()  # type: ignore[misc]
    return float(seconds * 1000 + micros / 1000)


def result_of(api: pb_grpc.TaskQueueServiceStub, task_id: str) -> dict[str, float]:
    reply = api.GetResult(pb.GetResultRequest(task_id=task_id), timeout=10)
    return json_format.MessageToDict(reply.result)


def test_skewed_server_keeps_leases_and_due_times(
    make_cluster: Callable[..., ChaosCluster],
) -> None:
    cluster = make_cluster("--lease-seconds", str(LEASE_SECONDS), label="skew")
    honest = cluster.start()
    skewed = cluster.start(env=faketime_env(SKEW_SECONDS))
    apis = [stub(cluster.channel(honest)), stub(cluster.channel(skewed))]
    clock = cluster.store()

    # Tasks that hold their lease past its first deadline, so renewals must be honoured.
    leased = [request("chaos_clock", {"sleep": LEASE_SECONDS * 1.5}) for _ in range(LEASED_TASKS)]
    leased_ids = enqueue_all(apis[0], leased[::2]) + enqueue_all(apis[1], leased[1::2])

    # Delayed tasks through either server; their due time must be Redis's now + 1 s.
    delayed: list[tuple[str, float, float]] = []
    for n in range(DELAYED_TASKS):
        before = redis_ms(clock)
        reply = apis[n % 2].Enqueue(request("chaos_clock", {}, delay_seconds=1), timeout=10)
        delayed.append((reply.task_id, before + 1000, redis_ms(clock) + 1000))
        time.sleep(0.15)

    def finished() -> bool:
        return all(
            apis[0].GetTask(pb.GetTaskRequest(task_id=t), timeout=5).task.status
            in (pb.TASK_STATUS_COMPLETED, pb.TASK_STATUS_FAILED)
            for t in leased_ids + [d[0] for d in delayed]
        )

    wait_until(finished, 60, "every task finished")
    tasks = [
        apis[0].GetTask(pb.GetTaskRequest(task_id=t), timeout=5).task
        for t in leased_ids + [d[0] for d in delayed]
    ]
    results = {t.id: result_of(apis[0], t.id) for t in tasks}

    # The drill is only a drill if the skew is real and both servers did the work.
    skews = {r["pid"]: (r["local_ms"] - r["redis_ms"]) / 1000 for r in results.values()}
    assert set(skews) == {honest.process.pid, skewed.process.pid}, skews
    assert abs(skews[honest.process.pid]) < 5, skews
    assert abs(skews[skewed.process.pid] - SKEW_SECONDS) < 5, skews

    assert [t.id for t in tasks if t.status != pb.TASK_STATUS_COMPLETED] == [], [
        (t.id, t.error) for t in tasks if t.status != pb.TASK_STATUS_COMPLETED
    ]
    assert sum(t.redeliveries for t in tasks) == 0, "a lease was taken for expired"
    assert all(runs == 1 for runs in cluster.recorded("runs").values())

    lateness = []
    for task_id, earliest_due, latest_due in delayed:
        task = next(t for t in tasks if t.id == task_id)
        due = task.run_at.ToMilliseconds()
        assert earliest_due - 5 <= due <= latest_due + 5, (task_id, earliest_due, due)
        lateness.append(results[task_id]["redis_ms"] - due)
    print(f"\ndelayed start - due on Redis's clock (ms): {sorted(round(x) for x in lateness)}")
    assert all(-5 <= x <= DUE_TOLERANCE_MS for x in lateness), lateness
