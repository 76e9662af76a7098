"""The Python worker SDK (taskqueue_client.worker) against a real server process."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf import json_format
from taskqueue.v1 import taskqueue_pb2 as pb
from taskqueue_client.worker import Worker

from tests.e2e.helpers import Driver, Records
from tests.remote import handlers_remote
from tests.support.remote_worker import WorkerThread, taskqueue_command, worker_process
from tests.support.server_process import REDIS_URL, ServerFactory, ServerProcess
from tests.support.waiting import wait_until

LEASE = 3.0  # renewals every second: a cancellation must reach the handler within that


@pytest.fixture
def records(remote_factory: ServerFactory, monkeypatch: pytest.MonkeyPatch) -> Records:
    monkeypatch.setattr(handlers_remote, "_PREFIX", remote_factory.key_prefix)
    return Records(REDIS_URL, remote_factory.key_prefix)


@pytest.fixture
def sdk_worker(remote_server: ServerProcess, records: Records) -> Iterator[WorkerThread]:
    worker = Worker(remote_server.target, concurrency=4, lease_seconds=LEASE, poll_seconds=2)
    worker.register_defaults()
    running = WorkerThread(worker)
    yield running
    running.stop()


def wait_done(driver: Driver, task_id: str, timeout: float = 20) -> pb.GetResultResponse:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = driver.result(task_id, wait=1)
        if result.status in (pb.TASK_STATUS_COMPLETED, pb.TASK_STATUS_FAILED):
            return result
    raise AssertionError(f"{task_id} not finished in {timeout}s: {driver.get(task_id)}")


def test_sync_and_async_handlers_complete(driver: Driver, sdk_worker: WorkerThread) -> None:
    task = driver.enqueue("remote_async_echo", {"n": 3, "s": "x"})
    result = wait_done(driver, task.id)
    assert result.status == pb.TASK_STATUS_COMPLETED
    assert dict(result.result) == {"echo": {"n": 3, "s": "x"}, "attempt": 1}
    assert driver.get(task.id).progress == 50


def test_a_failure_is_retried_by_the_servers_backoff(
    driver: Driver, sdk_worker: WorkerThread
) -> None:
    task = driver.enqueue("remote_flaky", max_retries=2)
    result = wait_done(driver, task.id)
    assert (result.status, dict(result.result)) == (pb.TASK_STATUS_COMPLETED, {"attempt": 2})
    assert driver.get(task.id).attempts == 2


def test_permanent_error_retry_later_and_non_json_results(
    driver: Driver, sdk_worker: WorkerThread
) -> None:
    permanent = driver.enqueue("remote_permanent")
    result = wait_done(driver, permanent.id)
    assert result.status == pb.TASK_STATUS_FAILED
    assert result.error == "PermanentError: this input never works"
    assert driver.get(permanent.id).attempts == 1
    not_json = wait_done(driver, driver.enqueue("remote_not_json").id)
    assert not_json.status == pb.TASK_STATUS_FAILED and "non-JSON" in not_json.error
    later = driver.enqueue("remote_retry_later")
    deadline = time.monotonic() + 10
    while (seen := driver.get(later.id)).status != pb.TASK_STATUS_RETRYING:
        assert time.monotonic() < deadline, seen
        time.sleep(0.05)
    assert seen.run_at.ToSeconds() - seen.updated_at.ToSeconds() in range(29, 32)


def test_a_dependent_task_sees_its_dependencies_results(
    driver: Driver, sdk_worker: WorkerThread
) -> None:
    first = driver.enqueue("remote_async_echo", {"n": 1})
    second = driver.enqueue("remote_async_echo", {"n": 2})
    dependent = driver.enqueue("remote_dependencies", depends_on=[first.id, second.id])
    result = wait_done(driver, dependent.id)
    assert result.status == pb.TASK_STATUS_COMPLETED, result
    assert json_format.MessageToDict(result.result) == {
        "seen": {
            first.id: {"echo": {"n": 1}, "attempt": 1},
            second.id: {"echo": {"n": 2}, "attempt": 1},
        }
    }
    alone = wait_done(driver, driver.enqueue("remote_dependencies").id)
    assert json_format.MessageToDict(alone.result) == {"seen": {}}


def test_cancellation_reaches_the_handler_within_one_renewal(
    driver: Driver, sdk_worker: WorkerThread, records: Records
) -> None:
    task = driver.enqueue("remote_until_cancelled", {"seconds": 60})
    records.wait_until("started", task.id)
    cancelled_at = time.time()
    driver.stub.CancelTask(pb.CancelTaskRequest(task_id=task.id), timeout=10)
    seen_at = float(records.wait_until("cancel_seen", task.id, timeout=LEASE * 2))
    assert seen_at - cancelled_at <= LEASE / 3 + 0.5, seen_at - cancelled_at
    assert driver.get(task.id).status == pb.TASK_STATUS_CANCELLED


def test_stop_finishes_within_the_grace_and_hands_back_the_rest(
    remote_server: ServerProcess, driver: Driver, records: Records
) -> None:
    worker = Worker(remote_server.target, concurrency=2, lease_seconds=LEASE, poll_seconds=1)
    worker.register_defaults()
    running = WorkerThread(worker)
    quick = driver.enqueue("remote_record", {"sleep": 0.5})
    stuck = driver.enqueue("remote_until_cancelled", {"seconds": 60})
    records.wait_until("started", quick.id)
    records.wait_until("started", stuck.id)
    running.stop(grace=2.0)
    assert running.error is None
    assert driver.get(quick.id).status == pb.TASK_STATUS_COMPLETED
    back = driver.get(stuck.id)
    assert (back.status, back.attempts, back.redeliveries) == (pb.TASK_STATUS_PENDING, 0, 0)
    driver.stub.CancelTask(pb.CancelTaskRequest(task_id=stuck.id), timeout=10)


def test_prefetched_tasks_wait_for_a_slot_and_are_handed_back_at_once_at_stop(
    remote_server: ServerProcess, driver: Driver, records: Records
) -> None:
    worker = Worker(
        remote_server.target, concurrency=1, prefetch=1, lease_seconds=LEASE, poll_seconds=1
    )
    worker.register_defaults()
    running = WorkerThread(worker)
    opener = driver.enqueue("remote_record", {"sleep": 0.3})
    records.wait_until("started", opener.id)  # the one slot's long poll took it
    stuck = [driver.enqueue("remote_until_cancelled", {"seconds": 60}) for _ in range(2)]
    # Its outcome report leases both: one runs, the other waits in the prefetch.
    wait_until(
        lambda: all(driver.get(t.id).status == pb.TASK_STATUS_PROCESSING for t in stuck),
        20, "both leased",
    )  # fmt: skip
    wait_until(lambda: any(records.get("started", t.id) for t in stuck), 20, "one started")
    assert sorted(records.get("started", t.id) is not None for t in stuck) == [False, True]
    running.stop(grace=0.5)
    assert running.error is None
    for task in stuck:
        back = driver.get(task.id)
        assert (back.status, back.attempts, back.redeliveries) == (pb.TASK_STATUS_PENDING, 0, 0)
        driver.stub.CancelTask(pb.CancelTaskRequest(task_id=task.id), timeout=10)


def test_a_refused_token_stops_the_worker_with_the_servers_error(
    servers: ServerFactory, tmp_path: object
) -> None:
    from pathlib import Path

    tokens = Path(str(tmp_path)) / "tokens"
    tokens.write_text("producer producer-token-0123456789\n")
    server = servers.start(extra_args=["--auth-tokens-file", str(tokens)])
    worker = Worker(server.target, token="producer-token-0123456789")
    worker.register_defaults()
    running = WorkerThread(worker)
    running.stop()
    assert running.error is not None
    assert getattr(running.error, "code", None) == grpc.StatusCode.PERMISSION_DENIED


def test_the_cli_runs_a_handler_module_and_stops_on_sigterm(
    remote_server: ServerProcess, remote_factory: ServerFactory, driver: Driver
) -> None:
    process = worker_process(remote_server.target, remote_factory.key_prefix, "cli-worker")
    try:
        result = wait_done(driver, driver.enqueue("remote_record", {"sleep": 0}).id)
        assert dict(result.result) == {"by": "cli-worker", "attempt": 1}
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "worker cli-worker serving" in output


def test_the_cli_refuses_a_missing_handler_module(remote_server: ServerProcess) -> None:
    done = subprocess.run(
        [*taskqueue_command(), "worker", "--target", remote_server.target,
         "--handlers", "no.such.mod"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 64 and "cannot import --handlers no.such.mod" in done.stderr


def test_a_lease_runs_from_the_claim_not_from_the_start_of_the_long_poll(
    remote_server: ServerProcess, driver: Driver, records: Records
) -> None:
    """A task arriving late in a long poll keeps a whole lease: renewed, it runs past it."""
    worker = Worker(remote_server.target, concurrency=1, lease_seconds=2, poll_seconds=8)
    worker.register_defaults()
    running = WorkerThread(worker)
    try:
        time.sleep(3)  # the worker is well into its first long poll
        task = driver.enqueue("remote_record", {"sleep": 2.5})
        result = wait_done(driver, task.id)
        assert result.status == pb.TASK_STATUS_COMPLETED, result
        assert driver.get(task.id).redeliveries == 0
        assert records.runs(task.id) == 1
    finally:
        running.stop()


def test_a_type_only_remote_workers_serve_is_valid_for_enqueue_everywhere(
    servers: ServerFactory,
) -> None:
    """No --accept-unknown-types: the worker's heartbeat registers its types in the store."""
    first, second = servers.start(handlers=[]), servers.start(handlers=[])
    worker = Worker(first.target, lease_seconds=LEASE, poll_seconds=2)
    worker.handler("only_remote_here")(lambda data, ctx: {"ran": ctx.attempt})
    running = WorkerThread(worker)
    other = Driver(second.target)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                task = other.enqueue("only_remote_here", {})
                break
            except grpc.RpcError as exc:
                assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT
                assert time.monotonic() < deadline, "the worker's types were never registered"
                time.sleep(0.1)
        assert dict(wait_done(other, task.id).result) == {"ran": 1}
    finally:
        other.close()
        running.stop()
