"""The hand-off (engine.api.HandOff): an enqueue claims the tasks it makes ready for the idle
slots of the worker pool in its own process, in the same script call that stores them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from taskqueue_server.engine.errors import EngineError, StoreUnavailable
from taskqueue_server.engine.models import ClaimedTask, ClaimOffer, NewTask, Outcome, Status
from taskqueue_server.engine.store import RedisEngine
from taskqueue_server.worker.context import TaskContext
from taskqueue_server.worker.loop import WorkerPool
from taskqueue_server.worker.registry import Registration

DEADLINE_S = 10.0


class Slots:
    """A stand-in pool with `idle` free slots for type "t" of queue "default"."""

    def __init__(self, idle: int) -> None:
        self.idle = idle
        self.offers: list[tuple[str, tuple[str, ...], int]] = []
        self.taken: list[list[ClaimedTask]] = []

    def offer(self, queue: str, task_types: Sequence[str], most: int) -> ClaimOffer | None:
        self.offers.append((queue, tuple(task_types), most))
        count = min(most, self.idle)
        return ClaimOffer(count, ("t",), "local", 30_000) if count > 0 else None

    async def take(self, offer: ClaimOffer, claimed: Sequence[ClaimedTask], sent: float) -> None:
        self.taken.append(list(claimed))


async def test_an_idle_slot_gets_the_new_task_in_the_enqueue_call(engine: RedisEngine) -> None:
    slots = Slots(idle=1)
    engine.hand_off_to(slots)
    [outcome] = await engine.enqueue([NewTask("t", {"n": 1})])
    assert slots.offers == [("default", ("t",), 1)]
    [[claimed]] = slots.taken
    assert claimed.lease.task_id == outcome.task.id and claimed.task_data == {"n": 1}
    task = await engine.get_task(outcome.task.id)
    assert task.status is Status.PROCESSING and task.attempts == 1
    # Nothing was left ready, so no idle worker anywhere is woken for it.
    assert await engine.poll_for_work(["default"], ["t"]) == []
    # An ordinary lease: its outcome is recorded like any claim's.
    assert await engine.finish([Outcome(claimed.lease, result_json='{"ok": 1}')]) == []
    assert (await engine.get_task(outcome.task.id)).status is Status.COMPLETED


async def test_without_idle_slots_the_task_waits_for_any_worker(engine: RedisEngine) -> None:
    slots = Slots(idle=0)
    engine.hand_off_to(slots)
    [outcome] = await engine.enqueue([NewTask("t", {})])
    assert slots.taken == []  # no offer, nothing to take
    assert (await engine.get_task(outcome.task.id)).status is Status.PENDING
    assert await engine.poll_for_work(["default"], ["t"]) == ["default"]


async def test_the_offer_bounds_the_claim_and_the_rest_wakes_others(engine: RedisEngine) -> None:
    slots = Slots(idle=2)
    engine.hand_off_to(slots)
    outcomes = await engine.enqueue([NewTask("t", {"i": i}) for i in range(3)])
    assert slots.offers == [("default", ("t",), 3)]
    assert [c.lease.task_id for c in slots.taken[0]] == [o.task.id for o in outcomes[:2]]
    assert (await engine.get_task(outcomes[2].task.id)).status is Status.PENDING
    assert await engine.poll_for_work(["default"], ["t"]) == ["default"]


async def test_a_paused_queue_hands_nothing_off(engine: RedisEngine) -> None:
    slots = Slots(idle=4)
    engine.hand_off_to(slots)
    await engine.pause_queue("default")
    [outcome] = await engine.enqueue([NewTask("t", {})])
    assert slots.taken == [[]]  # the offer was made, and its slots given back unused
    assert (await engine.get_task(outcome.task.id)).status is Status.PENDING


async def test_tasks_not_ready_at_once_are_not_offered(engine: RedisEngine) -> None:
    slots = Slots(idle=4)
    engine.hand_off_to(slots)
    [later] = await engine.enqueue([NewTask("t", {}, delay_seconds=60)])
    [first] = await engine.enqueue([NewTask("u", {})])
    await engine.enqueue([NewTask("t", {}, depends_on=(first.task.id,))])
    assert slots.offers == [("default", ("u",), 1)]
    assert (await engine.get_task(later.task.id)).status is Status.SCHEDULED


async def test_the_slots_come_back_when_redis_refuses(
    engine: RedisEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    slots = Slots(idle=1)
    engine.hand_off_to(slots)

    async def refuse(*args: Any, **kwargs: Any) -> Any:
        raise StoreUnavailable("Redis went away")

    monkeypatch.setattr(engine.scripts, "run", refuse)
    with pytest.raises(EngineError):
        await engine.enqueue([NewTask("t", {})])
    assert slots.taken == [[]]


class Pool:
    """A real worker pool on the engine, wired for the hand-off as app.py does; it records
    the tasks its handler ran and the ones its own claims returned."""

    def __init__(self, engine: RedisEngine, monkeypatch: pytest.MonkeyPatch) -> None:
        self.ran: list[str] = []
        self.claimed: list[str] = []
        self.looked = asyncio.Event()  # its first claim (as it starts) has returned
        claim = engine.claim

        async def recorded(*args: Any, **kwargs: Any) -> list[ClaimedTask]:
            tasks = await claim(*args, **kwargs)
            self.claimed += [task.lease.task_id for task in tasks]
            self.looked.set()
            return tasks

        async def record(task_data: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
            self.ran.append(ctx.task_id)
            return {}

        monkeypatch.setattr(engine, "claim", recorded)
        self.worker = WorkerPool(engine, {"t": Registration("t", record, True)}, concurrency=2)
        engine.hand_off_to(self.worker)

    async def idle(self) -> WorkerPool:
        """The pool, once its first look for work found none (it then waits for a wake-up)."""
        await asyncio.wait_for(self.looked.wait(), DEADLINE_S)
        return self.worker


@pytest.fixture
async def pool(engine: RedisEngine, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Pool]:
    pool = Pool(engine, monkeypatch)
    await pool.worker.start()
    yield pool
    await pool.worker.stop(1.0)


async def wait_for_status(engine: RedisEngine, task_id: str, status: Status) -> None:
    deadline = asyncio.get_running_loop().time() + DEADLINE_S
    while (await engine.get_task(task_id)).status is not status:
        assert asyncio.get_running_loop().time() < deadline, f"{task_id} never became {status}"
        await asyncio.sleep(0.01)


async def test_an_idle_pool_runs_a_new_task_without_claiming_it(
    engine: RedisEngine, pool: Pool
) -> None:
    await pool.idle()
    [outcome] = await engine.enqueue([NewTask("t", {})])
    await wait_for_status(engine, outcome.task.id, Status.COMPLETED)
    assert pool.ran == [outcome.task.id] and pool.claimed == []


async def test_a_stopping_pool_hands_back_what_an_enqueue_claimed_for_it(
    engine: RedisEngine, pool: Pool
) -> None:
    worker = await pool.idle()
    offer = worker.offer("default", ["t"], 1)
    assert offer is not None
    await worker.stop(1.0)  # while the enqueue script that took the offer was in flight
    assert worker.offer("default", ["t"], 1) is None
    [outcome] = await engine.enqueue([NewTask("t", {})])
    [claimed] = await engine.claim("default", ["t"], 1, offer.worker_id)
    await worker.take(offer, [claimed], asyncio.get_running_loop().time())
    assert (await engine.get_task(outcome.task.id)).status is Status.PENDING
    assert pool.ran == []


async def test_a_stopped_pool_leaves_none_of_its_duties_running(
    engine: RedisEngine, pool: Pool
) -> None:
    # Its cancellation listener's subscription once waited for an UNSUBSCRIBE that a cluster
    # connection never answered while it was being cancelled: stop gave up after 5 s.
    worker = await pool.idle()
    await worker.stop(1.0)
    duties = ("fetch", "cancels-default", "timers-default", "renew-leases", "heartbeat")
    assert [t.get_name() for t in asyncio.all_tasks() if t.get_name() in duties] == []
