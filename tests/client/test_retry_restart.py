"""Transient UNAVAILABLE is retried by gRPC from the service config: a call made while the
server restarts succeeds once it is back; an enqueue without an idempotency key is not retried."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from taskqueue_client import RetryPolicy, TaskQueueClient, Unavailable

from tests.support.server_process import ServerFactory

# Wide backoff (gRPC picks each wait at random below the cap) so the retries certainly span
# the new process's start-up; quick reconnects so a ready server is noticed at once.
PATIENT = RetryPolicy(max_attempts=5, initial_backoff=3.0, max_backoff=10.0, multiplier=2.0)
QUICK_RECONNECT = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 300),
]


def test_calls_survive_a_server_restart(factory: ServerFactory) -> None:
    first = factory.start()
    with TaskQueueClient(first.target, timeout=60, retry=PATIENT, options=QUICK_RECONNECT) as tq:
        done = tq.enqueue("echo", {"before": True})
        assert tq.wait(done, timeout=15) == {"echo": {"before": True}, "attempt": 1}
        assert first.stop() == 0

        started = time.monotonic()
        with pytest.raises(Unavailable):
            tq.enqueue("echo", {}, idempotency_key="")
        assert time.monotonic() - started < 2, "an unkeyed enqueue must fail fast, not retry"

        with ThreadPoolExecutor(max_workers=2) as pool:
            # Issued while nothing listens on the port; gRPC keeps retrying.
            read = pool.submit(tq.get_task, done)
            enqueued = pool.submit(tq.enqueue, "echo", {"after": True})
            second = factory.start(port=first.port)
            assert read.result(timeout=60).id == done
            task_id = enqueued.result(timeout=60)
        assert second.port == first.port
        assert tq.wait(task_id, timeout=15)["echo"] == {"after": True}
        listed = [t.id for t in tq.list_tasks() if t.task_data.get("after")]
        assert listed == [task_id], "the retried enqueue must store the task exactly once"
