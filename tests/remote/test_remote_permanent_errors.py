"""A retry policy's permanent_errors applies to remote workers' failures as to in-process
ones: a remote worker sends its error's kind names (FailTask / TaskFailure error_types) and
the server matches them against the task's policy, its own or its queue's default."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from google.rpc import error_details_pb2
from taskqueue.v1 import taskqueue_pb2 as pb
from taskqueue.v1 import worker_pb2 as wpb
from taskqueue_client.worker import Worker

from tests.e2e.helpers import Driver
from tests.e2e.test_queue_retry_policy import set_policy
from tests.remote import handlers_remote  # noqa: F401  (registers remote_raise)
from tests.remote.test_python_worker import wait_done
from tests.remote.test_worker_service import enqueue, refusal
from tests.support.error_details import error_details
from tests.support.remote_worker import WorkerThread
from tests.support.server_process import ServerProcess
from tests.support.worker_driver import WorkerDriver

QUEUE = "quota_defaults"  # its default lists QuotaExceeded (set by the test using it)
LISTED = pb.RetryPolicy(permanent_errors=["QuotaExceeded"])


@pytest.fixture(scope="module")
def sdk_worker(remote_server: ServerProcess) -> Iterator[WorkerThread]:
    worker = Worker(remote_server.target, queues=["default", QUEUE], poll_seconds=1)
    worker.register_defaults()
    running = WorkerThread(worker)
    yield running
    running.stop()


def attempts_until_done(driver: Driver, task: pb.Task) -> tuple[int, int, str]:
    result = wait_done(driver, task.id)
    return result.status, driver.get(task.id).attempts, result.error


@pytest.mark.parametrize("error", ["QuotaExceeded", "DailyQuotaExceeded"])
def test_an_error_in_the_tasks_permanent_errors_ends_it_after_one_attempt(
    driver: Driver, sdk_worker: WorkerThread, error: str
) -> None:
    """DailyQuotaExceeded is a subclass of the listed QuotaExceeded: its MRO matches."""
    task = driver.enqueue("remote_raise", {"error": error}, max_retries=3, retry_policy=LISTED)
    assert attempts_until_done(driver, task) == (
        pb.TASK_STATUS_FAILED, 1, f"{error}: attempt 1",
    )  # fmt: skip


def test_an_unlisted_error_is_retried(driver: Driver, sdk_worker: WorkerThread) -> None:
    task = driver.enqueue(
        "remote_raise", {"error": "StillWarmingUp"}, max_retries=2, retry_policy=LISTED
    )
    assert attempts_until_done(driver, task) == (
        pb.TASK_STATUS_FAILED, 3, "StillWarmingUp: attempt 3",
    )  # fmt: skip


def test_an_error_in_the_queues_default_ends_the_task_after_one_attempt(
    driver: Driver, sdk_worker: WorkerThread
) -> None:
    """The same error in a queue without that default is retried (in "default": this server
    runs timers for it alone, so only there does a retry come due)."""
    set_policy(driver, QUEUE, permanent_errors=["QuotaExceeded"])
    listed = driver.enqueue("remote_raise", {"error": "QuotaExceeded"}, queue=QUEUE, max_retries=3)
    elsewhere = driver.enqueue("remote_raise", {"error": "QuotaExceeded"}, max_retries=1)
    assert attempts_until_done(driver, listed)[:2] == (pb.TASK_STATUS_FAILED, 1)
    assert attempts_until_done(driver, elsewhere)[:2] == (pb.TASK_STATUS_FAILED, 2)


def failure(task: wpb.LeasedTask, *error_types: str, **fields: object) -> wpb.TaskOutcome:
    return wpb.TaskOutcome(
        task_id=task.task_id, lease_token=task.lease_token,
        failure=wpb.TaskFailure(error="quota", error_types=error_types, **fields),  # type: ignore[arg-type]
    )  # fmt: skip


def test_error_types_sent_by_any_worker_over_fail_task_and_finish_tasks(
    driver: Driver, worker: WorkerDriver
) -> None:
    """What a worker in another language sends: names only, no Python class behind them.
    A listed name wins over retry_after_seconds, as PermanentError does in-process."""
    ids = [enqueue(driver, worker, max_retries=3, retry_policy=LISTED) for _ in range(4)]
    leased = {t.task_id: t for t in worker.lease(max_tasks=4)}
    by_call, later, batched, unlisted = (leased[task_id] for task_id in ids)
    worker.fail(by_call, "quota", error_types=["QuotaExceeded", "Error"])
    worker.fail(later, "quota", error_types=["QuotaExceeded"], retry_after_seconds=60)
    reply = worker.finish([failure(batched, "QuotaExceeded"), failure(unlisted, "Busy", "Error")])
    assert not reply.refused
    statuses = [driver.get(task_id).status for task_id in ids]
    assert statuses == [pb.TASK_STATUS_FAILED] * 3 + [pb.TASK_STATUS_RETRYING]


@pytest.mark.parametrize(
    ("error_types", "field"),
    [
        (["Error"] * 65, "error_types"),
        (["QuotaExceeded", ""], "error_types[1]"),
        (["E" * 201], "error_types[0]"),
    ],
)
def test_bad_error_types_are_refused_and_change_nothing(
    driver: Driver, worker: WorkerDriver, error_types: list[str], field: str
) -> None:
    task_id = enqueue(driver, worker, max_retries=3, retry_policy=LISTED)
    (leased,) = worker.lease()
    for call, named in (
        (lambda: worker.fail(leased, "quota", error_types=error_types), field),
        (lambda: worker.finish([failure(leased, *error_types)]), "outcomes[0].failure." + field),
    ):
        bad = refusal(call)
        assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
        _, details = error_details(bad)
        violations = [d for d in details if isinstance(d, error_details_pb2.BadRequest)]
        assert [v.field for v in violations[0].field_violations] == [named], details
        assert driver.get(task_id).status == pb.TASK_STATUS_PROCESSING
    worker.complete(leased, {"ok": 1})  # the lease is still held: the refusals changed nothing
    assert driver.get(task_id).status == pb.TASK_STATUS_COMPLETED
