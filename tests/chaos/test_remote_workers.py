"""Remote workers under faults, with real server and worker processes on real Redis: a
SIGKILLed worker's task is redelivered; a worker cut off by a stalling proxy stops before
its lease ends, and a late report through the stalled path is refused."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator

import grpc
import pytest
from taskqueue.v1 import taskqueue_pb2 as pb

from tests.e2e.helpers import Driver, Records
from tests.support.remote_worker import worker_process
from tests.support.server_process import REDIS_URL, ServerFactory, ServerProcess
from tests.support.waiting import wait_until
from tests.support.worker_driver import WorkerDriver

from .proxy import StallingProxy

LEASE = 2.0


@pytest.fixture
def server(servers: ServerFactory) -> ServerProcess:
    """A server whose own pool runs none of the remote types."""
    return servers.start(handlers=[], extra_args=["--accept-unknown-types"])


@pytest.fixture
def driver(server: ServerProcess) -> Iterator[Driver]:
    client = Driver(server.target)
    yield client
    client.close()


@pytest.fixture
def workers() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def spans(records: Records, task_id: str) -> list[tuple[float, float, str]]:
    rows = records.client.lrange(records.key("span", task_id), 0, -1)
    return [(float(a), float(b), who) for a, b, who in (row.split() for row in rows)]


def completed(driver: Driver, task_id: str) -> pb.GetResultResponse | None:
    result = driver.result(task_id, wait=1)
    return result if result.status == pb.TASK_STATUS_COMPLETED else None


def test_sigkilled_remote_worker_task_is_redelivered_to_another(
    servers: ServerFactory,
    server: ServerProcess,
    driver: Driver,
    workers: list[subprocess.Popen[str]],
) -> None:
    records = Records(REDIS_URL, servers.key_prefix)
    prefix = servers.key_prefix
    workers.append(worker_process(server.target, prefix, "doomed", lease_seconds=LEASE))
    task = driver.enqueue("remote_record", {"first": 60, "sleep": 0}, max_retries=3)
    assert records.wait_until("started", task.id, timeout=30) == "doomed"
    workers.append(worker_process(server.target, prefix, "heir", lease_seconds=LEASE))
    workers[0].send_signal(signal.SIGKILL)
    result = wait_until(lambda: completed(driver, task.id), 30, "the heir completed the task")
    assert dict(result.result) == {"by": "heir", "attempt": 1}
    done = driver.get(task.id)
    assert (done.attempts, done.redeliveries) == (1, 1), "a lost worker costs no retry"
    assert (records.runs(task.id), records.completed_runs(task.id)) == (2, 1)


@pytest.fixture
def proxy(server: ServerProcess) -> Iterator[StallingProxy]:
    """The network path of one worker to the server, which the test can freeze."""
    path = StallingProxy(server.port)
    yield path
    path.close()


def test_cut_off_worker_stops_before_its_lease_ends_and_the_heir_never_overlaps(
    servers: ServerFactory,
    server: ServerProcess,
    driver: Driver,
    proxy: StallingProxy,
    workers: list[subprocess.Popen[str]],
) -> None:
    records = Records(REDIS_URL, servers.key_prefix)
    prefix = servers.key_prefix
    via_proxy = f"127.0.0.1:{proxy.port}"
    # One slot: no long poll of its own is pending while it runs the task. (A pending poll
    # would claim the task again when its lease ends, and that answer would be stuck in the
    # stalled path: a second lease lost in transit, counted as one more redelivery.)
    workers.append(
        worker_process(via_proxy, prefix, "cut-off", lease_seconds=LEASE, concurrency=1)
    )
    task = driver.enqueue("remote_record", {"first": 60, "sleep": 0.2})
    assert records.wait_until("started", task.id, timeout=30) == "cut-off"
    proxy.pause()
    workers.append(worker_process(server.target, prefix, "heir", lease_seconds=LEASE))
    result = wait_until(lambda: completed(driver, task.id), 30, "the heir completed the task")
    assert dict(result.result) == {"by": "heir", "attempt": 1}
    proxy.resume()
    [(_, cut_end, first), (heir_start, _, second)] = spans(records, task.id)
    assert (first, second) == ("cut-off", "heir")
    # The cut-off worker's guard stopped its handler before the lease ran out; the task
    # went to the heir only after that: the two executions never overlap.
    assert cut_end < heir_start, (cut_end, heir_start)
    assert records.completed_runs(task.id) == 1
    assert driver.get(task.id).redeliveries == 1


def test_late_complete_through_a_stalled_path_is_refused_as_stale(
    server: ServerProcess, driver: Driver, proxy: StallingProxy
) -> None:
    cut_off = WorkerDriver(f"127.0.0.1:{proxy.port}", "cut-off", ["remote_plain"])
    heir = WorkerDriver(server.target, "heir", ["remote_plain"])
    task_id = driver.enqueue("remote_plain", {}).id
    [late] = cut_off.lease(lease_seconds=LEASE)
    proxy.pause()
    [live] = wait_until(lambda: heir.lease(wait=1, lease_seconds=LEASE), 30, "redelivery")
    assert live.attempt == 1 and live.lease_token != late.lease_token
    heir.complete(live, {"by": "heir"})
    proxy.resume()
    with pytest.raises(grpc.RpcError) as refused:
        cut_off.complete(late, {"by": "cut-off"})
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "STALE_LEASE" in (refused.value.details() or "")
    assert dict(driver.result(task_id).result) == {"by": "heir"}
    cut_off.close()
    heir.close()
