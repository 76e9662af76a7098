"""Crash safety: SIGKILL the server mid-task; another server finishes the task after the lease.

The retry budget is untouched (attempts stays 1) and exactly one redelivery is counted, on
the task and in Stats' redelivered_total.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from taskqueue.v1 import taskqueue_pb2 as pb
from taskqueue_server.engine.keys import QueueKeys

from tests.support.waiting import wait_until

from .cluster import ChaosCluster
from .harness import request, stub

LEASE_SECONDS = 2.0


def test_killed_server_task_is_recovered_after_its_lease(
    make_cluster: Callable[..., ChaosCluster],
) -> None:
    cluster = make_cluster("--lease-seconds", str(LEASE_SECONDS), label="crash")
    first = cluster.start()
    api = stub(cluster.channel(first))
    task_id = api.Enqueue(
        request("chaos_block", {"seconds": 120}, max_retries=3), timeout=10
    ).task_id
    wait_until(lambda: cluster.recorded("runs").get(task_id) == 1, 15, "the handler started")
    running = api.GetTask(pb.GetTaskRequest(task_id=task_id), timeout=5).task
    assert running.status == pb.TASK_STATUS_PROCESSING and running.attempts == 1

    # The successor is up before the crash, so the figure is the engine's recovery alone.
    second = cluster.start()
    first.kill()
    killed_at = time.time()
    lease_key = QueueKeys(cluster.prefix, "default").lease
    # Nobody renews it any more, so this deadline is final.
    deadline_ms = cluster.recorder.zscore(lease_key, task_id)
    assert deadline_ms is not None, "the dead server's lease must still be on record"

    api = stub(cluster.channel(second))
    wait_until(lambda: cluster.recorded("done").get(task_id) == 1, 30, "the task ran again")
    done = wait_until(
        lambda: (t := api.GetTask(pb.GetTaskRequest(task_id=task_id), timeout=5).task).status
        == pb.TASK_STATUS_COMPLETED
        and t,
        10,
        "the task is COMPLETED",
    )
    starts = [float(s) for s in cluster.recorded_list("starts", task_id)]
    assert len(starts) == 2, starts
    recovery = (starts[1] - float(deadline_ms)) / 1000
    print(
        f"\nlease expiry -> picked up again: {recovery:.3f} s "
        f"(kill -> picked up: {starts[1] / 1000 - killed_at:.3f} s, lease {LEASE_SECONDS} s)"
    )
    assert done.attempts == 1, "a crash must not spend the retry budget"
    assert done.redeliveries == 1
    stats = api.Stats(pb.StatsRequest(task_type="chaos_block"), timeout=5)
    counted = stats.task_types["chaos_block"]
    assert (counted.redelivered_total, counted.completed_total, counted.retried_total) == (1, 1, 0)
    assert cluster.recorded("runs")[task_id] == 2
    assert -0.2 <= recovery <= 3.0, f"picked up {recovery:.3f} s after the lease expired"
