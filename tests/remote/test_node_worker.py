"""examples/node/worker.mjs against a real server: leases, heartbeats, progress, completes,
fails (retried by the server's backoff), stops on cancellation, hands back on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
from taskqueue.v1 import taskqueue_pb2 as pb

from tests.client.test_node_example import EXAMPLE, node_ready, pytestmark  # noqa: F401
from tests.e2e.helpers import Driver
from tests.remote.test_python_worker import wait_done
from tests.support.server_process import ServerProcess
from tests.support.waiting import wait_until
from tests.support.worker_driver import WorkerDriver


class NodeWorker:
    """`node worker.mjs` with its stdout collected line by line."""

    def __init__(self, target: str, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TASKQUEUE_")}
        self.process = subprocess.Popen(
            ["node", "worker.mjs", "--target", target, *args],
            cwd=EXAMPLE, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_line(self, line: str, timeout: float = 20) -> float:
        deadline = time.monotonic() + timeout
        while line not in self.lines:
            assert time.monotonic() < deadline, f"no {line!r} in {self.lines}"
            time.sleep(0.02)
        return time.time()

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(30)


@pytest.fixture
def node_worker(node_ready: None, remote_server: ServerProcess) -> Iterator[NodeWorker]:  # noqa: F811
    worker = NodeWorker(
        remote_server.target,
        "--lease-seconds",
        "3",
        "--poll-seconds",
        "2",
        "--worker-id",
        "node-1",
        "--grace",
        "1",
    )
    worker.wait_line("worker node-1 serving node_echo, node_fail, node_sleep, fleet")
    yield worker
    if worker.process.poll() is None:
        worker.process.kill()


def test_node_worker_completes_fails_and_reports_progress(
    driver: Driver, node_worker: NodeWorker
) -> None:
    echo = driver.enqueue("node_echo", {"text": "hi", "n": 2})
    result = wait_done(driver, echo.id)
    assert dict(result.result)["by"] == "node" and driver.get(echo.id).progress == 50
    assert dict(result.result["echo"]) == {"text": "hi", "n": 2}
    permanent = driver.enqueue("node_fail", {"permanent": True, "message": "no"}, max_retries=3)
    failed = wait_done(driver, permanent.id)
    assert (failed.status, failed.error, driver.get(permanent.id).attempts) == (
        pb.TASK_STATUS_FAILED, "no", 1,
    )  # fmt: skip
    # err.name is among the error_types it sends: listed in permanent_errors, no retry.
    policy = pb.RetryPolicy(permanent_errors=["QuotaExceeded"])
    named = driver.enqueue(
        "node_fail", {"name": "QuotaExceeded"}, max_retries=3, retry_policy=policy
    )
    assert (wait_done(driver, named.id).status, driver.get(named.id).attempts) == (
        pb.TASK_STATUS_FAILED, 1,
    )  # fmt: skip
    retried = driver.enqueue("node_fail", {"message": "again"}, max_retries=1)
    assert wait_done(driver, retried.id).status == pb.TASK_STATUS_FAILED
    assert driver.get(retried.id).attempts == 2  # one retry, after the server's backoff
    node_worker.wait_line(f"completed {echo.id}")
    node_worker.wait_line(f"failed {retried.id}")


def test_node_worker_reports_tasks_finishing_together_in_one_finish_tasks_call(
    driver: Driver, node_worker: NodeWorker
) -> None:
    """Its 4 slots take 4 of 12 quick tasks at once; their outcomes leave together, and the
    same FinishTasks calls lease the rest (no LeaseTasks, no CompleteTask per task)."""
    request = pb.EnqueueBatchRequest(
        tasks=[pb.EnqueueRequest(task_type="fleet") for _ in range(12)]
    )
    ids = [task.id for task in driver.stub.EnqueueBatch(request, timeout=10).tasks]
    for task_id in ids:
        assert wait_done(driver, task_id).status == pb.TASK_STATUS_COMPLETED
        node_worker.wait_line(f"completed {task_id}")
    calls = [line.split() for line in node_worker.lines if line.startswith("finished ")]
    assert sum(int(call[1]) for call in calls) == len(ids), calls
    assert max(int(call[1]) for call in calls) > 1, calls  # outcomes shared a call
    assert sum(int(call[3]) for call in calls) > 0, calls  # and leased the next tasks


def test_node_worker_heartbeats_and_cancellation_and_graceful_stop(
    driver: Driver, node_worker: NodeWorker, remote_server: ServerProcess
) -> None:
    workers = WorkerDriver(remote_server.target)
    listed = {w.worker_id: w for w in workers.workers()}
    assert listed["node-1"].task_types == ["node_echo", "node_fail", "node_sleep", "fleet"]
    sleeper = driver.enqueue("node_sleep", {"seconds": 60})
    deadline = time.monotonic() + 20
    while driver.get(sleeper.id).status != pb.TASK_STATUS_PROCESSING:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    cancelled_at = time.time()
    driver.stub.CancelTask(pb.CancelTaskRequest(task_id=sleeper.id), timeout=10)
    assert node_worker.wait_line(f"stopped {sleeper.id}") - cancelled_at < 1.0 + 0.5
    held = driver.enqueue("node_sleep", {"seconds": 60})
    # Held once its renewal names it (PROCESSING alone may mean a long poll's answer is still
    # on its way, and the stop cancels that call: the task would wait for its lease to end).
    wait_until(
        lambda: {w.worker_id: w.running for w in workers.workers()}.get("node-1") == 1,
        20, "the node worker renewed the held task's lease",
    )  # fmt: skip
    assert driver.get(held.id).status == pb.TASK_STATUS_PROCESSING
    node_worker.process.send_signal(signal.SIGTERM)
    assert node_worker.process.wait(40) == 0, node_worker.lines
    back = driver.get(held.id)
    assert (back.status, back.attempts) == (pb.TASK_STATUS_PENDING, 0)
    driver.stub.CancelTask(pb.CancelTaskRequest(task_id=held.id), timeout=10)
