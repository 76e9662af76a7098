"""Concurrency: three server processes on one Redis drain 10,000 tasks, each exactly once."""

from __future__ import annotations

import time
from collections.abc import Callable

from taskqueue.v1 import taskqueue_pb2 as pb

from tests.support.waiting import wait_until

from .cluster import ChaosCluster
from .harness import enqueue_all, list_all, request, stats_by_type, stub, terminal_count

TASKS = 10_000
SERVERS = 3


def test_three_servers_run_every_task_exactly_once(
    make_cluster: Callable[..., ChaosCluster],
) -> None:
    cluster = make_cluster("--concurrency", "32", label="conc")
    servers = [cluster.start() for _ in range(SERVERS)]
    api = stub(cluster.channel(servers[0]))
    started = time.monotonic()
    ids = enqueue_all(api, [request("chaos_noop", {"n": n}) for n in range(TASKS)])
    assert len(set(ids)) == TASKS

    wait_until(lambda: terminal_count(api) >= TASKS, 120, f"{TASKS} tasks terminal", 0.5)
    elapsed = time.monotonic() - started

    runs = cluster.recorded("runs")
    done = cluster.recorded("done")
    assert set(runs) == set(ids), "every task ran, and only accepted tasks ran"
    assert [t for t, n in runs.items() if n != 1] == [], "no task ran twice"
    assert [t for t, n in done.items() if n != 1] == [] and len(done) == TASKS
    completed = list_all(api, pb.TASK_STATUS_COMPLETED)
    assert sorted(t.id for t in completed) == sorted(ids)
    assert all(t.attempts == 1 and t.redeliveries == 0 for t in completed)
    assert stats_by_type(api)["chaos_noop"]["completed"] == TASKS
    by_server = cluster.recorded("by_pid")
    print(f"\n{TASKS} tasks, {SERVERS} servers: {elapsed:.1f} s, {len(by_server)} took part")
    pids = sorted(str(server.process.pid) for server in servers)
    assert sorted(by_server) == pids, "every server took a share"
    assert sum(by_server.values()) == TASKS
