"""Workflows in the engine: dependency results at claim time, flows in one batch, chords."""

from __future__ import annotations

import pytest
from taskqueue_server.engine.errors import EngineError, ErrorCode
from taskqueue_server.engine.models import ClaimedTask, NewTask, Outcome, Status
from taskqueue_server.engine.store import RedisEngine

from tests.conftest import FakeClock


async def complete(engine: RedisEngine, task_type: str, result: str) -> ClaimedTask:
    [claimed] = await engine.claim("default", [task_type], 1, "w")
    assert await engine.finish([Outcome(claimed.lease, result_json=result)]) == []
    return claimed


async def test_a_dependent_task_is_claimed_with_its_dependencies_results(
    engine: RedisEngine,
) -> None:
    first, second = await engine.enqueue([NewTask("a", {}), NewTask("b", {})])
    [child] = await engine.enqueue([NewTask("c", {}, depends_on=(first.task.id, second.task.id))])
    await complete(engine, "a", '{"n": 1}')
    await complete(engine, "b", '{"n": 2}')
    [claimed] = await engine.claim("default", ["c"], 1, "w")
    assert claimed.lease.task_id == child.task.id
    assert claimed.dependency_results == {first.task.id: {"n": 1}, second.task.id: {"n": 2}}


async def test_a_task_without_dependencies_gets_no_results(engine: RedisEngine) -> None:
    await engine.enqueue([NewTask("a", {})])
    [claimed] = await engine.claim("default", ["a"], 1, "w")
    assert claimed.dependency_results == {}


async def test_an_expired_dependency_result_reads_as_none(
    engine: RedisEngine, engine_settings: object
) -> None:
    [parent] = await engine.enqueue([NewTask("a", {})])
    await complete(engine, "a", '{"n": 1}')
    [child] = await engine.enqueue([NewTask("c", {}, depends_on=(parent.task.id,))])
    # Redis expires the result on its own clock (a small one in its task's hash, a large
    # one in a key of its own); deleting the keys is what expiry does.
    keys = engine.keys("default")
    await engine.redis.delete(keys.task(parent.task.id))
    await engine.redis.delete(keys.result(parent.task.id))
    [claimed] = await engine.claim("default", ["c"], 1, "w")
    assert claimed.lease.task_id == child.task.id
    assert claimed.dependency_results == {parent.task.id: None}


async def test_a_batch_names_earlier_tasks_by_index(engine: RedisEngine) -> None:
    """A chain a -> b -> c stored in one call: b waits on a, c on b."""
    a, b, c = await engine.enqueue(
        [
            NewTask("a", {}),
            NewTask("b", {}, depends_on_index=(0,)),
            NewTask("c", {}, depends_on_index=(1,)),
        ]
    )
    assert [o.task.status for o in (a, b, c)] == [Status.PENDING, Status.WAITING, Status.WAITING]
    assert (b.task.depends_on, c.task.depends_on) == ((a.task.id,), (b.task.id,))
    await complete(engine, "a", '{"step": "a"}')
    claimed_b = await complete(engine, "b", '{"step": "b"}')
    assert claimed_b.dependency_results == {a.task.id: {"step": "a"}}
    [claimed_c] = await engine.claim("default", ["c"], 1, "w")
    assert claimed_c.dependency_results == {b.task.id: {"step": "b"}}


@pytest.mark.parametrize("index", [1, 2, -1])
async def test_a_batch_refuses_an_own_or_later_index_and_stores_nothing(
    engine: RedisEngine, index: int
) -> None:
    with pytest.raises(EngineError) as caught:
        await engine.enqueue([NewTask("a", {}), NewTask("b", {}, depends_on_index=(index,))])
    assert caught.value.code == ErrorCode.INVALID_ARGUMENT
    assert caught.value.field == "tasks[1].depends_on_index"
    assert (await engine.list_tasks("default")).tasks == []


async def test_a_flow_sent_again_with_idempotency_keys_does_not_fork(
    engine: RedisEngine,
) -> None:
    """A retried flow: the parent is deduplicated and the new child waits on the existing one."""
    [parent] = await engine.enqueue([NewTask("a", {}, idempotency_key="flow-1-a")])
    again, child = await engine.enqueue(
        [NewTask("a", {}, idempotency_key="flow-1-a"), NewTask("c", {}, depends_on_index=(0,))]
    )
    assert again.deduplicated and again.task.id == parent.task.id
    assert child.task.status == Status.WAITING
    await complete(engine, "a", '{"n": 1}')
    [claimed] = await engine.claim("default", ["c"], 1, "w")
    assert claimed.dependency_results == {parent.task.id: {"n": 1}}


async def test_a_chord_callback_sees_every_result_or_is_cancelled(
    engine: RedisEngine, clock: FakeClock
) -> None:
    """Two groups of three plus a callback each: one group completes, one has a failure."""
    for outcome_of_last in ('{"part": 2}', None):
        *parts, callback = await engine.enqueue(
            [NewTask("part", {"i": i}) for i in range(3)]
            + [NewTask("sum", {}, depends_on_index=(0, 1, 2))]
        )
        claimed = await engine.claim("default", ["part"], 3, "w")
        outcomes = [Outcome(c.lease, result_json=f'{{"part": {n}}}') for n, c in enumerate(claimed)]
        if outcome_of_last is None:
            outcomes[2] = Outcome(claimed[2].lease, error="boom", permanent=True)
        await engine.finish(outcomes)
        task = await engine.get_task(callback.task.id)
        if outcome_of_last is None:
            assert task.status == Status.CANCELLED
            assert task.last_error == f"dependency {claimed[2].lease.task_id} did not complete"
            continue
        [summed] = await engine.claim("default", ["sum"], 1, "w")
        assert summed.dependency_results == {
            c.lease.task_id: {"part": n} for n, c in enumerate(claimed)
        }
        assert {p.task.id for p in parts} == set(summed.dependency_results)
        await engine.finish([Outcome(summed.lease, result_json="{}")])


async def test_a_unique_key_returns_the_task_that_has_not_started(engine: RedisEngine) -> None:
    [first] = await engine.enqueue([NewTask("a", {"n": 1}, unique_key="sync-repo-7")])
    [second] = await engine.enqueue([NewTask("a", {"n": 2}, unique_key="sync-repo-7")])
    assert not first.deduplicated and second.deduplicated
    assert second.task.id == first.task.id and second.task.task_data == {"n": 1}
    assert second.task.unique_key == "sync-repo-7"
    # Once it runs, the key is free: a change made now needs a new run.
    await engine.claim("default", ["a"], 1, "w")
    [third] = await engine.enqueue([NewTask("a", {"n": 3}, unique_key="sync-repo-7")])
    assert not third.deduplicated and third.task.id != first.task.id


async def test_a_unique_key_is_held_while_scheduled_or_waiting_and_freed_by_cancel(
    engine: RedisEngine,
) -> None:
    [parent] = await engine.enqueue([NewTask("p", {})])
    [waiting] = await engine.enqueue(
        [NewTask("a", {}, unique_key="k", depends_on=(parent.task.id,))]
    )
    [scheduled] = await engine.enqueue([NewTask("b", {}, unique_key="s", delay_seconds=60)])
    again = await engine.enqueue(
        [NewTask("a", {}, unique_key="k"), NewTask("b", {}, unique_key="s")]
    )
    assert [o.task.id for o in again] == [waiting.task.id, scheduled.task.id]
    assert all(o.deduplicated for o in again)
    await engine.cancel(waiting.task.id)
    [fresh] = await engine.enqueue([NewTask("a", {}, unique_key="k")])
    assert not fresh.deduplicated and fresh.task.status == Status.PENDING


async def test_a_unique_key_is_freed_when_a_dependency_failure_cancels_its_task(
    engine: RedisEngine,
) -> None:
    """A failed flow must not leave its key locked: the cascade frees it with the status."""
    [parent] = await engine.enqueue([NewTask("p", {})])
    await engine.enqueue([NewTask("a", {}, unique_key="k", depends_on=(parent.task.id,))])
    [claimed] = await engine.claim("default", ["p"], 1, "w")
    await engine.finish([Outcome(claimed.lease, error="boom", permanent=True)])
    [fresh] = await engine.enqueue([NewTask("a", {}, unique_key="k")])
    assert not fresh.deduplicated


async def test_one_batch_keeps_one_task_per_unique_key(engine: RedisEngine) -> None:
    first, second = await engine.enqueue(
        [NewTask("a", {}, unique_key="k"), NewTask("a", {}, unique_key="k")]
    )
    assert second.deduplicated and second.task.id == first.task.id
    assert len((await engine.list_tasks("default")).tasks) == 1
