"""Tasks a busy pool claimed ahead (worker/loop.py): leased here, not yet started, they are
dropped when cancelled and handed back at a stop, never run beside the slot's ceiling.

One slot (--concurrency 1); three quick tasks make the handlers "short", so the calls that
record their outcomes claim ahead: the first `block` task then runs and the second waits.
"""

from __future__ import annotations

import signal

from taskqueue.v1 import taskqueue_pb2 as pb

from tests.e2e.conftest import record_env
from tests.e2e.helpers import RECORD_HANDLERS, Driver, Records
from tests.support.server_process import FAST_RETRY_ARGS, REDIS_URL, ServerFactory


def start(servers: ServerFactory, *args: str) -> Driver:
    server = servers.start(
        handlers=[RECORD_HANDLERS],
        extra_args=[
            *FAST_RETRY_ARGS,
            "--concurrency",
            "1",
            "--shutdown-grace-seconds",
            "0.3",
            *args,
        ],
        env=record_env(servers),
    )
    return Driver(server.target)


def request(task_type: str, data: dict[str, float]) -> pb.EnqueueRequest:
    task = pb.EnqueueRequest(task_type=task_type)
    task.task_data.update(data)
    return task


def quick_then_two_blocks(driver: Driver, records: Records) -> list[pb.Task]:
    """Three quick tasks, then a `block` task that runs in the only slot (started when this
    returns), then a second `block` task."""
    batch = [request("slow", {}) for _ in range(3)]
    batch += [request("block", {"seconds": 60}), request("block", {"seconds": 0})]
    tasks = list(driver.stub.EnqueueBatch(pb.EnqueueBatchRequest(tasks=batch), timeout=10).tasks)
    records.wait_until("started", tasks[3].id)
    return tasks


def one_running_one_ahead(driver: Driver, records: Records) -> tuple[pb.Task, pb.Task]:
    """A `block` task running in the only slot and a second one claimed ahead."""
    tasks = quick_then_two_blocks(driver, records)
    running, ahead = tasks[3], tasks[4]
    driver.wait_for(ahead.id, [pb.TASK_STATUS_PROCESSING])
    assert records.get("started", ahead.id) is None
    return running, ahead


def test_a_task_cancelled_while_waiting_ahead_never_runs(servers: ServerFactory) -> None:
    driver = start(servers)
    records = Records(REDIS_URL, servers.key_prefix)
    running, ahead = one_running_one_ahead(driver, records)
    cancel = driver.stub.CancelTask
    assert cancel(pb.CancelTaskRequest(task_id=ahead.id), timeout=10).task.status == (
        pb.TASK_STATUS_CANCELLED
    )
    cancel(pb.CancelTaskRequest(task_id=running.id), timeout=10)
    # The slot is free again: had the cancelled task stayed ahead, it would run before this.
    after = driver.enqueue("slow", {})
    assert driver.finish(after.id).status == pb.TASK_STATUS_COMPLETED
    assert records.get("started", ahead.id) is None
    assert driver.get(ahead.id).status == pb.TASK_STATUS_CANCELLED


def test_a_stopping_server_hands_back_what_it_claimed_ahead(servers: ServerFactory) -> None:
    driver = start(servers)
    records = Records(REDIS_URL, servers.key_prefix)
    _, ahead = one_running_one_ahead(driver, records)
    stopping = servers.servers[0]
    stopping.process.send_signal(signal.SIGTERM)
    assert stopping.wait_exit(timeout=20) == 0
    # A server that runs nothing of this queue reads the task as the first one left it.
    watcher = start(servers, "--queues", "parked")
    handed_back = watcher.get(ahead.id)
    assert handed_back.status == pb.TASK_STATUS_PENDING and handed_back.attempts == 0
    runner = start(servers, "--concurrency", "2")  # the handed-back 60 s task takes one
    assert runner.finish(ahead.id).status == pb.TASK_STATUS_COMPLETED
    assert records.get("started", ahead.id) == "1"


def test_nothing_is_claimed_ahead_from_a_queue_with_a_running_limit(
    servers: ServerFactory,
) -> None:
    driver = start(servers)
    limits = pb.QueueLimits(task_type="block", max_running=5)  # never reached here
    driver.stub.SetQueueLimits(pb.SetQueueLimitsRequest(limits=limits), timeout=10)
    records = Records(REDIS_URL, servers.key_prefix)
    tasks = quick_then_two_blocks(driver, records)
    # The call that recorded the last quick task is the one that would have claimed ahead.
    assert driver.finish(tasks[2].id).status == pb.TASK_STATUS_COMPLETED
    assert driver.get(tasks[4].id).status == pb.TASK_STATUS_PENDING
