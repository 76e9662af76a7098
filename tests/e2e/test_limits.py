"""Rate and concurrency limits hold across 3 real servers on one Redis, and concurrency
keys take turns. Start times are the server-side `started_at` Redis's clock stamps."""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
import pytest
from taskqueue.v1 import taskqueue_pb2 as pb

from tests.e2e.conftest import record_env
from tests.e2e.helpers import Driver, Records
from tests.support.server_process import DEMO_HANDLERS, REDIS_URL, ServerFactory

COMPLETED = pb.TaskStatus.TASK_STATUS_COMPLETED


@pytest.fixture
def driver(servers: ServerFactory) -> Iterator[Driver]:
    """Three servers sharing one queue; the driver talks to the first."""
    started = [
        servers.start(
            handlers=[DEMO_HANDLERS, "tests.e2e.handlers_edges"],
            extra_args=["--concurrency", "8"],
            env=record_env(servers),
        )
        for _ in range(3)
    ]
    driver = Driver(started[0].target)
    yield driver
    driver.close()


def set_limits(driver: Driver, **limits: object) -> None:
    request = pb.SetQueueLimitsRequest(limits=pb.QueueLimits(**limits))  # type: ignore[arg-type]
    driver.stub.SetQueueLimits(request, timeout=10)


def enqueue_many(driver: Driver, task_type: str, count: int, **fields: object) -> None:
    for start in range(0, count, 100):
        tasks = [
            pb.EnqueueRequest(task_type=task_type, **fields)  # type: ignore[arg-type]
            for _ in range(min(100, count - start))
        ]
        for task in tasks:
            task.task_data.update({"seconds": 0.1, "sleep": 0.1})
        driver.stub.EnqueueBatch(pb.EnqueueBatchRequest(tasks=tasks), timeout=10)


def wait_completed(driver: Driver, task_type: str, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while driver.stats(task_type=task_type).get(task_type, {}).get("completed", 0) < count:
        assert time.monotonic() < deadline, f"{task_type}: not all {count} completed in time"
        time.sleep(0.1)


def start_times_ms(driver: Driver, task_type: str) -> list[int]:
    tasks = driver.list_all("default", task_type=task_type)
    return sorted(t.started_at.seconds * 1000 + t.started_at.nanos // 1_000_000 for t in tasks)


def test_a_rate_limit_holds_across_three_servers(driver: Driver) -> None:
    rate, burst = 20, 5
    set_limits(driver, task_type="echo", rate_per_second=rate, burst=burst)
    enqueue_many(driver, "echo", 300)
    wait_completed(driver, "echo", 300, timeout=60)
    starts = start_times_ms(driver, "echo")
    # After the first burst, one task per token: the measured rate is the configured one.
    steady = starts[burst:]
    measured = (len(steady) - 1) / ((steady[-1] - steady[0]) / 1000)
    assert abs(measured - rate) <= 0.1 * rate, f"measured {measured:.2f}/s"
    # No second (any window of 1 s) starts more than a full bucket plus a second's tokens.
    busiest = max(sum(1 for t in starts[i:] if t < start + 1000) for i, start in enumerate(starts))
    assert busiest <= burst + rate, f"{busiest} tasks started within one second"


def test_a_concurrency_limit_is_never_passed_across_three_servers(
    driver: Driver, servers: ServerFactory
) -> None:
    limit = 3
    set_limits(driver, task_type="probe", max_running=limit)
    enqueue_many(driver, "probe", 40)
    samples = []
    deadline = time.monotonic() + 60
    while (counts := driver.stats(task_type="probe").get("probe", {})).get("completed", 0) < 40:
        assert time.monotonic() < deadline, "the probe tasks did not all complete"
        samples.append(counts.get("processing", 0))
    assert max(samples) == limit, f"running counts sampled: {sorted(set(samples))}"
    # The handlers counted themselves in one Redis counter across the 3 servers.
    assert Records(REDIS_URL, servers.key_prefix).peak_running() == limit


def test_a_small_key_starts_at_once_while_a_big_key_drains(driver: Driver) -> None:
    set_limits(driver, task_type="probe", max_running=2)
    enqueue_many(driver, "probe", 200, concurrency_key="big")  # 10 s of work, 2 at a time
    time.sleep(0.5)
    enqueued_at = time.time()
    enqueue_many(driver, "probe", 3, concurrency_key="small")
    deadline = time.monotonic() + 10
    small: list[pb.Task] = []
    while not small or any(not t.HasField("started_at") for t in small):
        assert time.monotonic() < deadline, "the small key's tasks did not start"
        time.sleep(0.05)
        tasks = driver.list_all("default", task_type="probe")
        small = [t for t in tasks if t.concurrency_key == "small"]
    # Keys take turns: each small task waits one big task's turn at most, not the backlog.
    waits = [t.started_at.ToMilliseconds() / 1000 - enqueued_at for t in small]
    assert max(waits) < 1.0, f"the small key's tasks waited {sorted(waits)} s"
    big_done = driver.stats(task_type="probe")["probe"].get("completed", 0)
    assert big_done < 150, "the big key's backlog was still draining"


@pytest.mark.parametrize(
    ("limits", "field"),
    [
        ({"task_type": "echo", "rate_per_second": -5, "burst": 1}, "rate_per_second"),
        ({"task_type": "echo", "rate_per_second": 5, "burst": 0}, "burst"),
        ({"task_type": "echo", "max_running": 0}, "max_running"),
        ({"max_running": 2}, "max_running"),
    ],
)
def test_bad_limits_are_refused_naming_the_field_and_nothing_is_stored(
    servers: ServerFactory, limits: dict[str, object], field: str
) -> None:
    driver = Driver(servers.start().target)
    try:
        set_limits(driver, task_type="echo", max_running=7)
        with pytest.raises(grpc.RpcError) as refused:
            set_limits(driver, **limits)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field in (refused.value.details() or "")
        stored = driver.stub.GetQueueLimits(pb.GetQueueLimitsRequest(task_type="echo"), timeout=10)
        assert stored.limits.max_running == 7 and not stored.limits.HasField("rate_per_second")
    finally:
        driver.close()
