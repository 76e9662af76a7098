"""Every queue a server serves runs, promptly and fairly, with few Redis connections.

Real server processes on real Redis; the "stamp" handler (handlers_edges.py) notes when each
task started, so the delay from Enqueue to start is measured per task.
"""

from __future__ import annotations

import statistics
import time
from urllib.parse import urlsplit

from taskqueue.v1 import taskqueue_pb2 as pb

from tests.e2e.conftest import record_env
from tests.e2e.helpers import Driver, Records
from tests.support.connections import connections_to
from tests.support.server_process import REDIS_URL, ServerFactory, ServerProcess

EDGE_HANDLERS = "tests.e2e.handlers_edges"


def start(servers: ServerFactory, queues: list[str], *args: str) -> ServerProcess:
    return servers.start(
        handlers=[EDGE_HANDLERS],
        extra_args=["--queues", ",".join(queues), *args],
        env=record_env(servers),
    )


def start_delays_ms(records: Records, enqueued_ms: dict[str, float], timeout: float) -> list[float]:
    """Wait until every task noted its start; each one's delay from just before Enqueue."""
    deadline = time.monotonic() + timeout
    while True:
        started = records.client.hgetall(records.key("started"))
        if all(task_id in started for task_id in enqueued_ms) or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    missing = [task_id for task_id in enqueued_ms if task_id not in started]
    assert not missing, f"{len(missing)} task(s) never started: {missing[:5]}"
    return [float(started[task_id]) - at for task_id, at in enqueued_ms.items()]


def enqueue_stamped(driver: Driver, queue: str, **data: float) -> tuple[str, float]:
    at = time.time() * 1000
    task = driver.enqueue("stamp", {"stamp": True, **data}, queue=queue)
    return task.id, at


def test_an_idle_server_starts_a_task_in_any_of_its_queues_at_once(
    servers: ServerFactory,
) -> None:
    queues = ["a", "b", "c"]
    driver = Driver(start(servers, queues).target)
    records = Records(REDIS_URL, servers.key_prefix)
    enqueued: dict[str, float] = {}
    for round_ in range(5):
        # The last queue first: the first queue of a server was the one that always ran.
        for queue in queues[::-1] if round_ % 2 == 0 else queues:
            task_id, at = enqueue_stamped(driver, queue)
            enqueued[task_id] = at
            start_delays_ms(records, {task_id: at}, timeout=10)
    delays = start_delays_ms(records, enqueued, timeout=1)
    assert statistics.median(delays) < 100, sorted(delays)
    assert max(delays) < 1000, sorted(delays)


def test_a_backlog_in_one_queue_does_not_hold_up_another(servers: ServerFactory) -> None:
    # Enqueued through a server that serves neither queue, so the backlog is all there
    # before the worker starts.
    front = Driver(start(servers, ["elsewhere"]).target)
    backlog = [pb.EnqueueRequest(task_type="stamp", queue="big") for _ in range(1000)]
    for request in backlog:
        request.task_data.update({"sleep": 0.01})
    for _ in range(10):
        front.stub.EnqueueBatch(pb.EnqueueBatchRequest(tasks=backlog), timeout=30)
    start(servers, ["big", "small"], "--concurrency", "4")
    records = Records(REDIS_URL, servers.key_prefix)
    time.sleep(0.5)  # the worker is busy with "big" now
    enqueued = dict(enqueue_stamped(front, "small") for _ in range(10))
    delays = start_delays_ms(records, enqueued, timeout=10)
    assert max(delays) < 1000, sorted(delays)
    still_waiting = front.stats(queue="big")
    assert still_waiting["stamp"]["pending"] > 5000, still_waiting


def test_two_hundred_queues_run_on_a_few_redis_connections(servers: ServerFactory) -> None:
    queues = [f"q{n:03d}" for n in range(200)]
    server = start(servers, queues, "--concurrency", "4")
    driver = Driver(server.target)
    records = Records(REDIS_URL, servers.key_prefix)
    enqueued = dict(enqueue_stamped(driver, queue) for queue in [*queues[::25], queues[-1]])
    start_delays_ms(records, enqueued, timeout=10)
    redis_port = urlsplit(REDIS_URL).port or 6379
    held = connections_to(server.process.pid, redis_port)
    assert held <= 12, f"{held} connections to Redis for 200 queues"
