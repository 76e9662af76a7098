"""Queue and task controls over gRPC, against real server processes and real Redis."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import grpc
import pytest
from redis.asyncio import Redis
from taskqueue.v1 import taskqueue_pb2 as pb
from taskqueue_server.engine.settings import EngineSettings
from taskqueue_server.engine.store import RedisEngine

from tests.e2e.helpers import Driver, rpc_error
from tests.support.server_process import REDIS_URL, ServerFactory

INVALID = grpc.StatusCode.INVALID_ARGUMENT
# Long enough for a worker polling on its idle timeout to have claimed, on a loaded machine.
HOLD_SECONDS = 1.5


@pytest.fixture
def driver(servers: ServerFactory) -> Iterator[Driver]:
    client = Driver(servers.start(extra_args=["--concurrency", "1"]).target)
    yield client
    client.close()


@pytest.fixture
async def claim_engine(servers: ServerFactory) -> AsyncIterator[RedisEngine]:
    """An engine on the servers' keys, to try the claim path directly."""
    engine = RedisEngine(
        Redis.from_url(REDIS_URL),
        Redis.from_url(REDIS_URL),
        EngineSettings(key_prefix=servers.key_prefix),
    )
    await engine.start()
    yield engine
    await engine.close()


def stays_pending(driver: Driver, task_ids: list[str], seconds: float = HOLD_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for task_id in task_ids:
            assert driver.get(task_id).status == pb.TASK_STATUS_PENDING
        time.sleep(0.1)


def pause(driver: Driver, queue: str = "default") -> pb.PauseQueueResponse:
    return driver.stub.PauseQueue(pb.PauseQueueRequest(queue=queue), timeout=10)


def resume(driver: Driver, queue: str = "default") -> pb.ResumeQueueResponse:
    return driver.stub.ResumeQueue(pb.ResumeQueueRequest(queue=queue), timeout=10)


def queues(driver: Driver) -> dict[str, pb.Queue]:
    response = driver.stub.ListQueues(pb.ListQueuesRequest(), timeout=10)
    return {queue.name: queue for queue in response.queues}


def counts_and_pauses(driver: Driver) -> dict[str, tuple[bool, dict[str, pb.TaskTypeStats]]]:
    return {name: (q.paused, dict(q.task_types)) for name, q in queues(driver).items()}


async def test_pause_holds_tasks_on_every_server_and_survives_a_restart(
    servers: ServerFactory, claim_engine: RedisEngine
) -> None:
    first, second = servers.start(), servers.start()
    pausing, enqueuing = Driver(first.target), Driver(second.target)
    response = pause(pausing)
    assert response.changed and response.queue.paused and response.queue.name == "default"
    task_ids = [enqueuing.enqueue("echo", {"n": n}).id for n in range(3)]
    stays_pending(enqueuing, task_ids)
    assert await claim_engine.claim("default", ["echo"], 10, "test") == []
    pausing.close()
    enqueuing.close()
    assert first.stop() == 0 and second.stop() == 0

    restarted = Driver(servers.start().target)
    try:
        assert queues(restarted)["default"].paused
        stays_pending(restarted, task_ids)
        assert resume(restarted).changed
        for task_id in task_ids:
            assert restarted.finish(task_id).status == pb.TASK_STATUS_COMPLETED
        assert not queues(restarted)["default"].paused
    finally:
        restarted.close()


def test_list_queues_counts_and_ages(driver: Driver) -> None:
    pause(driver, "reports")
    driver.enqueue("echo", queue="reports")
    driver.enqueue("echo", queue="reports", delay_seconds=3600)
    time.sleep(0.05)
    listed = queues(driver)
    reports = listed["reports"]
    assert reports.paused and not listed.get("default", pb.Queue()).paused
    assert reports.task_types["echo"].pending == 1
    assert reports.task_types["echo"].scheduled == 1
    assert reports.oldest_pending_age.ToMilliseconds() >= 50


def test_purge_leaves_running_tasks(driver: Driver) -> None:
    running = driver.enqueue("sleep", {"seconds": 3})
    driver.wait_for(running.id, [pb.TASK_STATUS_PROCESSING])
    pause(driver)
    held = [driver.enqueue("echo").id for _ in range(3)]
    held.append(driver.enqueue("sleep", delay_seconds=3600).id)
    only_sleep = driver.stub.PurgeQueue(
        pb.PurgeQueueRequest(queue="default", task_type="sleep"), timeout=10
    )
    assert only_sleep.purged_count == 1
    purged = driver.stub.PurgeQueue(pb.PurgeQueueRequest(queue="default"), timeout=30)
    assert purged.purged_count == 3
    assert rpc_error(driver.get, held[0]).code() == grpc.StatusCode.NOT_FOUND
    assert driver.get(running.id).status == pb.TASK_STATUS_PROCESSING
    assert driver.finish(running.id).status == pb.TASK_STATUS_COMPLETED


def test_priority_change_moves_a_pending_task_first(servers: ServerFactory) -> None:
    # One slot and tasks of 50 ms: each starts in its own claim, at its own millisecond.
    driver = Driver(servers.start(extra_args=["--concurrency", "1"]).target)
    pause(driver)
    low = [driver.enqueue("sleep", {"seconds": 0.05}).id for _ in range(3)]
    moved = driver.stub.ChangePriority(
        pb.ChangePriorityRequest(task_id=low[2], priority=10), timeout=10
    ).task
    assert (moved.priority, moved.status) == (10, pb.TASK_STATUS_PENDING)
    resume(driver)
    started = {task_id: driver.finish(task_id) and driver.get(task_id) for task_id in low}
    # The raised task, enqueued last, ran before both older ones.
    assert started[low[2]].started_at.ToNanoseconds() < min(
        started[t].started_at.ToNanoseconds() for t in low[:2]
    )
    error = rpc_error(
        driver.stub.ChangePriority, pb.ChangePriorityRequest(task_id=low[0], priority=1)
    )
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "completed" in error.details()
    driver.close()


def test_delete_removes_finished_and_pending_but_not_running(driver: Driver) -> None:
    done = driver.enqueue("echo")
    driver.finish(done.id)
    running = driver.enqueue("sleep", {"seconds": 3})
    driver.wait_for(running.id, [pb.TASK_STATUS_PROCESSING])
    pause(driver)
    pending = driver.enqueue("echo")
    for task, status in ((done, pb.TASK_STATUS_COMPLETED), (pending, pb.TASK_STATUS_PENDING)):
        reply = driver.stub.DeleteTask(pb.DeleteTaskRequest(task_id=task.id), timeout=10)
        assert reply.previous_status == status
        assert rpc_error(driver.get, task.id).code() == grpc.StatusCode.NOT_FOUND
        assert rpc_error(driver.result, task.id).code() == grpc.StatusCode.NOT_FOUND
    assert all(t.id not in (done.id, pending.id) for t in driver.list_all("default"))
    error = rpc_error(driver.stub.DeleteTask, pb.DeleteTaskRequest(task_id=running.id))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION and "running" in error.details()
    assert driver.get(running.id).status == pb.TASK_STATUS_PROCESSING


CANCEL = pb.BULK_ACTION_CANCEL


def bulk(**fields: Any) -> pb.BulkTasksRequest:
    return pb.BulkTasksRequest(queue="default", action=CANCEL, **fields)


def test_bulk_cancel_counts_first_and_needs_the_count_back(driver: Driver) -> None:
    pause(driver)
    held = [driver.enqueue("echo", {"n": n}).id for n in range(3)]
    dry = driver.stub.BulkTasks(bulk(dry_run=True), timeout=10)
    assert (dry.matched_count, dry.next_page_token) == (3, "")
    error = rpc_error(driver.stub.BulkTasks, bulk(expected_count=2), timeout=10)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert {driver.get(t).status for t in held} == {pb.TASK_STATUS_PENDING}
    done = driver.stub.BulkTasks(bulk(expected_count=3), timeout=10)
    assert done.matched_count == 3
    assert {driver.get(t).status for t in held} == {pb.TASK_STATUS_CANCELLED}


def bad_requests(stub: Any, task_id: str) -> list[tuple[str, Callable[[], Any]]]:
    """(field the refusal must name, the call) for every control."""
    return [
        ("queue", lambda: stub.PauseQueue(pb.PauseQueueRequest(queue=""))),
        ("queue", lambda: stub.PauseQueue(pb.PauseQueueRequest(queue="no spaces"))),
        ("queue", lambda: stub.ResumeQueue(pb.ResumeQueueRequest(queue=""))),
        ("queue", lambda: stub.PurgeQueue(pb.PurgeQueueRequest(queue="a/b"))),
        (
            "task_type",
            lambda: stub.PurgeQueue(pb.PurgeQueueRequest(queue="default", task_type="x y")),
        ),
        ("task_id", lambda: stub.ChangePriority(pb.ChangePriorityRequest(task_id="nope"))),
        (
            "priority",
            lambda: stub.ChangePriority(pb.ChangePriorityRequest(task_id=task_id, priority=1001)),
        ),
        ("task_id", lambda: stub.DeleteTask(pb.DeleteTaskRequest(task_id="default-XYZ"))),
        ("action", lambda: stub.BulkTasks(pb.BulkTasksRequest(queue="default"))),
        ("queue", lambda: stub.BulkTasks(pb.BulkTasksRequest(action=CANCEL))),
        ("status", lambda: stub.BulkTasks(bulk(status=pb.TASK_STATUS_PROCESSING))),
        ("label", lambda: stub.BulkTasks(bulk(label="tenant=acme"))),
        ("expected_count", lambda: stub.BulkTasks(bulk(expected_count=-1))),
        ("created_before", lambda: stub.BulkTasks(bulk(created_before={"nanos": -1}))),
    ]


def test_bad_input_names_the_field_and_changes_nothing(driver: Driver) -> None:
    pause(driver)
    task = driver.enqueue("echo", {"keep": True})
    before = counts_and_pauses(driver)
    for field, call in bad_requests(driver.stub, task.id):
        error = rpc_error(call)
        assert error.code() == INVALID, (field, error.details())
        assert error.details().startswith(f"{field}:"), error.details()
    assert counts_and_pauses(driver) == before
    after = driver.get(task.id)
    assert (after.priority, after.status, after.version) == (
        0,
        pb.TASK_STATUS_PENDING,
        task.version,
    )
