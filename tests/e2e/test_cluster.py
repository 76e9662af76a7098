"""A real server process on a real local Redis Cluster: queues on every shard, events over
sharded pub/sub, cancellation of a running task, Stats from every shard, bad URLs."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from taskqueue.v1 import taskqueue_pb2 as pb

from tests.e2e.helpers import Driver, rpc_error
from tests.support.redis_cluster import LocalCluster
from tests.support.server_process import DEMO_HANDLERS, ServerFactory, start_server

pytestmark = pytest.mark.cluster
QUEUES = [f"shard{i}" for i in range(6)]


@pytest.fixture(scope="module")
def cluster_driver(redis_cluster: LocalCluster) -> Iterator[Driver]:
    with ServerFactory(redis_url=redis_cluster.url) as factory:
        server = factory.start(
            handlers=[DEMO_HANDLERS], extra_args=[f"--queues={','.join(QUEUES)}"]
        )
        driver = Driver(server.target)
        yield driver
        driver.close()


def test_queues_on_every_shard_run_their_tasks_and_stats_count_them_all(
    cluster_driver: Driver, redis_cluster: LocalCluster
) -> None:
    owners = {redis_cluster.primary_of(f"x:{{{queue}}}:") for queue in QUEUES}
    assert len(owners) == 3, "the queues must cover every shard for this test to mean much"
    tasks = [cluster_driver.enqueue("echo", {"q": q}, queue=q) for q in QUEUES for _ in range(3)]
    for task in tasks:
        states = cluster_driver.watch(task.id)
        assert states[-1].status == pb.TASK_STATUS_COMPLETED, task.id
    assert cluster_driver.stats()["echo"]["completed"] == len(tasks)


def test_cancelling_a_running_task_reaches_it_through_its_shard(cluster_driver: Driver) -> None:
    task = cluster_driver.enqueue("sleep", {"seconds": 60}, queue=QUEUES[4])
    cluster_driver.wait_for(task.id, [pb.TASK_STATUS_PROCESSING])
    cluster_driver.stub.CancelTask(pb.CancelTaskRequest(task_id=task.id), timeout=10)
    # The handler is signalled over sharded pub/sub; its attempt ends well before 60 s.
    assert cluster_driver.finish(task.id, timeout=15).status == pb.TASK_STATUS_CANCELLED


def test_a_dependency_in_another_queue_is_refused_naming_the_field(
    cluster_driver: Driver,
) -> None:
    parent = cluster_driver.enqueue("echo", {}, queue=QUEUES[0])
    error = rpc_error(
        cluster_driver.enqueue, "echo", {}, queue=QUEUES[1], depends_on=[parent.id]
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "depends_on[0]" in (error.details() or "")


def test_a_plain_url_at_a_cluster_node_stops_the_server_with_the_fix(
    redis_cluster: LocalCluster,
) -> None:
    node = f"127.0.0.1:{redis_cluster.ports[0]}"
    with pytest.raises(RuntimeError) as failed:
        start_server(redis_url=f"redis://{node}/0", ready_timeout=20)
    assert f"redis+cluster://{node}" in str(failed.value)
