"""Waiting for work across queues, and claims for one queue recorded with another's outcomes."""

from __future__ import annotations

from taskqueue_server.engine.models import NewTask, Outcome, Status
from taskqueue_server.engine.store import RedisEngine


async def enqueue_in(engine: RedisEngine, queue: str) -> str:
    [outcome] = await engine.enqueue([NewTask("t", {}, queue=queue)])
    return outcome.task.id


async def test_one_wait_covers_every_queue_and_names_the_one_woken(engine: RedisEngine) -> None:
    queues = ["a", "b", "c"]
    assert await engine.wait_for_work(queues, ["t"], 0.05) is None
    await enqueue_in(engine, "c")
    assert await engine.wait_for_work(queues, ["t"], 1) == "c"
    assert await engine.wait_for_work(queues, ["t"], 0.05) is None  # the wake-up was taken


async def test_a_poll_names_the_woken_queues_without_blocking(engine: RedisEngine) -> None:
    assert await engine.poll_for_work(["a", "b", "c"], ["t", "u"]) == []
    await enqueue_in(engine, "a")
    await enqueue_in(engine, "c")
    assert sorted(await engine.poll_for_work(["a", "b", "c"], ["t", "u"])) == ["a", "c"]
    assert await engine.poll_for_work(["a", "b", "c"], ["t", "u"]) == []


async def test_finishing_in_one_queue_can_claim_from_another(engine: RedisEngine) -> None:
    await enqueue_in(engine, "big")
    small = await enqueue_in(engine, "small")
    [running] = await engine.claim("big", ["t"], 1, "w")
    stale, claimed = await engine.finish_and_claim(
        [Outcome(running.lease, result_json="{}")], "small", ["t"], 1, "w"
    )
    assert stale == [] and [c.lease.task_id for c in claimed] == [small]
    assert (await engine.get_task(running.lease.task_id)).status == Status.COMPLETED
    assert (await engine.get_task(small)).status == Status.PROCESSING


async def test_a_claim_that_takes_the_last_ready_task_leaves_no_wake_up(
    engine: RedisEngine,
) -> None:
    await enqueue_in(engine, "a")  # lists a wake-up for "t" in "a"
    [claimed] = await engine.claim("a", ["t"], 1, "w")
    # A worker woken now would find nothing: the claim dropped the wake-up with the work.
    assert await engine.poll_for_work(["a"], ["t"]) == []
    stale, _ = await engine.finish_and_claim(
        [Outcome(claimed.lease, result_json="{}")], "a", ["t"], 1, "w"
    )
    assert stale == []
    await enqueue_in(engine, "a")
    await enqueue_in(engine, "a")
    await engine.claim("a", ["t"], 1, "w")
    assert await engine.poll_for_work(["a"], ["t"]) == ["a"]  # one is left: still woken
