"""The kill drill: servers are SIGKILLed at random while tasks flow; then everything is counted.

A producer thread enqueues a mix of no-op, slow and sometimes-failing tasks (each with an
idempotency key, so a batch retried after its server died is not stored twice), while the
main thread SIGKILLs a random server every few seconds and starts a replacement. Afterwards
`account` checks every accepted task: terminal, executed as often as its attempts plus only
the redeliveries a lease expiry explains, and Stats agreeing with the tasks themselves.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field

import grpc
from taskqueue.v1 import taskqueue_pb2 as pb
from taskqueue_server.engine.keys import QueueKeys

from tests.support.server_process import REDIS_URL

from .cluster import ChaosCluster
from .harness import (
    TERMINAL,
    chunks,
    counts_from_listing,
    list_all,
    live_count,
    request,
    stats_by_type,
    stub,
)


@dataclass
class DrillConfig:
    tasks: int = 3000
    servers: int = 3
    kill_every: tuple[float, float] = (1.0, 2.0)
    enqueue_rate: float = 300.0  # tasks/s, so kills land while tasks still arrive
    concurrency: int = 16
    lease_seconds: float = 2.0
    redelivery_cap: int = 10
    min_kills: int = 5
    drain_timeout: float = 120.0
    seed: int = 1
    redis_url: str = REDIS_URL


@dataclass
class Held:
    """A task the killed server held: its final lease deadline and when the kill came."""

    task_id: str
    deadline_ms: float
    killed_ms: float


@dataclass
class DrillResult:
    accepted: int = 0
    kills: int = 0
    elapsed: float = 0.0
    enqueue_retries: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)
    unacknowledged: list[str] = field(default_factory=list)
    duplicate_executions: int = 0
    duplicate_tasks: int = 0
    unexplained_duplicates: list[str] = field(default_factory=list)
    early_pickups: list[str] = field(default_factory=list)
    redelivered_tasks: int = 0
    poison_failed: int = 0
    stats_mismatch: dict[str, tuple[dict[str, int], dict[str, int]]] = field(
        default_factory=dict
    )
    recovery_after_expiry: list[float] = field(default_factory=list)
    kill_to_pickup: list[float] = field(default_factory=list)


def task_mix(n: int, rng: random.Random) -> list[pb.EnqueueRequest]:
    """70% no-op, 20% slow (0.1-1 s), 10% failing once or twice before succeeding."""
    requests = []
    for i in range(n):
        roll = rng.random()
        key = f"drill-{i}"
        if roll < 0.7:
            requests.append(request("chaos_noop", {"i": i}, idempotency_key=key))
        elif roll < 0.9:
            sleep = round(rng.uniform(0.1, 1.0), 2)
            requests.append(request("chaos_slow", {"sleep": sleep}, idempotency_key=key))
        else:
            fails = rng.choice((1, 2))
            requests.append(request("chaos_flaky", {"fail_times": fails}, idempotency_key=key))
    return requests


class Producer(threading.Thread):
    """Enqueues at `rate` tasks/s to any live server, retrying a batch until one accepts it."""

    def __init__(self, cluster: ChaosCluster, requests: list[pb.EnqueueRequest], rate: float):
        super().__init__(daemon=True)
        self.cluster, self.requests, self.rate = cluster, requests, rate
        self.accepted: list[str] = []
        self.retries = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            started = time.monotonic()
            for part in chunks(self.requests, 100):
                self.accepted.extend(self._send(part))
                ahead = len(self.accepted) / self.rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)  # pacing, not waiting on a condition
        except BaseException as exc:
            self.error = exc

    def _send(self, part: list[pb.EnqueueRequest]) -> list[str]:
        deadline = time.monotonic() + 60
        while True:
            try:
                api = stub(self.cluster.any_channel())
                reply = api.EnqueueBatch(pb.EnqueueBatchRequest(tasks=part), timeout=5)
                return [t.id for t in reply.tasks]
            except (grpc.RpcError, IndexError):
                self.retries += 1
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


def _ask(cluster: ChaosCluster, call, attempts: int = 50):  # type: ignore[no-untyped-def]
    """Run `call(stub)` on some live server, moving on when the one picked is dying."""
    for _ in range(attempts):
        try:
            return call(stub(cluster.any_channel()))
        except (grpc.RpcError, IndexError):
            time.sleep(0.1)
    raise RuntimeError("no server answered")


def _held_by(cluster: ChaosCluster, worker: str, killed_ms: float) -> list[Held]:
    keys = QueueKeys(cluster.prefix, "default")
    store = cluster.store()
    try:
        leases = store.zrange(keys.lease, 0, -1, withscores=True)
        pipe = store.pipeline(transaction=False)
        for task_id, _ in leases:
            pipe.hget(keys.task(task_id.decode()), "worker")
        owners = pipe.execute()
    finally:
        store.close()
    return [
        Held(task_id.decode(), float(deadline), killed_ms)
        for (task_id, deadline), owner in zip(leases, owners, strict=True)
        if owner is not None and owner.decode() == worker
    ]


def run_kill_drill(config: DrillConfig, log=print) -> tuple[DrillResult, ChaosCluster]:  # type: ignore[no-untyped-def]
    """Run the drill; the caller closes the returned cluster (its records feed `account`)."""
    rng = random.Random(config.seed)
    args = (
        "--concurrency", str(config.concurrency),
        "--lease-seconds", str(config.lease_seconds),
        "--redelivery-cap", str(config.redelivery_cap),
        "--retry-base-seconds", "0.05",
        "--retry-cap-seconds", "0.5",
        "--log-level", "WARNING",
    )  # fmt: skip
    cluster = ChaosCluster(redis_url=config.redis_url, label="drill", args=args)
    result = DrillResult()
    held: list[Held] = []
    restarts: list[threading.Thread] = []
    try:
        for _ in range(config.servers):
            cluster.start()
        started = time.monotonic()
        producer = Producer(cluster, task_mix(config.tasks, rng), config.enqueue_rate)
        producer.start()
        deadline = started + config.tasks / config.enqueue_rate + config.drain_timeout
        while time.monotonic() < deadline:
            if producer.error is not None:
                raise producer.error
            live = _ask(cluster, live_count)
            if not producer.is_alive() and live == 0:
                break
            if live == 0 and result.kills >= config.min_kills:
                time.sleep(0.2)
                continue
            time.sleep(rng.uniform(*config.kill_every))  # the drill's rhythm
            running = cluster.running
            if len(running) < 2:
                continue  # replacements still starting; never kill the last server
            victim = rng.choice(running)
            victim.kill()
            killed_ms = time.time() * 1000
            result.kills += 1
            held.extend(_held_by(cluster, cluster.worker_id(victim), killed_ms))
            # The replacement starts in the background so the next kill keeps its rhythm.
            restart = threading.Thread(target=cluster.start, daemon=True)
            restart.start()
            restarts.append(restart)
            log(f"kill {result.kills}: pid {victim.process.pid}, {live} live tasks")
        producer.join(5)
        for restart in restarts:
            restart.join(60)
        result.elapsed = time.monotonic() - started
        result.accepted = len(producer.accepted)
        result.enqueue_retries = producer.retries
        account(cluster, producer.accepted, held, result)
    except BaseException:
        cluster.close()
        raise
    return result, cluster


def account(
    cluster: ChaosCluster, accepted: list[str], held: list[Held], result: DrillResult
) -> None:
    """Fill `result` from what the store, the listing and the handlers' records say."""
    tasks = {t.id: t for t in _ask(cluster, list_all)}
    runs, done = cluster.recorded("runs"), cluster.recorded("done")
    result.lost = [i for i in accepted if i not in tasks or tasks[i].status not in TERMINAL]
    result.unacknowledged = sorted(set(tasks) - set(accepted))
    for name in ("completed", "failed", "cancelled"):
        result.statuses[name] = 0
    for task in tasks.values():
        name = pb.TaskStatus.Name(task.status).removeprefix("TASK_STATUS_").lower()
        result.statuses[name] = result.statuses.get(name, 0) + 1
        result.redelivered_tasks += task.redeliveries > 0
        result.poison_failed += "poison" in task.last_error
        extra = runs.get(task.id, 0) - task.attempts
        if extra > 0 or done.get(task.id, 0) > 1:
            result.duplicate_executions += max(extra, 0)
            result.duplicate_tasks += 1
            # Each lease expiry explains one uncharged execution, never more.
            if extra > task.redeliveries or task.redeliveries == 0:
                result.unexplained_duplicates.append(task.id)
    listed = counts_from_listing(tasks.values())
    for task_type, counted in _ask(cluster, stats_by_type).items():
        if listed.get(task_type) != counted:
            result.stats_mismatch[task_type] = (counted, listed.get(task_type, {}))
    for item in held:
        starts = [float(s) for s in cluster.recorded_list("starts", item.task_id)]
        later = [s for s in starts if s > item.killed_ms]
        if not later:
            continue  # never ran again: it must then be terminal (poison), checked above
        if later[0] < item.deadline_ms:
            result.early_pickups.append(item.task_id)
        result.recovery_after_expiry.append((later[0] - item.deadline_ms) / 1000)
        result.kill_to_pickup.append((later[0] - item.killed_ms) / 1000)


def summary_rows(result: DrillResult) -> list[tuple[str, str]]:
    """The figures the README table shows."""

    def pct(values: list[float], q: float) -> str:
        if not values:
            return "-"
        ordered = sorted(values)
        return f"{ordered[min(len(ordered) - 1, int(q * len(ordered)))]:.2f} s"

    duplicates = f"{result.duplicate_executions} / {result.duplicate_tasks}"
    return [
        ("tasks accepted", str(result.accepted)),
        ("kills (SIGKILL)", str(result.kills)),
        ("lost", str(len(result.lost))),
        ("stored but not acknowledged", str(len(result.unacknowledged))),
        ("final statuses", ", ".join(f"{k} {v}" for k, v in sorted(result.statuses.items()))),
        ("tasks redelivered (lease expired)", str(result.redelivered_tasks)),
        ("duplicate executions / tasks", duplicates),
        ("duplicates a lease expiry does not explain", str(len(result.unexplained_duplicates))),
        ("picked up before lease expiry", str(len(result.early_pickups))),
        ("poison (redelivery cap) failures", str(result.poison_failed)),
        ("Stats vs ListTasks mismatches", str(len(result.stats_mismatch))),
        ("recovery, lease expiry -> picked up (p50 / p99 / max)",
         f"{pct(result.recovery_after_expiry, 0.5)} / {pct(result.recovery_after_expiry, 0.99)}"
         f" / {pct(result.recovery_after_expiry, 1.0)}"),
        ("recovery, kill -> picked up (p50 / max)",
         f"{pct(result.kill_to_pickup, 0.5)} / {pct(result.kill_to_pickup, 1.0)}"),
        ("enqueue retries after a dead server", str(result.enqueue_retries)),
        ("wall time", f"{result.elapsed:.1f} s"),
    ]  # fmt: skip
