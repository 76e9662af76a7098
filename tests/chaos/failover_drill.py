"""The failover drill: a steady flow of enqueues and completions while a Redis primary dies.

One real server runs the demo handlers on several queues; a producer thread enqueues `echo`
tasks round robin at a fixed rate and records each acknowledgement and each refusal (its
gRPC code, queue and time). `kill()` is called mid-flow. Afterwards every acknowledged task
is read back: one the store no longer knows was acknowledged and then lost (asynchronous
replication: the primary died before its replica had the write).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc
from taskqueue.v1 import taskqueue_pb2 as pb

from tests.e2e.helpers import Driver
from tests.support.server_process import DEMO_HANDLERS, ServerFactory
from tests.support.waiting import wait_until


@dataclass
class DrillReport:
    acked: list[tuple[str, str, float]] = field(default_factory=list)  # id, queue, time
    refused: list[tuple[grpc.StatusCode, str, float]] = field(default_factory=list)
    killed_at: float = 0.0
    lost: list[str] = field(default_factory=list)

    def codes(self) -> Counter[grpc.StatusCode]:
        return Counter(code for code, _, _ in self.refused)

    def resumed_after(self, queues: set[str]) -> float:
        """Seconds from the kill to the first acknowledged enqueue on `queues` after the
        last refusal there (how long those queues were unavailable)."""
        last_refusal = max((t for _, q, t in self.refused if q in queues), default=self.killed_at)
        first_ack = min(t for _, q, t in self.acked if q in queues and t > last_refusal)
        return first_ack - self.killed_at

    def summary(self) -> str:
        codes = {code.name: n for code, n in self.codes().items()}
        return f"acked {len(self.acked)}, lost {len(self.lost)}, refused {codes}"


def run_drill(
    factory: ServerFactory,
    queues: list[str],
    kill: Callable[[], None],
    rate: float = 60.0,
    before: float = 3.0,
    after: float = 10.0,
    server_args: tuple[str, ...] = (),
    settle: bool = True,
) -> DrillReport:
    """`settle=False` skips reading tasks back (a shard that stays down cannot answer)."""
    server = factory.start(
        handlers=[DEMO_HANDLERS], extra_args=[f"--queues={','.join(queues)}", *server_args]
    )
    driver = Driver(server.target)
    report = DrillReport()
    stop = threading.Event()

    def produce() -> None:
        for queue in itertools.cycle(queues):
            if stop.is_set():
                return
            try:
                task = driver.enqueue("echo", {"q": queue}, queue=queue)
                report.acked.append((task.id, queue, time.monotonic()))
            except grpc.RpcError as exc:
                report.refused.append((exc.code(), queue, time.monotonic()))
            time.sleep(1 / rate)

    producer = threading.Thread(target=produce, name="drill-producer")
    producer.start()
    try:
        time.sleep(before)  # the steady load the kill lands in, not a wait for a condition
        report.killed_at = time.monotonic()
        kill()
        time.sleep(after)
    finally:
        stop.set()
        producer.join(30)
    try:
        if settle:
            report.lost = _lost(driver, [task_id for task_id, _, _ in report.acked])
    finally:
        driver.close()
    return report


def _lost(driver: Driver, task_ids: list[str]) -> list[str]:
    """Acknowledged tasks the store no longer has, once every other one has ended."""
    pending = set(task_ids)
    lost: list[str] = []

    def settled() -> bool:
        for task_id in list(pending):
            try:
                task = driver.get(task_id)
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.NOT_FOUND:
                    return False
                lost.append(task_id)
                pending.discard(task_id)
                continue
            if task.status == pb.TASK_STATUS_COMPLETED:
                pending.discard(task_id)
        return not pending

    wait_until(settled, 90, "every acknowledged task completed or known lost", interval=0.5)
    return lost
