"""Strict priority within a queue, FIFO among equal priorities, across task types."""

from __future__ import annotations

import random

from taskqueue_server.engine.models import NewTask
from taskqueue_server.engine.store import RedisEngine


async def test_thousands_of_mixed_priorities_come_out_in_exact_order(engine: RedisEngine) -> None:
    rng = random.Random(7)
    tasks = [
        NewTask(
            rng.choice(["a", "b"]), {"n": n}, priority=rng.choice([-1000, -3, 0, 0, 1, 5, 1000])
        )
        for n in range(3000)
    ]
    ids = []
    for start in range(0, len(tasks), 500):
        ids += [o.task.id for o in await engine.enqueue(tasks[start : start + 500])]
    expected = [ids[n] for n in sorted(range(len(tasks)), key=lambda n: (-tasks[n].priority, n))]

    claimed: list[str] = []
    while batch := await engine.claim("default", ["a", "b"], 37, "w"):
        claimed += [c.lease.task_id for c in batch]
    assert claimed == expected


async def test_claim_takes_only_types_the_worker_can_run(engine: RedisEngine) -> None:
    [mine, other] = await engine.enqueue([NewTask("mine", {}), NewTask("other", {}, priority=9)])
    claimed = await engine.claim("default", ["mine"], 10, "w")
    assert [c.lease.task_id for c in claimed] == [mine.task.id]
    assert (await engine.get_task(other.task.id)).status == "pending"
