"""A LeaseTasks call cancelled (its worker gone) while its claim ran in Redis hands the
claimed tasks back at once, instead of leaving them leased to nobody until the lease ends."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from taskqueue_server.engine.models import Status
from taskqueue_server.engine.store import RedisEngine
from taskqueue_server.service.worker_requests import LeaseAsk
from taskqueue_server.service.worker_servicer import lease_tasks

from tests.engine.test_lifecycle import enqueue_one


class ClaimHeldBack:
    """Holds the answer of the engine's claim script until `release_answer` is set: the
    script has run in Redis, the caller has not heard yet."""

    def __init__(self, engine: RedisEngine, monkeypatch: pytest.MonkeyPatch) -> None:
        self.claimed = asyncio.Event()
        self.release_answer = asyncio.Event()
        run = engine.run

        async def held(name: str, *args: Any, **kwargs: Any) -> Any:
            reply = await run(name, *args, **kwargs)
            if name == "claim":
                self.claimed.set()
                await self.release_answer.wait()
            return reply

        monkeypatch.setattr(engine, "run", held)


async def test_a_cancelled_long_poll_hands_back_what_its_claim_leased(
    engine: RedisEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    task_id = await enqueue_one(engine)
    held = ClaimHeldBack(engine, monkeypatch)
    ask = LeaseAsk("w", ("default",), ("t",), 1, None, 10.0)
    poll = asyncio.create_task(lease_tasks(engine, ask, 10.0))
    await asyncio.wait_for(held.claimed.wait(), 10)
    assert (await engine.get_task(task_id)).status == Status.PROCESSING
    poll.cancel()
    held.release_answer.set()
    with pytest.raises(asyncio.CancelledError):
        await poll
    task = await engine.get_task(task_id)
    assert (task.status, task.attempts) == (Status.PENDING, 0)
