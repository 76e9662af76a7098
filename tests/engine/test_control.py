"""Queue and task controls, against real Redis and the embedded store."""

from __future__ import annotations

import pytest
from taskqueue_server.engine import control
from taskqueue_server.engine.errors import EngineError, ErrorCode, TaskNotFound
from taskqueue_server.engine.models import Outcome, Status
from taskqueue_server.engine.store import RedisEngine

from tests.conftest import FakeClock
from tests.support.engine_tasks import enqueue_tasks


async def test_a_paused_queue_accepts_tasks_and_hands_out_none(engine: RedisEngine) -> None:
    assert await engine.pause_queue("default") is True
    assert await engine.pause_queue("default") is False
    [task_id] = await enqueue_tasks(engine)
    assert await engine.wait_for_work(["default"], ["t"], 0.1) == "default"  # the enqueue's
    assert await engine.claim("default", ["t"], 5, "w") == []
    assert await engine.finish_and_claim([], "default", ["t"], 5, "w") == ([], [])
    # Refused claims do not pass a wake-up on, so idle workers sleep instead of spinning.
    assert await engine.wait_for_work(["default"], ["t"], 0.1) is None
    assert (await engine.get_task(task_id)).status == Status.PENDING
    assert await engine.resume_queue("default") is True
    assert await engine.resume_queue("default") is False
    assert await engine.wait_for_work(["default"], ["t"], 0.1) == "default"  # resume woke them
    [claimed] = await engine.claim("default", ["t"], 5, "w")
    assert claimed.lease.task_id == task_id


async def test_pause_lets_running_tasks_finish(engine: RedisEngine) -> None:
    [task_id, _] = await enqueue_tasks(engine, count=2)
    [claimed] = await engine.claim("default", ["t"], 1, "w")
    await engine.pause_queue("default")
    stale, more = await engine.finish_and_claim(
        [Outcome(claimed.lease, result_json="{}")], "default", ["t"], 5, "w"
    )
    assert (stale, more) == ([], [])
    assert (await engine.get_task(task_id)).status == Status.COMPLETED


async def test_queue_overview(engine: RedisEngine, clock: FakeClock) -> None:
    assert await engine.list_queues() == []
    await enqueue_tasks(engine, "a", 2)
    clock.advance(5)
    await enqueue_tasks(engine, "b", 1, queue="other")
    await enqueue_tasks(engine, "b", 1, delay_seconds=60)
    await engine.claim("default", ["a"], 1, "w")
    await engine.pause_queue("other")
    default, other = await engine.list_queues()
    assert (default.name, default.paused, other.name, other.paused) == (
        "default",
        False,
        "other",
        True,
    )
    assert default.counts["a"].counts[Status.PENDING] == 1
    assert default.counts["a"].counts[Status.PROCESSING] == 1
    assert default.counts["b"].counts[Status.SCHEDULED] == 1
    assert default.oldest_pending_age_ms == 5000
    assert other.oldest_pending_age_ms == 0 and other.counts["b"].counts[Status.PENDING] == 1


async def test_purge_removes_what_has_not_started(
    engine: RedisEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(control, "CHUNK", 2)  # several chunks per status
    await enqueue_tasks(engine, "a", 5)
    b_ids = await enqueue_tasks(engine, "b", 2)
    await enqueue_tasks(engine, "b", 1, delay_seconds=60)
    [running] = await engine.claim("default", ["b"], 1, "w")
    assert await engine.purge_queue("default", "a") == 5
    assert await engine.purge_queue("default") == 2  # one pending b, one scheduled b
    assert await engine.claim("default", ["a", "b"], 5, "w") == []
    assert (await engine.get_task(running.lease.task_id)).status == Status.PROCESSING
    counts = (await engine.queue_overview("default")).counts
    assert counts["a"].counts[Status.PENDING] == counts["b"].counts[Status.PENDING] == 0
    assert counts["b"].counts[Status.SCHEDULED] == 0 and counts["b"].counts[Status.PROCESSING] == 1
    assert await engine.redis.get(engine.keys("default").live_count) == b"1"
    with pytest.raises(TaskNotFound):
        await engine.get_task(b_ids[1])


async def test_priority_moves_a_pending_task_at_once(engine: RedisEngine) -> None:
    first, _, last = await enqueue_tasks(engine, count=3)
    moved = await engine.change_priority(last, 5)
    assert (moved.priority, moved.status) == (5, Status.PENDING)
    [claimed] = await engine.claim("default", ["t"], 1, "w")
    assert claimed.lease.task_id == last
    # Lowered below its peers, the first task now runs after the second.
    await engine.change_priority(first, -1)
    [claimed] = await engine.claim("default", ["t"], 1, "w")
    assert claimed.lease.task_id != first
    with pytest.raises(EngineError) as refused:
        await engine.change_priority(last, 1)
    assert refused.value.code == ErrorCode.FAILED_PRECONDITION
    with pytest.raises(EngineError) as bad:
        await engine.change_priority(first, 1001)
    assert bad.value.code == ErrorCode.INVALID_ARGUMENT and "priority" in bad.value.message
    assert (await engine.get_task(first)).priority == -1


async def test_delete_removes_a_task_and_every_index_entry(
    engine: RedisEngine, clock: FakeClock
) -> None:
    done, running, pending = await enqueue_tasks(engine, count=3)
    [claimed] = await engine.claim("default", ["t"], 1, "w")
    await engine.finish([Outcome(claimed.lease, result_json='{"ok": 1}')])
    await engine.claim("default", ["t"], 1, "w")  # FIFO: `running`
    assert await engine.delete_task(done) == Status.COMPLETED
    assert await engine.delete_task(pending) == Status.PENDING
    keys = engine.keys("default")
    for task_id in (done, pending):
        with pytest.raises(TaskNotFound):
            await engine.get_task(task_id)
        assert await engine.redis.exists(keys.task(task_id), keys.data(task_id)) == 0
        assert await engine.redis.exists(keys.result(task_id)) == 0
        for status in Status:
            assert await engine.redis.zscore(keys.by_status(status.value), task_id) is None
    with pytest.raises(EngineError) as refused:
        await engine.delete_task(running)
    assert refused.value.code == ErrorCode.FAILED_PRECONDITION
    assert (await engine.queue_overview("default")).counts["t"].counts[Status.PENDING] == 0
    with pytest.raises(EngineError) as gone:
        await engine.delete_task(done)
    assert gone.value.code == ErrorCode.NOT_FOUND
    # The deleted task's entry in its expiry bucket (a list, see scripts/_lib.lua) goes when
    # its second comes, leaving no key behind.
    clock.advance(engine.settings.task_ttl_seconds + 1)
    await engine.run_due("default")
    assert await engine.redis.zcard(keys.expiry) == 0
    assert [k async for k in engine.redis.scan_iter(match=f"{keys.base}x:*")] == []
