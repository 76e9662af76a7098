"""Stats' totals only go up, across every transition that moves a status count back down."""

from __future__ import annotations

from taskqueue_server.engine.models import NewTask, Outcome, Status, Total
from taskqueue_server.engine.store import RedisEngine

from tests.conftest import FakeClock


class TotalsWatch:
    """Reads Stats after each step; every total must be at least what it was before."""

    def __init__(self, engine: RedisEngine) -> None:
        self.engine = engine
        self.last = dict.fromkeys(Total, 0)

    async def step(self) -> dict[Total, int]:
        stats = await self.engine.stats(task_type="t")
        totals = stats["t"].totals if stats else dict.fromkeys(Total, 0)
        for total, value in totals.items():
            assert value >= self.last[total], f"{total} went down: {self.last[total]} -> {value}"
        self.last = dict(totals)
        return totals

    async def gauge(self, status: Status) -> int:
        return (await self.engine.stats(task_type="t"))["t"].counts[status]


async def test_totals_never_decrease_across_retry_cancel_and_redelivery(
    engine: RedisEngine, clock: FakeClock
) -> None:
    watch = TotalsWatch(engine)
    [outcome] = await engine.enqueue([NewTask("t", {}, max_retries=1)])
    task_id = outcome.task.id
    assert (await watch.step())[Total.ENQUEUED] == 1

    # An attempt fails and will run again: retried, not failed.
    [claimed] = await engine.claim("default", ["t"], 1, "w")
    await engine.finish([Outcome(claimed.lease, error="boom", retry_delay_ms=1000)])
    assert (await watch.step())[Total.RETRIED] == 1
    clock.advance(1)
    await engine.run_due("default")

    # The worker is lost: the lease expires and the task goes back to its queue.
    await engine.claim("default", ["t"], 1, "w")
    clock.advance(engine.settings.lease_seconds + 1)
    await engine.run_due("default")
    assert (await watch.step())[Total.REDELIVERED] == 1

    # The budget is spent (the redelivery gave the attempt back, so this is attempt 2 of 2):
    # failed. RetryTask then takes it out of the failed gauge but not out of the total.
    [claimed] = await engine.claim("default", ["t"], 1, "w")
    await engine.finish([Outcome(claimed.lease, error="boom", retry_delay_ms=1000)])
    assert (await watch.step())[Total.FAILED] == 1 and await watch.gauge(Status.FAILED) == 1
    await engine.retry(task_id)
    assert await watch.gauge(Status.FAILED) == 0
    totals = await watch.step()
    assert (totals[Total.FAILED], totals[Total.RETRIED]) == (1, 2)

    # Cancelled, then retried: the cancelled gauge goes back to 0, the total stays.
    await engine.cancel(task_id)
    await engine.cancel(task_id)  # a client's retried CancelTask changes nothing, counts nothing
    assert (await watch.step())[Total.CANCELLED] == 1
    await engine.retry(task_id)
    assert await watch.gauge(Status.CANCELLED) == 0
    [claimed] = await engine.claim("default", ["t"], 1, "w")
    await engine.finish([Outcome(claimed.lease, result_json="{}")])
    assert await watch.step() == {
        Total.ENQUEUED: 1,
        Total.COMPLETED: 1,
        Total.FAILED: 1,
        Total.RETRIED: 3,
        Total.CANCELLED: 1,
        Total.REDELIVERED: 1,
    }


async def test_deduplicated_enqueue_and_released_tasks_add_no_totals(engine: RedisEngine) -> None:
    await engine.enqueue([NewTask("t", {}, idempotency_key="k")])
    await engine.enqueue([NewTask("t", {}, idempotency_key="k")])
    [claimed] = await engine.claim("default", ["t"], 1, "w")
    await engine.release([claimed.lease])  # a graceful stop hands it back: no outcome
    totals = (await engine.stats())["t"].totals
    assert totals == {**dict.fromkeys(Total, 0), Total.ENQUEUED: 1}


async def test_totals_are_per_queue_and_type_and_summed_across_queues(
    engine: RedisEngine,
) -> None:
    await engine.enqueue([NewTask("t", {}, queue="a"), NewTask("t", {}, queue="a")])
    await engine.enqueue([NewTask("t", {}, queue="b"), NewTask("u", {}, queue="b")])
    assert (await engine.stats(queue="a"))["t"].totals[Total.ENQUEUED] == 2
    both = await engine.stats()
    assert (both["t"].totals[Total.ENQUEUED], both["u"].totals[Total.ENQUEUED]) == (3, 1)
