"""A task never runs twice at once: per-task timeouts and graceful stop with sync handlers.

Real server processes on real Redis; handlers in handlers_edges.py record when each run
started and ended, and how many handlers ran at once.
"""

from __future__ import annotations

import itertools
import signal
import time

from taskqueue.v1 import taskqueue_pb2 as pb

from tests.e2e.conftest import record_env
from tests.e2e.helpers import Driver, Records
from tests.support.server_process import FAST_RETRY_ARGS, REDIS_URL, ServerFactory

EDGE_HANDLERS = "tests.e2e.handlers_edges"


def start(servers: ServerFactory, *args: str) -> Driver:
    server = servers.start(
        handlers=[EDGE_HANDLERS], extra_args=[*FAST_RETRY_ARGS, *args], env=record_env(servers)
    )
    return Driver(server.target)


def assert_no_overlap(spans: list[tuple[float, float]]) -> None:
    spans = sorted(spans)
    for (_, first_end), (second_start, _) in itertools.pairwise(spans):
        assert second_start >= first_end, f"runs overlapped: {spans}"


def test_a_retry_starts_only_after_the_timed_out_run_returned(servers: ServerFactory) -> None:
    driver = start(servers, "--concurrency", "2")
    task = driver.enqueue("stubborn", {"sleep": 1.5}, timeout_seconds=0.4, max_retries=1)
    done = driver.finish(task.id, timeout=30)
    records = Records(REDIS_URL, servers.key_prefix)
    spans = records.spans(task.id)
    assert len(spans) == 2, spans
    assert_no_overlap(spans)
    assert done.status == pb.TASK_STATUS_FAILED
    assert done.error == "timed out after 0.4 s"


def test_concurrency_stays_a_ceiling_while_a_timed_out_handler_runs(
    servers: ServerFactory,
) -> None:
    driver = start(servers, "--concurrency", "2")
    stuck = driver.enqueue("stubborn", {"sleep": 2.0}, timeout_seconds=0.3, max_retries=0)
    probes = [driver.enqueue("probe", {"sleep": 0.2}) for _ in range(8)]
    for task in [stuck, *probes]:
        driver.finish(task.id, timeout=30)
    records = Records(REDIS_URL, servers.key_prefix)
    assert records.peak_running() == 2
    assert driver.get(stuck.id).last_error == "timed out after 0.3 s"


def test_a_cooperative_handler_sees_cancelled_at_its_timeout(servers: ServerFactory) -> None:
    driver = start(servers)
    task = driver.enqueue("cooperative", {"seconds": 10}, timeout_seconds=0.5, max_retries=0)
    done = driver.finish(task.id, timeout=30)
    records = Records(REDIS_URL, servers.key_prefix)
    seen_after = float(records.wait_until("saw_cancel", task.id, timeout=1))
    assert 0.45 <= seen_after < 2.0
    assert done.error == "timed out after 0.5 s"


def test_a_handlers_own_timeout_error_is_reported_as_raised(servers: ServerFactory) -> None:
    driver = start(servers)
    task = driver.enqueue(
        "own_timeout", {"message": "the mail server did not answer"}, max_retries=0
    )
    done = driver.finish(task.id)
    assert done.status == pb.TASK_STATUS_FAILED
    assert done.error == "TimeoutError: the mail server did not answer"


def test_a_stopping_server_hands_a_sync_task_back_only_once_its_thread_returned(
    servers: ServerFactory,
) -> None:
    first = start(
        servers, "--concurrency", "1", "--shutdown-grace-seconds", "0.3", "--lease-seconds", "2"
    )
    # Long enough to outlast the second server's start on a loaded machine.
    task = first.enqueue("stubborn", {"sleep": 6.0, "then": 0})
    records = Records(REDIS_URL, servers.key_prefix)
    records.wait_until("runs", task.id)
    stopping = servers.servers[0]
    stopping.process.send_signal(signal.SIGTERM)
    second = start(servers, "--concurrency", "1", "--lease-seconds", "2")
    done = second.finish(task.id, timeout=30)
    assert done.status == pb.TASK_STATUS_COMPLETED
    assert stopping.wait_exit(timeout=20) == 0  # its run is over and recorded
    spans = records.spans(task.id)
    assert len(spans) == 2, spans
    assert_no_overlap(spans)
    assert records.workers(task.id)[0] == str(stopping.process.pid)


def test_a_second_signal_ends_the_process_with_its_stuck_thread(servers: ServerFactory) -> None:
    first = start(
        servers, "--concurrency", "1", "--shutdown-grace-seconds", "0.3", "--lease-seconds", "2"
    )
    task = first.enqueue("stubborn", {"sleep": 15.0, "then": 0})
    records = Records(REDIS_URL, servers.key_prefix)
    records.wait_until("runs", task.id)
    stopping = servers.servers[0]
    stopping.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    while "waiting for 1 handler(s) to stop" not in stopping.output():
        assert time.monotonic() < deadline, stopping.output()
        time.sleep(0.05)
    stopping.process.send_signal(signal.SIGTERM)
    # Python joins pool threads at exit: without care the process would live on with the
    # thread, its lease unrenewed, while another server retries the task.
    assert stopping.wait_exit(timeout=5) == 0
    exited = time.time()
    second = start(servers, "--concurrency", "1", "--lease-seconds", "2")
    done = second.finish(task.id, timeout=30)
    assert done.status == pb.TASK_STATUS_COMPLETED
    (retry_start, _), *_ = records.spans(task.id)  # the killed first run wrote none
    assert retry_start >= exited
