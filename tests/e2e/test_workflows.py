"""Workflows through a real server: a flow in one EnqueueBatch, and a chord whose callback
sees every result, or is cancelled when a member fails."""

from __future__ import annotations

import itertools
import time
from typing import Any

from taskqueue.v1 import taskqueue_pb2 as pb

from tests.e2e.helpers import Driver, Records, result_dict


def enqueue_flow(driver: Driver, *items: dict[str, Any]) -> list[pb.Task]:
    tasks = []
    for item in items:
        request = pb.EnqueueRequest(task_type=item["task_type"])
        request.task_data.update(item.get("data", {}))
        request.depends_on_index.extend(item.get("after", ()))
        tasks.append(request)
    return list(driver.stub.EnqueueBatch(pb.EnqueueBatchRequest(tasks=tasks), timeout=10).tasks)


def test_a_chord_callback_reads_every_result_of_its_group(driver: Driver) -> None:
    *parts, callback = enqueue_flow(
        driver,
        {"task_type": "echo", "data": {"part": 1}},
        {"task_type": "echo", "data": {"part": 2}},
        {"task_type": "gather", "after": [0, 1]},
    )
    assert callback.status == pb.TASK_STATUS_WAITING
    assert list(callback.depends_on) == [p.id for p in parts]
    done = driver.finish(callback.id)
    assert done.status == pb.TASK_STATUS_COMPLETED
    assert result_dict(done)["seen"] == {
        parts[0].id: {"echo": {"part": 1}, "attempt": 1},
        parts[1].id: {"echo": {"part": 2}, "attempt": 1},
    }


def test_a_chain_passes_each_result_to_the_next_step(driver: Driver) -> None:
    first, second, third = enqueue_flow(
        driver,
        {"task_type": "echo", "data": {"step": 1}},
        {"task_type": "gather", "after": [0]},
        {"task_type": "gather", "after": [1]},
    )
    done = driver.finish(third.id)
    assert result_dict(done)["seen"] == {
        second.id: {"seen": {first.id: {"echo": {"step": 1}, "attempt": 1}}}
    }


def test_a_failed_member_cancels_the_chord_callback_with_a_reason(driver: Driver) -> None:
    ok, failing, callback = enqueue_flow(
        driver,
        {"task_type": "echo", "data": {}},
        {"task_type": "fail", "data": {"permanent": True}},
        {"task_type": "gather", "after": [0, 1]},
    )
    done = driver.finish(callback.id)
    assert done.status == pb.TASK_STATUS_CANCELLED
    assert done.error == f"dependency {failing.id} did not complete"
    assert driver.finish(ok.id).status == pb.TASK_STATUS_COMPLETED


def test_a_unique_key_holds_one_pending_task_until_it_starts(driver: Driver) -> None:
    first = driver.enqueue_response("echo", {"n": 1}, unique_key="e2e-unique", delay_seconds=1)
    second = driver.enqueue_response("echo", {"n": 2}, unique_key="e2e-unique")
    assert second.deduplicated and second.task_id == first.task_id
    assert second.task.unique_key == "e2e-unique"
    driver.finish(first.task_id)
    third = driver.enqueue_response("echo", {"n": 3}, unique_key="e2e-unique")
    assert not third.deduplicated and third.task_id != first.task_id


def test_a_task_not_started_by_its_expire_time_ends_cancelled(driver: Driver) -> None:
    """It waits on a slow task past its deadline, so it never starts."""
    slow = driver.enqueue("sleep", {"seconds": 1.5})
    expire = int((time.time() + 0.5) * 1000)
    deadline = {"seconds": expire // 1000, "nanos": expire % 1000 * 10**6}
    task = driver.enqueue("echo", {}, depends_on=[slow.id], expire_time=deadline)
    assert task.expire_time.ToMilliseconds() == expire
    done = driver.finish(task.id, timeout=10)
    assert (done.status, done.error) == (pb.TASK_STATUS_CANCELLED, "expired before it started")
    assert driver.get(task.id).started_at.ToMilliseconds() == 0
    assert driver.finish(slow.id).status == pb.TASK_STATUS_COMPLETED


def test_a_task_retry_policy_replaces_the_servers_backoff(
    driver: Driver, records: Records
) -> None:
    """The server backs off 0.2 s then 0.4 s; this task asks for 0.6 s every time."""
    policy = {"base_seconds": 0.6, "factor": 1, "jitter": 0}
    task = driver.enqueue("record", {"fail_until": 3}, max_retries=5, retry_policy=policy)
    assert task.retry_policy.base_seconds == 0.6 and task.retry_policy.HasField("factor")
    assert driver.finish(task.id).status == pb.TASK_STATUS_COMPLETED
    times = records.attempt_times_ms(task.id)
    gaps = [(b - a) / 1000 for a, b in itertools.pairwise(times)]
    assert len(gaps) == 2 and all(0.55 <= gap <= 0.6 + 1.5 for gap in gaps), gaps


def test_an_error_named_permanent_fails_the_task_at_once(driver: Driver) -> None:
    policy = {"permanent_errors": ["RuntimeError"]}
    task = driver.enqueue("fail", {}, max_retries=5, retry_policy=policy)
    done = driver.finish(task.id)
    assert done.status == pb.TASK_STATUS_FAILED
    assert driver.get(task.id).attempts == 1
