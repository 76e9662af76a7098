"""WorkerService against a real server process on real Redis: one remote worker's view."""

from __future__ import annotations

import threading
import time

import grpc
import pytest
from taskqueue.v1 import taskqueue_pb2 as pb
from taskqueue.v1 import worker_pb2 as wpb

from tests.e2e.helpers import Driver
from tests.support.worker_driver import WorkerDriver


def enqueue(driver: Driver, worker: WorkerDriver, **fields: object) -> str:
    return str(driver.enqueue(worker.task_types[0], {"n": 1}, **fields).id)


def refusal(call: object) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()  # type: ignore[operator]
    return caught.value


def test_long_poll_answers_soon_after_an_enqueue(driver: Driver, worker: WorkerDriver) -> None:
    enqueued_at: list[float] = []

    def enqueue_later() -> None:
        time.sleep(0.5)
        enqueued_at.append(time.monotonic())
        enqueue(driver, worker)

    threading.Thread(target=enqueue_later).start()
    [task] = worker.lease(wait=10)
    latency = time.monotonic() - enqueued_at[0]
    assert latency < 1.0, latency  # one wait slice at worst; typically milliseconds
    assert (task.attempt, task.task_data["n"], task.queue) == (1, 1, "default")
    assert int(task.lease_token) > 0 and task.lease_expires_at.seconds > time.time()


def test_an_empty_long_poll_ends_after_wait_seconds(worker: WorkerDriver) -> None:
    started = time.monotonic()
    assert worker.lease(wait=0.6) == []
    assert 0.55 <= time.monotonic() - started < 5


def test_complete_stores_the_result_and_fences_a_second_report(
    driver: Driver, worker: WorkerDriver
) -> None:
    task_id = enqueue(driver, worker)
    [task] = worker.lease(max_tasks=5)
    worker.complete(task, {"ok": True})
    result = driver.result(task_id)
    assert (result.status, dict(result.result)) == (pb.TASK_STATUS_COMPLETED, {"ok": True})
    stale = refusal(lambda: worker.fail(task))
    assert stale.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "STALE_LEASE" in (stale.details() or "")
    assert driver.get(task_id).status == pb.TASK_STATUS_COMPLETED


def test_unknown_task_and_malformed_token_are_refused(worker: WorkerDriver) -> None:
    ghost = wpb.LeasedTask(task_id="default-" + "0" * 32, lease_token="1")
    assert refusal(lambda: worker.complete(ghost)).code() == grpc.StatusCode.NOT_FOUND
    forged = wpb.LeasedTask(task_id="default-" + "0" * 32, lease_token="x1")
    bad = refusal(lambda: worker.complete(forged))
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (bad.details() or "").startswith("lease_token:")


def test_failure_retries_after_the_servers_backoff_then_fails_when_spent(
    driver: Driver, worker: WorkerDriver
) -> None:
    task_id = enqueue(driver, worker, max_retries=1)
    [task] = worker.lease()
    before_ms = time.time() * 1000
    worker.fail(task, "first")
    retrying = driver.get(task_id)
    assert retrying.status == pb.TASK_STATUS_RETRYING and retrying.last_error == "first"
    # FAST_RETRY_ARGS: base 0.2 s, no jitter, the pool's RetryPolicy.
    delay_ms = retrying.run_at.ToMilliseconds() - before_ms
    assert 150 <= delay_ms <= 1200, delay_ms
    [again] = worker.lease(wait=10)
    assert again.attempt == 2 and again.lease_token != task.lease_token
    worker.fail(again, "second")
    failed = driver.get(task_id)
    assert (failed.status, failed.last_error) == (pb.TASK_STATUS_FAILED, "second")


def test_the_servers_backoff_follows_the_tasks_retry_policy(
    driver: Driver, worker: WorkerDriver
) -> None:
    policy = {"base_seconds": 20, "jitter": 0}
    task_id = enqueue(driver, worker, max_retries=1, retry_policy=policy)
    [task] = worker.lease()
    before_ms = time.time() * 1000
    worker.fail(task, "first")
    delay_ms = driver.get(task_id).run_at.ToMilliseconds() - before_ms
    assert 19_000 <= delay_ms <= 21_000, delay_ms


def test_permanent_failure_and_retry_after(driver: Driver, worker: WorkerDriver) -> None:
    permanent_id = enqueue(driver, worker)
    [task] = worker.lease()
    worker.fail(task, "bad input", permanent=True)
    assert driver.get(permanent_id).status == pb.TASK_STATUS_FAILED
    later_id = enqueue(driver, worker)
    [task] = worker.lease()
    before_ms = time.time() * 1000
    worker.fail(task, "rate limited", retry_after_seconds=30)
    run_at = driver.get(later_id).run_at.ToMilliseconds()
    assert 29_000 <= run_at - before_ms <= 31_000


def test_release_hands_back_without_spending_a_retry(driver: Driver, worker: WorkerDriver) -> None:
    task_id = enqueue(driver, worker)
    [task] = worker.lease()
    worker.release(task)
    back = driver.get(task_id)
    assert (back.status, back.attempts) == (pb.TASK_STATUS_PENDING, 0)
    assert refusal(lambda: worker.release(task)).code() == grpc.StatusCode.FAILED_PRECONDITION
    [again] = worker.lease()
    assert again.attempt == 1


def test_progress_reaches_the_task(driver: Driver, worker: WorkerDriver) -> None:
    task_id = enqueue(driver, worker)
    [task] = worker.lease()
    worker.progress(task, 40, "halfway-ish")
    seen = driver.get(task_id)
    assert (seen.progress, seen.progress_message) == (40, "halfway-ish")
    bad = refusal(lambda: worker.progress(task, 101))
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (bad.details() or "").startswith("progress:")


def test_renewal_reports_renewed_lost_and_cancelled(driver: Driver, worker: WorkerDriver) -> None:
    kept_id, cancelled_id, lost_id = (enqueue(driver, worker) for _ in range(3))
    leased = {t.task_id: t for t in worker.lease(max_tasks=3)}
    driver.stub.CancelTask(pb.CancelTaskRequest(task_id=cancelled_id), timeout=10)
    worker.release(leased[lost_id])
    reply = worker.renew(list(leased.values()))
    assert list(reply.renewed) == [kept_id]
    assert (list(reply.cancelled), list(reply.lost)) == ([cancelled_id], [lost_id])
    assert reply.lease_expires_at.seconds > time.time() + 20  # the server's 30 s lease


def test_list_workers_shows_heartbeats_and_the_in_process_pool(worker: WorkerDriver) -> None:
    beat = wpb.WorkerHeartbeat(host="box-7", queues=["default"], task_types=["x"], concurrency=3)
    beat.started_at.FromSeconds(int(time.time()) - 5)
    worker.renew([], heartbeat=beat)
    listed = {w.worker_id: w for w in worker.workers()}
    mine = listed[worker.worker_id]
    assert (mine.host, list(mine.task_types), mine.concurrency, mine.in_process) == (
        "box-7",
        ["x"],
        3,
        False,
    )
    assert abs(mine.last_seen_at.seconds - time.time()) < 5
    pools = [w for w in listed.values() if w.in_process]
    assert pools and "echo" in pools[0].task_types


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"worker_id": ""}, "worker_id"),
        ({"task_types": []}, "task_types"),
        ({"task_types": ["bad type"]}, "task_types[0]"),
        ({"queues": ["no-dash"]}, "queues[0]"),
        ({"max_tasks": 1001}, "max_tasks"),
        ({"lease_seconds": 0.5}, "lease_seconds"),
        ({"wait_seconds": -1}, "wait_seconds"),
    ],
)
def test_malformed_lease_requests_name_the_field(
    worker: WorkerDriver, fields: dict[str, object], field: str
) -> None:
    request = wpb.LeaseTasksRequest(worker_id="w", task_types=["t"])
    for name, value in fields.items():
        request.ClearField(name)
        if isinstance(value, list):
            getattr(request, name).extend(value)
        else:
            setattr(request, name, value)
    bad = refusal(lambda: worker.stub.LeaseTasks(request, timeout=10))
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (bad.details() or "").startswith(field + ":"), bad.details()


def test_finish_tasks_records_a_batch_and_leases_the_next(
    driver: Driver, worker: WorkerDriver
) -> None:
    done_id, failed_id, retried_id, next_id = (
        enqueue(driver, worker, max_retries=2) for _ in range(4)
    )
    leased = {t.task_id: t for t in worker.lease(max_tasks=3)}
    assert set(leased) == {done_id, failed_id, retried_id}
    ok = wpb.TaskOutcome(task_id=done_id, lease_token=leased[done_id].lease_token)
    ok.result.update({"ok": 1})
    gone = wpb.TaskOutcome(
        task_id=failed_id, lease_token=leased[failed_id].lease_token,
        failure=wpb.TaskFailure(error="bad", permanent=True),
    )  # fmt: skip
    again = wpb.TaskOutcome(
        task_id=retried_id, lease_token=leased[retried_id].lease_token,
        failure=wpb.TaskFailure(error="flaky"),
    )  # fmt: skip
    stale = wpb.TaskOutcome(task_id=done_id, lease_token="99", result={})
    ghost = wpb.TaskOutcome(
        task_id="default-" + "0" * 32, lease_token="1", failure=wpb.TaskFailure(error="x")
    )
    reply = worker.finish([ok, gone, again, stale, ghost], max_tasks=5)
    assert sorted(reply.refused) == sorted([done_id, "default-" + "0" * 32])
    assert [t.task_id for t in reply.tasks] == [next_id]
    assert dict(driver.result(done_id).result) == {"ok": 1}
    assert driver.get(failed_id).status == pb.TASK_STATUS_FAILED
    retrying = driver.get(retried_id)
    assert retrying.status == pb.TASK_STATUS_RETRYING and retrying.last_error == "flaky"


def test_finish_tasks_names_the_bad_outcome(worker: WorkerDriver) -> None:
    empty = wpb.TaskOutcome(task_id="default-" + "0" * 32, lease_token="1")
    bad = refusal(lambda: worker.finish([empty]))
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (bad.details() or "").startswith("outcomes[0]: set either result or failure")
    blank = wpb.TaskOutcome(
        task_id="default-" + "0" * 32, lease_token="1", failure=wpb.TaskFailure(error=" ")
    )
    bad = refusal(lambda: worker.finish([blank]))
    assert (bad.details() or "").startswith("outcomes[0].failure.error:")
