"""Every transition of the task lifecycle, against real Redis and the embedded store."""

from __future__ import annotations

import asyncio
import math

import orjson
import pytest
import redis.asyncio
from taskqueue_server.engine.errors import EngineError, ErrorCode, Reason, TaskNotFound
from taskqueue_server.engine.models import NewTask, Outcome, Status
from taskqueue_server.engine.store import RedisEngine

from tests.conftest import FakeClock


async def enqueue_one(engine: RedisEngine, **fields: object) -> str:
    [outcome] = await engine.enqueue(
        [NewTask(str(fields.pop("task_type", "t")), {"x": 1}, **fields)]
    )  # type: ignore[arg-type]
    return outcome.task.id


async def test_completion_stores_result_and_counts(engine: RedisEngine) -> None:
    task_id = await enqueue_one(engine)
    [claimed] = await engine.claim("default", ["t"], 5, "w")
    assert claimed.attempt == 1 and claimed.task_data == {"x": 1}
    assert (await engine.get_task(task_id)).status == Status.PROCESSING
    assert await engine.finish([Outcome(claimed.lease, result_json='{"ok": true}')]) == []
    result = await engine.get_result(task_id)
    assert (result.status, result.result) == (Status.COMPLETED, {"ok": True})
    counts = (await engine.stats())["t"].counts
    assert counts[Status.COMPLETED] == 1 and counts[Status.PROCESSING] == 0


async def test_scheduled_task_waits_for_its_time(engine: RedisEngine, clock: FakeClock) -> None:
    task_id = await enqueue_one(engine, delay_seconds=5)
    assert (await engine.get_task(task_id)).status == Status.SCHEDULED
    assert await engine.run_due("default") == pytest.approx(1.0)  # capped sleep
    clock.advance(4.9)
    await engine.run_due("default")
    assert await engine.claim("default", ["t"], 5, "w") == []
    clock.advance(0.1)
    await engine.run_due("default")
    assert (await engine.get_task(task_id)).status == Status.PENDING


async def test_failures_retry_with_backoff_until_the_budget_is_spent(
    engine: RedisEngine, clock: FakeClock
) -> None:
    task_id = await enqueue_one(engine, max_retries=1)
    [claimed] = await engine.claim("default", ["t"], 5, "w")
    await engine.finish([Outcome(claimed.lease, error="boom", retry_delay_ms=2000)])
    task = await engine.get_task(task_id)
    assert (task.status, task.last_error, task.run_at_ms) == (
        Status.RETRYING,
        "boom",
        clock.now * 1000 + 2000,
    )
    clock.advance(2)
    await engine.run_due("default")
    [again] = await engine.claim("default", ["t"], 5, "w")
    assert again.attempt == 2
    await engine.finish([Outcome(again.lease, error="boom again", retry_delay_ms=4000)])
    task = await engine.get_task(task_id)
    assert (task.status, task.last_error, task.attempts) == (Status.FAILED, "boom again", 2)


async def test_permanent_failure_skips_retries(engine: RedisEngine) -> None:
    task_id = await enqueue_one(engine, max_retries=5)
    [claimed] = await engine.claim("default", ["t"], 5, "w")
    await engine.finish([Outcome(claimed.lease, error="bad input", permanent=True)])
    assert (await engine.get_task(task_id)).status == Status.FAILED


async def test_expired_lease_is_handed_back_without_spending_budget(
    engine: RedisEngine, clock: FakeClock
) -> None:
    task_id = await enqueue_one(engine)
    [first] = await engine.claim("default", ["t"], 5, "w1")
    clock.advance(engine.settings.lease_seconds + 0.001)
    await engine.run_due("default")
    task = await engine.get_task(task_id)
    assert (task.status, task.attempts, task.redeliveries) == (Status.PENDING, 0, 1)
    [second] = await engine.claim("default", ["t"], 5, "w2")
    assert second.attempt == 1 and second.lease.token > first.lease.token
    # The lost worker's late report is fenced out; the current one's is accepted.
    assert await engine.finish([Outcome(first.lease, result_json="{}")]) == [first.lease]
    assert await engine.renew_leases([first.lease, second.lease]) == [first.lease]
    assert await engine.finish([Outcome(second.lease, result_json='{"v": 2}')]) == []
    assert (await engine.get_result(task_id)).result == {"v": 2}


async def test_a_task_that_keeps_killing_workers_ends_as_poison(
    engine: RedisEngine, clock: FakeClock
) -> None:
    task_id = await enqueue_one(engine)
    for _ in range(engine.settings.redelivery_cap + 1):
        assert await engine.claim("default", ["t"], 5, "w")
        clock.advance(engine.settings.lease_seconds + 1)
        await engine.run_due("default")
    task = await engine.get_task(task_id)
    assert task.status == Status.FAILED and "poison" in task.last_error


async def test_cancel_in_every_live_state_and_refusal_when_terminal(
    engine: RedisEngine,
) -> None:
    pending = await enqueue_one(engine)
    scheduled = await enqueue_one(engine, delay_seconds=60)
    waiting = await enqueue_one(engine, depends_on=(scheduled,))
    for task_id in (pending, waiting, scheduled):
        cancelled = await engine.cancel(task_id)
        assert cancelled.status == Status.CANCELLED and cancelled.finished_at_ms > 0
        # Again, as a client retrying a lost answer would: the same task, nothing changed.
        assert await engine.cancel(task_id) == cancelled
    running = await enqueue_one(engine)
    async with engine.cancel_signals("default") as signals:
        [claimed] = await engine.claim("default", ["t"], 5, "w")
        assert (await engine.cancel(running)).status == Status.CANCELLED
        assert await anext(signals) == running
    assert await engine.finish([Outcome(claimed.lease, result_json="{}")]) == [claimed.lease]
    assert (await engine.cancel(running)).status == Status.CANCELLED
    completed = await enqueue_one(engine)
    [claimed] = await engine.claim("default", ["t"], 5, "w")
    assert await engine.finish([Outcome(claimed.lease, result_json="{}")]) == []
    with pytest.raises(EngineError) as refused:
        await engine.cancel(completed)
    assert (refused.value.code, refused.value.reason) == (
        ErrorCode.FAILED_PRECONDITION, Reason.TASK_TERMINAL
    )


async def test_retry_requeues_failed_task_with_fresh_budget(engine: RedisEngine) -> None:
    task_id = await enqueue_one(engine, max_retries=0)
    [claimed] = await engine.claim("default", ["t"], 5, "w")
    await engine.finish([Outcome(claimed.lease, error="boom")])
    requeued = await engine.retry(task_id)
    assert (requeued.status, requeued.attempts, requeued.last_error) == (Status.PENDING, 0, "")
    with pytest.raises(EngineError) as refused:
        await engine.retry(task_id)
    assert (refused.value.code, refused.value.reason) == (
        ErrorCode.FAILED_PRECONDITION, Reason.TASK_NOT_RETRYABLE
    )


async def test_dependencies_release_on_completion_and_cancel_on_failure(
    engine: RedisEngine,
) -> None:
    parent = await enqueue_one(engine)
    child = await enqueue_one(engine, depends_on=(parent,))
    grandchild = await enqueue_one(engine, depends_on=(child,))
    assert (await engine.get_task(child)).status == Status.WAITING
    [claimed] = await engine.claim("default", ["t"], 5, "w")
    await engine.finish([Outcome(claimed.lease, result_json="{}")])
    assert (await engine.get_task(child)).status == Status.PENDING

    [claimed] = await engine.claim("default", ["t"], 5, "w")
    await engine.finish([Outcome(claimed.lease, error="no", permanent=True)])
    orphan = await engine.get_task(grandchild)
    assert orphan.status == Status.CANCELLED and child in orphan.last_error

    with pytest.raises(EngineError) as refused:
        await enqueue_one(engine, depends_on=(child,))
    assert (refused.value.code, refused.value.reason) == (
        ErrorCode.FAILED_PRECONDITION, Reason.DEPENDENCY_FAILED
    )
    with pytest.raises(EngineError) as unknown:
        await enqueue_one(engine, depends_on=("default-" + "0" * 32,))
    assert (unknown.value.code, unknown.value.reason) == (
        ErrorCode.INVALID_ARGUMENT, Reason.DEPENDENCY_NOT_FOUND
    )
    assert unknown.value.field == "tasks[0].depends_on"


async def test_idempotency_key_returns_the_existing_task(engine: RedisEngine) -> None:
    [first] = await engine.enqueue([NewTask("t", {"n": 1}, idempotency_key="k")])
    [again] = await engine.enqueue([NewTask("t", {"n": 2}, idempotency_key="k")])
    assert (
        again.deduplicated and again.task.id == first.task.id and again.task.task_data == {"n": 1}
    )
    assert (await engine.stats())["t"].counts[Status.PENDING] == 1


async def test_retention_counts_from_the_terminal_state(
    engine: RedisEngine, clock: FakeClock
) -> None:
    live = await enqueue_one(engine, delay_seconds=10 * 86400)
    done = await enqueue_one(engine)
    [claimed] = await engine.claim("default", ["t"], 5, "w")
    await engine.finish([Outcome(claimed.lease, result_json="{}")])
    keys, settings = engine.keys("default"), engine.settings
    # No task hash has a TTL (an entry in Redis' expiry dictionary per finished task): the
    # task's retention ends in the timers' expiry bucket of that second, rounded up.
    assert await engine.redis.ttl(keys.task(live)) == -1
    assert await engine.redis.ttl(keys.task(done)) == -1
    ends = math.ceil(clock.now) + settings.task_ttl_seconds
    assert await engine.redis.lrange(keys.expiring(ends), 0, -1) == [done.encode()]
    assert await engine.redis.zscore(keys.expiry, str(ends)) == ends * 1000
    clock.advance(settings.task_ttl_seconds - 1)
    await engine.run_due("default")
    assert (await engine.get_task(done)).status == Status.COMPLETED
    clock.advance(1)
    await engine.run_due("default")
    # The task ended; its small result, a field of the hash, moved to a key of its own for
    # the rest of its (longer) retention.
    with pytest.raises(TaskNotFound):
        await engine.get_task(done)
    assert await engine.redis.exists(keys.task(done)) == 0
    rest = settings.result_ttl_seconds - settings.task_ttl_seconds
    assert rest - 2 <= await engine.redis.ttl(keys.result(done)) <= rest
    assert (await engine.get_task(live)).status == Status.SCHEDULED
    result = await engine.get_result(done)
    assert (result.status, result.result) == (Status.COMPLETED, {})


async def test_a_retried_task_keeps_its_retention_from_its_last_end(
    engine: RedisEngine, clock: FakeClock
) -> None:
    """An expiry bucket cannot drop one id, so a retried task's old entry stays there: when
    its second comes the task, live again or ended since, must be kept."""
    again, live = await enqueue_one(engine, max_retries=0), await enqueue_one(engine, max_retries=0)
    for claimed in await engine.claim("default", ["t"], 5, "w"):
        await engine.finish([Outcome(claimed.lease, error="boom")])
    ttl_ms = engine.settings.task_ttl_seconds * 1000
    clock.advance(ttl_ms / 2000)
    await engine.retry(again)
    await engine.retry(live)
    [claimed] = await engine.claim("default", ["t"], 1, "w")
    assert claimed.lease.task_id == again
    await engine.finish([Outcome(claimed.lease, result_json="{}")])
    keys = engine.keys("default")
    clock.advance(ttl_ms / 2000)
    await engine.run_due("default")
    assert (await engine.get_task(again)).status == Status.COMPLETED
    assert await engine.redis.zscore(keys.by_status("completed"), again) == 0
    assert await engine.redis.zscore(keys.by_status("pending"), live) == 0
    clock.advance(ttl_ms / 2000)
    await engine.run_due("default")
    assert await engine.redis.zscore(keys.by_status("completed"), again) is None
    assert await engine.redis.zcard(keys.expiry) == 0
    assert (await engine.get_task(live)).status == Status.PENDING


async def test_an_expiry_entry_stored_before_the_buckets_still_ends_its_task(
    engine: RedisEngine, clock: FakeClock
) -> None:
    """Before the buckets <P>expiry held each task's id scored by its deadline (upgrade)."""
    task_id = await enqueue_one(engine)
    [claimed] = await engine.claim("default", ["t"], 5, "w")
    await engine.finish([Outcome(claimed.lease, result_json="{}")])
    keys, ttl = engine.keys("default"), engine.settings.task_ttl_seconds
    await engine.redis.delete(keys.expiry, keys.expiring(int(clock.now) + ttl))
    await engine.redis.zadd(keys.expiry, {task_id: (clock.now + ttl) * 1000})
    clock.advance(ttl)
    await engine.run_due("default")
    assert await engine.redis.zscore(keys.by_status("completed"), task_id) is None
    assert await engine.redis.zcard(keys.expiry) == 0
    with pytest.raises(TaskNotFound):
        await engine.get_task(task_id)


async def test_a_large_result_and_large_data_are_keys_of_their_own(
    engine: RedisEngine, clock: FakeClock
) -> None:
    """Values over 64 bytes would switch the hash out of Redis' compact listpack encoding.
    The data key goes with its task, when the timers end the task's retention; the result
    key keeps its own (longer) TTL."""
    small = await enqueue_one(engine)
    [large] = await engine.enqueue([NewTask("t", {"x": "d" * 100})])
    claimed = {c.lease.task_id: c for c in await engine.claim("default", ["t"], 5, "w")}
    assert claimed[large.task.id].task_data == {"x": "d" * 100}
    big_result = orjson.dumps({"r": "r" * 100}).decode()
    await engine.finish(
        [
            Outcome(claimed[small].lease, result_json='{"n": 1}'),
            Outcome(claimed[large.task.id].lease, result_json=big_result),
        ]
    )
    keys, settings = engine.keys("default"), engine.settings
    assert await engine.redis.exists(keys.data(small), keys.result(small)) == 0
    assert await engine.redis.exists(keys.data(large.task.id), keys.result(large.task.id)) == 2
    assert await engine.redis.ttl(keys.task(large.task.id)) == -1
    assert await engine.redis.ttl(keys.data(large.task.id)) == -1
    assert settings.task_ttl_seconds < await engine.redis.ttl(keys.result(large.task.id))
    if type(engine.redis) is redis.asyncio.Redis:  # real Redis (not fakeredis, not a cluster)
        assert await engine.redis.object("encoding", keys.task(small)) == b"listpack"
    expected = [(small, {"x": 1}, {"n": 1}), (large.task.id, {"x": "d" * 100}, {"r": "r" * 100})]
    for task_id, data, result in expected:
        assert (await engine.get_task(task_id)).task_data == data
        assert (await engine.get_result(task_id)).result == result
    clock.advance(settings.task_ttl_seconds)
    await engine.run_due("default")
    assert await engine.redis.exists(keys.task(large.task.id), keys.data(large.task.id)) == 0
    assert (await engine.get_result(large.task.id)).result == {"r": "r" * 100}


async def test_a_finished_task_keeps_only_what_it_still_needs(
    engine: RedisEngine, clock: FakeClock
) -> None:
    """seq, an empty error, updated equal to finished and run_at equal to created are left
    out of a finished task's hash (thousands are retained) and read back the same; priority 0
    is never stored, and a completed task drops the worker that ran it (a failed one keeps
    it, for whoever looks into the failure)."""
    now_ms = int(clock.now * 1000)
    plain = await enqueue_one(engine)
    later = await enqueue_one(engine, delay_seconds=1)
    clock.advance(1)
    await engine.run_due("default")
    clock.advance(1)
    claimed = {c.lease.task_id: c for c in await engine.claim("default", ["t"], 5, "w")}
    clock.advance(1)
    await engine.finish(
        [
            Outcome(claimed[plain].lease, result_json="{}"),
            Outcome(claimed[later].lease, error="boom", permanent=True),
        ]
    )
    keys = engine.keys("default")
    fields = {k.decode() for k in await engine.redis.hkeys(keys.task(plain))}
    assert not fields & {"seq", "error", "updated", "run_at", "worker", "priority"}
    record = await engine.get_task(plain)
    assert (record.created_at_ms, record.run_at_ms) == (now_ms, now_ms)
    assert (record.started_at_ms, record.finished_at_ms) == (now_ms + 2000, now_ms + 3000)
    assert (record.updated_at_ms, record.last_error) == (now_ms + 3000, "")
    fields = {k.decode() for k in await engine.redis.hkeys(keys.task(later))}
    assert fields & {"seq", "error", "updated", "run_at", "worker"} == {"error", "run_at", "worker"}
    assert await engine.redis.hget(keys.task(later), "worker") == b"w"
    record = await engine.get_task(later)
    assert (record.run_at_ms, record.last_error) == (now_ms + 1000, "boom")
    assert record.updated_at_ms == record.finished_at_ms == now_ms + 3000
    requeued = await engine.retry(later)
    assert requeued.status == Status.PENDING
    assert requeued.updated_at_ms == requeued.run_at_ms == now_ms + 3000
    assert [c.lease.task_id for c in await engine.claim("default", ["t"], 5, "w")] == [later]


async def test_batch_is_all_or_nothing(engine: RedisEngine) -> None:
    good = NewTask("t", {})
    bad = NewTask("t", {}, depends_on=("default-" + "f" * 32,))
    with pytest.raises(EngineError, match=r"tasks\[1\]"):
        await engine.enqueue([good, bad])
    assert await engine.stats() == {}


async def test_queue_length_limit(engine: RedisEngine) -> None:
    object.__setattr__(
        engine,
        "settings",
        engine.settings.__class__(key_prefix=engine.settings.key_prefix, max_queue_length=2),
    )
    await engine.enqueue([NewTask("t", {}), NewTask("t", {})])
    with pytest.raises(EngineError) as full:
        await enqueue_one(engine)
    assert (full.value.code, full.value.reason) == (
        ErrorCode.RESOURCE_EXHAUSTED, Reason.QUEUE_FULL
    )


async def test_unknown_and_malformed_ids(engine: RedisEngine) -> None:
    with pytest.raises(TaskNotFound):
        await engine.get_task("default-" + "a" * 32)
    with pytest.raises(EngineError) as malformed:
        await engine.get_task("default-../../etc")
    assert malformed.value.code == ErrorCode.INVALID_ARGUMENT


async def test_result_wait_answers_with_the_outcome(engine: RedisEngine) -> None:
    done, failed = await enqueue_one(engine), await enqueue_one(engine, max_retries=0)
    waiters = [asyncio.create_task(engine.get_result(t, wait_seconds=10)) for t in (done, failed)]
    claimed = {c.lease.task_id: c.lease for c in await engine.claim("default", ["t"], 5, "w")}
    await engine.finish(
        [Outcome(claimed[done], result_json='{"n": 7}'), Outcome(claimed[failed], error="boom")]
    )
    completed, refused = await asyncio.gather(*waiters)
    assert (completed.status, completed.result) == (Status.COMPLETED, {"n": 7})
    assert (refused.status, refused.result, refused.error) == (Status.FAILED, None, "boom")


async def test_result_wait_ends_at_its_deadline_with_the_task_unfinished(
    engine: RedisEngine,
) -> None:
    task_id = await enqueue_one(engine)
    started = asyncio.get_running_loop().time()
    result = await engine.get_result(task_id, wait_seconds=0.2)
    assert result.status == Status.PENDING and result.result is None
    assert 0.2 <= asyncio.get_running_loop().time() - started < 2


async def test_completion_event_carries_the_result(engine: RedisEngine) -> None:
    """What lets a waiting GetResult answer without reading Redis again."""
    task_id = await enqueue_one(engine)
    [claimed] = await engine.claim("default", ["t"], 5, "w")
    async with engine.hub.subscribe(engine.keys("default").task_events(task_id)) as sub:
        await engine.finish([Outcome(claimed.lease, result_json='{"n": 7}')])
        event = orjson.loads(await asyncio.wait_for(sub.queue.get(), 5))
    assert (event["status"], orjson.loads(event["result"])) == ("completed", {"n": 7})


async def test_finishing_claims_the_next_tasks_in_the_same_call(engine: RedisEngine) -> None:
    first, second, third = [await enqueue_one(engine) for _ in range(3)]
    [claimed] = await engine.claim("default", ["t"], 1, "w")
    stale, following = await engine.finish_and_claim(
        [Outcome(claimed.lease, result_json="{}")], "default", ["t"], 2, "w"
    )
    assert stale == [] and claimed.lease.task_id == first
    assert [c.lease.task_id for c in following] == [second, third]
    assert (await engine.get_task(first)).status == Status.COMPLETED
    assert (await engine.get_task(third)).status == Status.PROCESSING
