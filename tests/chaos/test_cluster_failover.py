"""Failover drills on real local Redis topologies (sized for CI; figures in docs/reliability.md).

Cluster: SIGKILL the primary of one shard under load; its replica is promoted; enqueues for
that shard's queues fail UNAVAILABLE (never INTERNAL) until then, and the service serves
again without a restart. A whole shard down: its queues UNAVAILABLE, the others keep working.
Sentinel: SIGKILL the primary; the server resumes on the promoted replica without a restart.
Each drill prints acknowledged-and-lost (asynchronous replication can lose a few).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import grpc
import pytest

from tests.support.redis_cluster import LocalCluster, LocalSentinel
from tests.support.server_process import ServerFactory

from .failover_drill import run_drill

pytestmark = pytest.mark.cluster
QUEUES = [f"drill{i}" for i in range(6)]
# Longest a shard's queues may stay unavailable: node timeout 1 s, then the election (with
# --redis-wait-replicas 1: until the restarted old primary has synced as a replica).
MAX_OUTAGE_SECONDS = 8.0
RESTART_AFTER_SECONDS = 3.0


@pytest.fixture
def cluster() -> Iterator[LocalCluster]:
    """A cluster of this test alone: the drills kill its nodes."""
    own = LocalCluster()
    try:
        own.start()
        yield own
    finally:
        own.close()


def shard_queues(cluster: LocalCluster, port: int) -> set[str]:
    return {q for q in QUEUES if cluster.primary_of(f"x:{{{q}}}:") == port}


@pytest.mark.parametrize("wait_replicas", [0, 1])
def test_a_primary_killed_under_load_fails_over_and_only_its_queues_pause(
    cluster: LocalCluster, wait_replicas: int
) -> None:
    victim = cluster.primary_of(f"x:{{{QUEUES[0]}}}:")
    hit = shard_queues(cluster, victim)
    args = ("--redis-wait-replicas", str(wait_replicas))

    def kill() -> None:
        cluster.kill(victim)
        if wait_replicas:
            # The promoted replica has no replica of its own until the old primary comes
            # back as one: until then WAIT 1 cannot succeed and its queues stay UNAVAILABLE.
            threading.Timer(RESTART_AFTER_SECONDS, cluster.restart, [victim]).start()

    with ServerFactory(redis_url=cluster.url) as factory:
        report = run_drill(factory, QUEUES, kill, server_args=args, after=14.0)
    print(f"cluster failover drill (--redis-wait-replicas {wait_replicas}): "
          f"{report.summary()}; queues {sorted(hit)} resumed "
          f"{report.resumed_after(hit):.2f}s after the kill")  # fmt: skip
    # With WAIT 1 an enqueue into the failed shard waits for a replica that is not there yet:
    # it may end at the caller's deadline instead, unacknowledged (so not lost either).
    allowed = {grpc.StatusCode.UNAVAILABLE}
    if wait_replicas:
        allowed.add(grpc.StatusCode.DEADLINE_EXCEEDED)
    assert set(report.codes()) <= allowed, report.summary()
    assert cluster.primary_of(f"x:{{{QUEUES[0]}}}:") != victim, "the replica took over"
    assert report.resumed_after(hit) < MAX_OUTAGE_SECONDS + wait_replicas * RESTART_AFTER_SECONDS
    assert len(report.acked) > 50
    if wait_replicas:
        # The promise of --redis-wait-replicas: an acknowledged enqueue is on a replica, so
        # the promoted replica has it. Without it, asynchronous replication loses what the
        # primary acknowledged but had not yet sent: measured and printed above, not bounded
        # (it depends on where the kill falls; docs/reliability.md has the figures).
        assert report.lost == [], report.summary()


def test_a_whole_shard_down_leaves_the_other_queues_working(cluster: LocalCluster) -> None:
    victim = cluster.primary_of(f"x:{{{QUEUES[0]}}}:")
    hit = shard_queues(cluster, victim)
    replica = next(p for p in cluster.ports if cluster.replica_of(p) == victim)

    def kill_shard() -> None:
        cluster.kill(replica)
        cluster.kill(victim)

    with ServerFactory(redis_url=cluster.url) as factory:
        report = run_drill(factory, QUEUES, kill_shard, after=6.0, settle=False)
    late = report.killed_at + 3.0  # past the node timeout: the slot is known to be down
    refused_late = {q for _, q, t in report.refused if t > late}
    acked_late = {q for _, q, t in report.acked if t > late}
    assert refused_late == hit and acked_late == set(QUEUES) - hit, report.summary()
    assert set(report.codes()) <= {grpc.StatusCode.UNAVAILABLE}, report.summary()


def test_sentinel_failover_under_load_resumes_without_a_restart() -> None:
    group = LocalSentinel()
    try:
        group.start()
        primary = group.primary
        with ServerFactory(redis_url=group.url) as factory:
            report = run_drill(factory, QUEUES, lambda: group.kill(primary), after=12.0)
        resumed = report.resumed_after(set(QUEUES))
        print(f"sentinel failover drill: {report.summary()}; resumed {resumed:.2f}s after")
        assert group.current_primary() == group.replica
        assert set(report.codes()) <= {grpc.StatusCode.UNAVAILABLE}, report.summary()
        assert resumed < 10.0
        assert len(report.acked) > 50  # loss is measured and printed, as for the cluster
    finally:
        group.close()
