"""A task's whole life through the real server: enqueue, watch, result, retry, cancel, depend."""

from __future__ import annotations

import itertools
import time
import uuid

import grpc
from taskqueue.v1 import taskqueue_pb2 as pb
from taskqueue_server.service.structs import struct_to_dict

from tests.e2e.helpers import Driver, Records, result_dict, rpc_error


def test_enqueue_watch_to_completion_and_read_the_result(driver: Driver) -> None:
    task = driver.enqueue("echo", {"hello": "world", "n": 3}, priority=5)
    assert task.id.startswith("default-") and task.status == pb.TASK_STATUS_PENDING
    states = driver.watch(task.id)
    assert states[0].id == task.id
    assert states[-1].status == pb.TASK_STATUS_COMPLETED
    versions = [s.version for s in states]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    result = driver.result(task.id)
    assert result.status == pb.TASK_STATUS_COMPLETED
    assert result_dict(result) == {"echo": {"hello": "world", "n": 3}, "attempt": 1}
    done = driver.get(task.id)
    assert done.attempts == 1
    assert done.finished_at.ToMilliseconds() >= done.created_at.ToMilliseconds()


def test_watch_reports_progress_and_get_result_waits(driver: Driver) -> None:
    task = driver.enqueue("sleep", {"seconds": 0.5})
    assert driver.result(task.id).status in (pb.TASK_STATUS_PENDING, pb.TASK_STATUS_PROCESSING)
    states = driver.watch(task.id)
    progress = [s.progress for s in states]
    assert progress == sorted(progress) and {10, 100} <= set(progress), progress
    assert any(s.progress_message.startswith("step ") for s in states)
    assert states[-1].status == pb.TASK_STATUS_COMPLETED
    assert result_dict(driver.finish(task.id)) == {"slept": 0.5}


def test_get_result_blocks_until_the_task_finishes(driver: Driver) -> None:
    task = driver.enqueue("sleep", {"seconds": 0.6})
    started = time.monotonic()
    response = driver.result(task.id, wait=10)
    waited = time.monotonic() - started
    assert response.status == pb.TASK_STATUS_COMPLETED
    assert 0.3 < waited < 5, waited


def test_failed_attempts_retry_with_growing_backoff(driver: Driver, records: Records) -> None:
    # Server runs with base 0.2 s, factor 2, no jitter: gaps of 0.2, 0.4, 0.8 s.
    task = driver.enqueue("record", {"fail_until": 4}, max_retries=5)
    states = driver.watch(task.id, timeout=30)
    assert pb.TASK_STATUS_RETRYING in {s.status for s in states}
    assert states[-1].status == pb.TASK_STATUS_COMPLETED and states[-1].attempts == 4
    times = records.attempt_times_ms(task.id)
    gaps = [(b - a) / 1000 for a, b in itertools.pairwise(times)]
    assert len(gaps) == 3
    for gap, expected in zip(gaps, (0.2, 0.4, 0.8), strict=True):
        assert expected * 0.9 <= gap <= expected + 1.5, gaps
    assert gaps[0] < gaps[1] < gaps[2], gaps


def test_retries_run_out_and_the_task_fails(driver: Driver, records: Records) -> None:
    task = driver.enqueue("record", {"fail_until": 99}, max_retries=1)
    response = driver.finish(task.id)
    assert response.status == pb.TASK_STATUS_FAILED
    assert "attempt 2 fails on purpose" in response.error
    assert records.runs(task.id) == 2


def test_permanent_failure_does_not_retry(driver: Driver) -> None:
    task = driver.enqueue("fail", {"permanent": True, "message": "bad address"}, max_retries=5)
    response = driver.finish(task.id)
    assert response.status == pb.TASK_STATUS_FAILED and "bad address" in response.error
    assert driver.get(task.id).attempts == 1


def test_retry_task_requeues_a_failed_task(driver: Driver, records: Records) -> None:
    task = driver.enqueue("record", {"fail_runs": 1}, max_retries=0)
    assert driver.finish(task.id).status == pb.TASK_STATUS_FAILED
    retried = driver.stub.RetryTask(pb.RetryTaskRequest(task_id=task.id), timeout=10).task
    assert retried.status in (pb.TASK_STATUS_PENDING, pb.TASK_STATUS_PROCESSING)
    assert driver.finish(task.id).status == pb.TASK_STATUS_COMPLETED
    assert records.runs(task.id) == 2
    error = rpc_error(driver.stub.RetryTask, pb.RetryTaskRequest(task_id=task.id), timeout=10)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_cancel_a_pending_task_then_cancel_again(driver: Driver) -> None:
    # No worker takes tasks from this queue, so the task stays pending.
    task = driver.enqueue("echo", {}, queue="nobody_works_here")
    cancelled = driver.stub.CancelTask(pb.CancelTaskRequest(task_id=task.id), timeout=10).task
    assert cancelled.status == pb.TASK_STATUS_CANCELLED
    # A retry of a cancel whose answer was lost: OK, the same task, nothing changed.
    again = driver.stub.CancelTask(pb.CancelTaskRequest(task_id=task.id), timeout=10).task
    assert again == cancelled


def test_watch_after_a_version_sends_only_newer_states(driver: Driver) -> None:
    task = driver.enqueue("echo", {}, queue="nobody_works_here")
    resumed = driver.stub.WatchTask(
        pb.WatchTaskRequest(task_id=task.id, after_version=task.version), timeout=20
    )
    driver.stub.CancelTask(pb.CancelTaskRequest(task_id=task.id), timeout=10)
    assert [(t.status, t.version) for t in (m.task for m in resumed)] == [
        (pb.TASK_STATUS_CANCELLED, task.version + 1)
    ]
    # Nothing newer than the terminal state: the stream ends at once, empty.
    caught_up = pb.WatchTaskRequest(task_id=task.id, after_version=task.version + 1)
    assert list(driver.stub.WatchTask(caught_up, timeout=20)) == []
    # Unset: the current state first, as always.
    assert [t.version for t in driver.watch(task.id)] == [task.version + 1]


def test_cancel_a_scheduled_task(driver: Driver) -> None:
    task = driver.enqueue("echo", {}, delay_seconds=60)
    assert task.status == pb.TASK_STATUS_SCHEDULED
    driver.stub.CancelTask(pb.CancelTaskRequest(task_id=task.id), timeout=10)
    assert driver.finish(task.id, timeout=1).status == pb.TASK_STATUS_CANCELLED


def test_cancel_a_running_task_reaches_its_handler(driver: Driver, records: Records) -> None:
    task = driver.enqueue("block", {"seconds": 60})
    driver.wait_for(task.id, [pb.TASK_STATUS_PROCESSING])
    records.wait_until("started", task.id)
    driver.stub.CancelTask(pb.CancelTaskRequest(task_id=task.id), timeout=10)
    assert driver.finish(task.id, timeout=10).status == pb.TASK_STATUS_CANCELLED
    assert records.wait_until("ended", task.id) == "cancelled"


def test_dependencies_wait_then_run(driver: Driver) -> None:
    first = driver.enqueue("sleep", {"seconds": 0.3})
    second = driver.enqueue("echo", {"after": first.id}, depends_on=[first.id])
    assert second.status == pb.TASK_STATUS_WAITING
    assert driver.finish(second.id).status == pb.TASK_STATUS_COMPLETED
    assert (
        driver.get(second.id).started_at.ToMilliseconds()
        >= driver.get(first.id).finished_at.ToMilliseconds()
    )


def test_a_failed_dependency_cancels_the_dependent(driver: Driver) -> None:
    first = driver.enqueue("record", {"sleep": 0.3, "fail_runs": 1}, max_retries=0)
    second = driver.enqueue("echo", {}, depends_on=[first.id])
    assert second.status == pb.TASK_STATUS_WAITING
    assert driver.finish(second.id).status == pb.TASK_STATUS_CANCELLED
    assert driver.get(first.id).status == pb.TASK_STATUS_FAILED
    # Depending on a task that has already failed is refused up front.
    error = rpc_error(driver.enqueue, "echo", {}, depends_on=[first.id])
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_scheduled_tasks_wait_for_their_time(driver: Driver) -> None:
    task = driver.enqueue("echo", {}, delay_seconds=1.0)
    assert task.status == pb.TASK_STATUS_SCHEDULED
    run_at = task.run_at.ToMilliseconds()
    assert run_at - task.created_at.ToMilliseconds() >= 990
    assert driver.finish(task.id, timeout=15).status == pb.TASK_STATUS_COMPLETED
    assert driver.get(task.id).started_at.ToMilliseconds() >= run_at

    at = pb.EnqueueRequest(task_type="echo")
    at.run_at.FromMilliseconds(int(time.time() * 1000) + 800)
    later = driver.stub.Enqueue(at, timeout=10).task
    assert later.status == pb.TASK_STATUS_SCHEDULED
    assert driver.finish(later.id, timeout=15).status == pb.TASK_STATUS_COMPLETED
    assert driver.get(later.id).started_at.ToMilliseconds() >= at.run_at.ToMilliseconds()


def test_idempotency_key_returns_the_first_task(driver: Driver, records: Records) -> None:
    first = driver.enqueue_response("record", {"n": 1}, idempotency_key="order-42")
    again = driver.enqueue_response("record", {"n": 2}, idempotency_key="order-42")
    assert not first.deduplicated and again.deduplicated
    assert again.task_id == first.task_id
    # The first caller's data comes back, not the repeat's.
    assert struct_to_dict(again.task.task_data) == {"n": 1}
    driver.finish(first.task_id)
    assert records.runs(first.task_id) == 1


def test_enqueue_batch_stores_all_in_order(driver: Driver) -> None:
    batch = pb.EnqueueBatchRequest(
        tasks=[pb.EnqueueRequest(task_type="echo", priority=i) for i in range(5)]
    )
    answer = driver.stub.EnqueueBatch(batch, timeout=10)
    tasks = answer.tasks
    assert [t.priority for t in tasks] == list(range(5))
    assert list(answer.task_ids) == [t.id for t in tasks]
    for task in tasks:
        assert driver.finish(task.id).status == pb.TASK_STATUS_COMPLETED


def test_enqueue_batch_ids_only_answers_the_ids_of_stored_tasks(driver: Driver) -> None:
    batch = pb.EnqueueBatchRequest(
        tasks=[pb.EnqueueRequest(task_type="echo", priority=i) for i in range(3)],
        ids_only=True,
    )
    answer = driver.stub.EnqueueBatch(batch, timeout=10)
    assert not answer.tasks and len(answer.task_ids) == 3
    assert [driver.get(task_id).priority for task_id in answer.task_ids] == [0, 1, 2]


def test_enqueue_batch_ids_only_answers_the_existing_task_for_a_repeated_key(
    driver: Driver,
) -> None:
    # One key of the clients' shape (it becomes the task's id), one of the caller's own.
    keys = [f"{int(time.time() * 1000):012x}{'ab' * 10}", f"import-{uuid.uuid4()}"]
    batch = pb.EnqueueBatchRequest(
        tasks=[pb.EnqueueRequest(task_type="echo", idempotency_key=key) for key in keys],
        ids_only=True,
    )
    first = list(driver.stub.EnqueueBatch(batch, timeout=10).task_ids)
    again = list(driver.stub.EnqueueBatch(batch, timeout=10).task_ids)
    assert again == first and len(set(first)) == 2
    assert [driver.get(task_id).idempotency_key for task_id in again] == keys


def test_stats_count_by_type_and_status(driver: Driver) -> None:
    queue = "stats_only"
    for _ in range(3):
        driver.enqueue("echo", {}, queue=queue)
    driver.enqueue("sleep", {}, queue=queue, delay_seconds=300)
    stats = driver.stats(queue=queue)
    assert stats["echo"]["pending"] == 3
    assert stats["sleep"]["scheduled"] == 1
    assert set(driver.stats(queue=queue, task_type="sleep")) == {"sleep"}


def test_list_tasks_pages_through_everything_once(driver: Driver) -> None:
    queue = "paging"
    ids = {driver.enqueue("echo", {"i": i}, queue=queue).id for i in range(23)}
    first = driver.stub.ListTasks(pb.ListTasksRequest(queue=queue, page_size=10), timeout=10)
    assert len(first.tasks) == 10 and first.next_page_token
    listed = driver.list_all(queue, page_size=10)
    assert [t.id for t in listed] == sorted((t.id for t in listed), reverse=True)  # newest first
    assert {t.id for t in listed} == ids and len(listed) == len(ids)
    pending = driver.list_all(queue, status=pb.TASK_STATUS_PENDING, task_type="echo")
    assert {t.id for t in pending} == ids
    error = rpc_error(
        driver.stub.ListTasks,
        pb.ListTasksRequest(queue=queue, page_token=first.next_page_token[:-2] + "xx"),
        timeout=10,
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_get_result_answers_before_the_callers_deadline(driver: Driver) -> None:
    task = driver.enqueue("sleep", {"seconds": 5})
    started = time.monotonic()
    response = driver.stub.GetResult(
        pb.GetResultRequest(task_id=task.id, wait_seconds=30), timeout=1.0
    )
    assert response.status in (pb.TASK_STATUS_PENDING, pb.TASK_STATUS_PROCESSING)
    assert time.monotonic() - started < 1.0
    driver.stub.CancelTask(pb.CancelTaskRequest(task_id=task.id), timeout=10)
