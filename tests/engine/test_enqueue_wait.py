"""Enqueue that waits: the answer is built from the task's own events, without reading it."""

from __future__ import annotations

import asyncio

import pytest
from taskqueue_server.engine.models import NewTask, Outcome, Status
from taskqueue_server.engine.store import RedisEngine


async def test_the_finished_task_comes_from_its_events_not_a_read(
    engine: RedisEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[str] = []

    async def no_read(task_id: str) -> object:
        reads.append(task_id)
        raise AssertionError("the waiting enqueue read the task")

    monkeypatch.setattr(engine, "read_raw", no_read)
    monkeypatch.setattr(engine, "get_result", no_read)

    async def run_it() -> None:
        while not (claimed := await engine.claim("default", ["t"], 1, "w")):
            await asyncio.sleep(0.005)
        await engine.finish([Outcome(claimed[0].lease, result_json='{"ok": 1}')])

    worker = asyncio.create_task(run_it())
    waited = await engine.enqueue_and_wait(NewTask("t", {"n": 1}), 10, asyncio.Event())
    await worker
    # Its own enqueue's event (heard because the subscription goes out first) is skipped,
    # and the claim's and the finish's are applied to the stored task in order.
    assert reads == []
    assert waited.outcome.task.status is Status.COMPLETED and waited.result == {"ok": 1}
    monkeypatch.undo()
    assert waited.outcome.task.version == (await engine.get_task(waited.outcome.task.id)).version
