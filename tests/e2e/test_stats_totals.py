"""Stats through a real server: the totals never go down while the status gauges do."""

from __future__ import annotations

from taskqueue.v1 import taskqueue_pb2 as pb

from tests.e2e.helpers import Driver

QUEUE = "default"  # the queue the shared server runs; this module has its own prefix
TOTALS = ["enqueued", "completed", "failed", "retried", "cancelled", "redelivered"]


def fail_totals(driver: Driver, last: dict[str, int]) -> dict[str, int]:
    """The `fail` type's gauges and totals; every total must be at least as before."""
    counts = driver.stats(queue=QUEUE, task_type="fail")["fail"]
    now = {name: counts.get(f"{name}_total", 0) for name in TOTALS}
    for name in TOTALS:
        assert now[name] >= last.get(name, 0), f"{name}_total went down: {last} -> {now}"
    now["failed_gauge"] = counts.get("failed", 0)
    now["cancelled_gauge"] = counts.get("cancelled", 0)
    return now


def test_retry_and_cancel_move_gauges_down_but_never_totals(driver: Driver) -> None:
    # Two attempts (one automatic retry), then failed for good.
    task = driver.enqueue("fail", {}, queue=QUEUE, max_retries=1)
    assert driver.finish(task.id).status == pb.TASK_STATUS_FAILED
    seen = fail_totals(driver, {})
    assert (seen["enqueued"], seen["retried"], seen["failed"], seen["failed_gauge"]) == (1, 1, 1, 1)

    # RetryTask: out of the failed gauge, one more retry, and it fails again (twice more).
    driver.stub.RetryTask(pb.RetryTaskRequest(task_id=task.id), timeout=10)
    assert driver.finish(task.id).status == pb.TASK_STATUS_FAILED
    seen = fail_totals(driver, seen)
    assert (seen["retried"], seen["failed"], seen["failed_gauge"]) == (3, 2, 1)

    # A delayed copy, cancelled and then retried: the cancelled gauge goes back to 0.
    later = driver.enqueue("fail", {"permanent": True}, queue=QUEUE, delay_seconds=3600)
    driver.stub.CancelTask(pb.CancelTaskRequest(task_id=later.id), timeout=10)
    seen = fail_totals(driver, seen)
    assert (seen["cancelled"], seen["cancelled_gauge"]) == (1, 1)
    driver.stub.RetryTask(pb.RetryTaskRequest(task_id=later.id), timeout=10)
    assert driver.finish(later.id).status == pb.TASK_STATUS_FAILED
    seen = fail_totals(driver, seen)
    assert seen == {
        "enqueued": 2,
        "completed": 0,
        "failed": 3,
        "retried": 4,
        "cancelled": 1,
        "redelivered": 0,
        "failed_gauge": 2,
        "cancelled_gauge": 0,
    }
