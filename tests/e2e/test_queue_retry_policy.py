"""A queue's default retry policy across 2 real servers on one Redis: set through one, it
decides the backoff (and the permanent errors) of tasks failing on the other, and of a remote
worker's FailTask/FinishTasks. A retry's delay is read from the task itself: run_at (when the
retry is due) minus updated_at (when the failure was recorded), both on Redis's clock."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest
from google.rpc import error_details_pb2
from taskqueue.v1 import taskqueue_pb2 as pb
from taskqueue.v1 import worker_pb2 as wpb
from taskqueue.v1 import worker_pb2_grpc as wpb_grpc

from tests.e2e.helpers import Driver
from tests.support.error_details import error_details
from tests.support.server_process import DEMO_HANDLERS, FAST_RETRY_ARGS, ServerFactory

RETRYING = pb.TaskStatus.TASK_STATUS_RETRYING
FAILED = pb.TaskStatus.TASK_STATUS_FAILED
FLAGS_BASE_MS = 200  # FAST_RETRY_ARGS: --retry-base-seconds 0.2, no jitter
# Queues the running server serves; "remote" is left to remote workers.
SERVED = ("shared", "own", "cleared", "local", "permanent")


@dataclass
class Pair:
    admin: Driver  # a server with no handlers: where policies are set and tasks enqueued
    runner: Driver  # the server whose workers run the tasks
    admin_target: str


@pytest.fixture(scope="module")
def pair(redis_available: None) -> Iterator[Pair]:
    with ServerFactory() as factory:
        runner = factory.start(
            handlers=[DEMO_HANDLERS], extra_args=[*FAST_RETRY_ARGS, "--queues", ",".join(SERVED)]
        )
        admin = factory.start(handlers=[], extra_args=FAST_RETRY_ARGS)
        drivers = Pair(Driver(admin.target), Driver(runner.target), admin.target)
        yield drivers
        drivers.admin.close()
        drivers.runner.close()


def set_policy(driver: Driver, queue: str, **fields: object) -> pb.SetQueueRetryPolicyResponse:
    request = pb.SetQueueRetryPolicyRequest(queue=queue)
    if fields:
        request.retry_policy.CopyFrom(pb.RetryPolicy(**fields))  # type: ignore[arg-type]
    return driver.stub.SetQueueRetryPolicy(request, timeout=10)


def get_policy(driver: Driver, queue: str) -> pb.GetQueueRetryPolicyResponse:
    return driver.stub.GetQueueRetryPolicy(pb.GetQueueRetryPolicyRequest(queue=queue), timeout=10)


def retry_delay_ms(task: pb.Task) -> int:
    assert task.status == RETRYING, task
    return task.run_at.ToMilliseconds() - task.updated_at.ToMilliseconds()


def first_retry_delay_ms(pair: Pair, queue: str, **fields: object) -> int:
    """Enqueue a failing task through the admin server; the runner fails it once."""
    task = pair.admin.enqueue("fail", queue=queue, max_retries=3, **fields)
    return retry_delay_ms(pair.admin.wait_for(task.id, [RETRYING]))


def test_a_default_set_through_one_server_decides_the_backoff_on_the_other(pair: Pair) -> None:
    stored = set_policy(pair.admin, "shared", base_seconds=30, factor=3, cap_seconds=600, jitter=0)
    assert stored.queue == "shared" and stored.retry_policy.base_seconds == 30
    read = get_policy(pair.runner, "shared").retry_policy
    assert (read.base_seconds, read.factor, read.cap_seconds, read.jitter) == (30, 3, 600, 0)
    assert first_retry_delay_ms(pair, "shared") == 30_000


def test_a_tasks_own_policy_wins_over_the_queue_default(pair: Pair) -> None:
    set_policy(pair.admin, "own", base_seconds=30, jitter=0)
    own = pb.RetryPolicy(base_seconds=45)
    assert first_retry_delay_ms(pair, "own", retry_policy=own) == 45_000


def test_a_cleared_default_falls_back_to_the_flags(pair: Pair) -> None:
    set_policy(pair.admin, "cleared", base_seconds=30, jitter=0)
    cleared = set_policy(pair.admin, "cleared")
    assert not cleared.HasField("retry_policy")
    assert not get_policy(pair.runner, "cleared").HasField("retry_policy")
    assert first_retry_delay_ms(pair, "cleared") == FLAGS_BASE_MS


def test_a_default_changed_through_the_running_server_applies_at_once(pair: Pair) -> None:
    set_policy(pair.runner, "local", base_seconds=30, jitter=0)
    assert first_retry_delay_ms(pair, "local") == 30_000  # the runner has read it now
    set_policy(pair.runner, "local")
    assert first_retry_delay_ms(pair, "local") == FLAGS_BASE_MS
    set_policy(pair.runner, "local", base_seconds=20, jitter=0)
    assert first_retry_delay_ms(pair, "local") == 20_000


def test_the_defaults_permanent_errors_end_a_task_without_retry(pair: Pair) -> None:
    set_policy(pair.admin, "permanent", permanent_errors=["RuntimeError"])
    task = pair.admin.enqueue("fail", queue="permanent", max_retries=5)
    ended = pair.admin.wait_for(task.id, [FAILED])
    assert ended.attempts == 1 and ended.last_error.startswith("RuntimeError")


def test_a_remote_workers_failures_follow_the_queue_default(pair: Pair) -> None:
    set_policy(pair.admin, "remote", base_seconds=25, jitter=0)
    ids = [pair.admin.enqueue("fail", queue="remote", max_retries=3).id for _ in range(2)]
    with grpc.insecure_channel(pair.admin_target) as channel:
        worker = wpb_grpc.WorkerServiceStub(channel)
        lease = wpb.LeaseTasksRequest(
            worker_id="remote-1", queues=["remote"], task_types=["fail"], max_tasks=2
        )
        leased = {t.task_id: t for t in worker.LeaseTasks(lease, timeout=10).tasks}
        assert set(leased) == set(ids)
        first, second = (leased[task_id] for task_id in ids)
        worker.FailTask(
            wpb.FailTaskRequest(task_id=first.task_id, lease_token=first.lease_token, error="x"),
            timeout=10,
        )
        failure = wpb.TaskFailure(error="y")
        outcome = wpb.TaskOutcome(
            task_id=second.task_id, lease_token=second.lease_token, failure=failure
        )
        finished = worker.FinishTasks(
            wpb.FinishTasksRequest(worker_id="remote-1", outcomes=[outcome]), timeout=10
        )
        assert not finished.refused
    assert [retry_delay_ms(pair.admin.get(task_id)) for task_id in ids] == [25_000, 25_000]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"base_seconds": -1}, "retry_policy.base_seconds"),
        ({"base_seconds": 86401}, "retry_policy.base_seconds"),
        ({"factor": 0}, "retry_policy.factor"),
        ({"factor": 1e9}, "retry_policy.factor"),
        ({"base_seconds": 60, "cap_seconds": 10}, "retry_policy.cap_seconds"),
        ({"jitter": 1.5}, "retry_policy.jitter"),
        ({"jitter": -0.1}, "retry_policy.jitter"),
        ({"permanent_errors": ["not a name"]}, "retry_policy.permanent_errors[0]"),
    ],
)
def test_bad_defaults_are_refused_naming_the_field_and_nothing_is_stored(
    pair: Pair, fields: dict[str, object], field: str
) -> None:
    set_policy(pair.admin, "guarded", base_seconds=5)
    with pytest.raises(grpc.RpcError) as refused:
        set_policy(pair.admin, "guarded", **fields)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    _, details = error_details(refused.value)
    violations = [
        v.field
        for d in details
        if isinstance(d, error_details_pb2.BadRequest)
        for v in d.field_violations
    ]
    assert violations == [field]
    stored = get_policy(pair.admin, "guarded").retry_policy
    assert stored == pb.RetryPolicy(base_seconds=5)


def test_a_bad_queue_name_is_refused(pair: Pair) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        set_policy(pair.admin, "no spaces", base_seconds=5)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "queue" in (refused.value.details() or "")
