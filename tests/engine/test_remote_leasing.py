"""What remote workers add to the engine's worker side: per-call leases, refused releases,
and the worker registry (heartbeats, expiry after 3 silent lease periods)."""

from __future__ import annotations

from taskqueue_server.engine.models import Lease, Status, WorkerInfo
from taskqueue_server.engine.store import RedisEngine

from tests.conftest import FakeClock
from tests.engine.test_lifecycle import enqueue_one


def worker(worker_id: str, lease_seconds: float = 2.0, running: int = 0) -> WorkerInfo:
    return WorkerInfo(
        worker_id=worker_id,
        host="h",
        queues=("default",),
        task_types=("t",),
        concurrency=4,
        running=running,
        started_at_ms=1,
        lease_seconds=lease_seconds,
        in_process=False,
    )


async def test_a_lease_of_its_own_length_expires_then(
    engine: RedisEngine, clock: FakeClock
) -> None:
    task_id = await enqueue_one(engine)
    [claimed] = await engine.claim("default", ["t"], 1, "w", lease_ms=2000)
    clock.advance(1.5)
    assert await engine.renew_leases([claimed.lease], lease_ms=2000) == []
    clock.advance(1.9)  # 3.4 s after the claim: alive only thanks to the renewal
    await engine.run_due("default")
    assert (await engine.get_task(task_id)).status == Status.PROCESSING
    clock.advance(0.2)
    await engine.run_due("default")
    task = await engine.get_task(task_id)
    assert (task.status, task.redeliveries) == (Status.PENDING, 1)


async def test_release_refuses_a_stale_lease_and_changes_nothing(engine: RedisEngine) -> None:
    task_id = await enqueue_one(engine)
    [claimed] = await engine.claim("default", ["t"], 1, "w")
    forged = Lease(task_id, claimed.lease.token + 1)
    assert await engine.release([forged, claimed.lease]) == [forged]
    task = await engine.get_task(task_id)
    assert (task.status, task.attempts) == (Status.PENDING, 0)
    assert await engine.release([claimed.lease]) == [claimed.lease]


async def test_workers_are_listed_until_three_lease_periods_of_silence(
    engine: RedisEngine, clock: FakeClock
) -> None:
    await engine.announce_worker(worker("b", lease_seconds=2.0, running=3))
    await engine.announce_worker(worker("a", lease_seconds=10.0))
    listed = await engine.list_workers()
    assert [w.worker_id for w in listed] == ["a", "b"]
    assert listed[1].running == 3 and listed[1].last_seen_ms == int(clock.now * 1000)
    clock.advance(6.0)
    assert [w.worker_id for w in await engine.list_workers()] == ["a", "b"]
    clock.advance(0.01)
    assert [w.worker_id for w in await engine.list_workers()] == ["a"]
    await engine.forget_worker("a")
    assert await engine.list_workers() == []
