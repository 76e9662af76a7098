"""Idempotency keys shaped like an id's suffix (what the clients send) become the task's id."""

from __future__ import annotations

import os

from taskqueue_server.engine.errors import EngineError, ErrorCode, Reason
from taskqueue_server.engine.models import NewTask, Status
from taskqueue_server.engine.store import RedisEngine

from tests.conftest import FakeClock


def client_key(clock: FakeClock, offset_seconds: float = 0) -> str:
    """A key as the Python client makes one: 12 hex digits of ms, 20 random."""
    return f"{int((clock.now + offset_seconds) * 1000):012x}{os.urandom(10).hex()}"


async def idem_keys(engine: RedisEngine) -> list[bytes]:
    pattern = engine.keys("default").idempotency("*")
    return [k async for k in engine.redis.scan_iter(match=pattern, count=1000)]


async def test_a_client_key_is_the_task_id_and_stores_no_mapping(
    engine: RedisEngine, clock: FakeClock
) -> None:
    key = client_key(clock, -60)
    [first] = await engine.enqueue([NewTask("t", {"n": 1}, idempotency_key=key)])
    assert first.task.id == f"default-{key}" and first.task.idempotency_key == key
    assert await idem_keys(engine) == []
    # Repeated in a later call and within one batch: the first task, nothing stored.
    [again] = await engine.enqueue([NewTask("t", {"n": 2}, idempotency_key=key)])
    assert again.deduplicated and again.task.id == first.task.id
    assert again.task.task_data == {"n": 1} and again.task.idempotency_key == key
    assert (await engine.get_task(first.task.id)).idempotency_key == key
    other = client_key(clock)
    one, two = await engine.enqueue(
        [NewTask("t", {}, idempotency_key=other), NewTask("t", {}, idempotency_key=other)]
    )
    assert two.deduplicated and one.task.id == two.task.id == f"default-{other}"
    assert (await engine.stats())["t"].counts[Status.PENDING] == 2
    # Deleted, the key is free again (a new task, the same id).
    await engine.delete_task(first.task.id)
    [fresh] = await engine.enqueue([NewTask("t", {"n": 3}, idempotency_key=key)])
    assert not fresh.deduplicated and fresh.task.id == first.task.id
    assert (await engine.get_task(fresh.task.id)).task_data == {"n": 3}


async def test_a_key_far_from_the_clock_keeps_a_mapping_and_still_deduplicates(
    engine: RedisEngine, clock: FakeClock
) -> None:
    key = client_key(clock, -3600)
    [first] = await engine.enqueue([NewTask("t", {}, idempotency_key=key)])
    assert first.task.id != f"default-{key}"
    assert await idem_keys(engine) == [engine.keys("default").idempotency(key).encode()]
    [again] = await engine.enqueue([NewTask("t", {}, idempotency_key=key)])
    assert again.deduplicated and again.task.id == first.task.id
    assert (await engine.get_task(first.task.id)).idempotency_key == key


async def test_a_key_already_its_id_is_found_after_the_window(
    engine: RedisEngine, clock: FakeClock
) -> None:
    """A retry arriving late still finds the task its first attempt stored."""
    key = client_key(clock)
    [first] = await engine.enqueue([NewTask("t", {}, idempotency_key=key)])
    clock.advance(3600)
    [again] = await engine.enqueue([NewTask("t", {}, idempotency_key=key)])
    assert again.deduplicated and again.task.id == first.task.id == f"default-{key}"


async def test_a_key_naming_another_task_is_refused_and_stores_nothing(
    engine: RedisEngine,
) -> None:
    [plain] = await engine.enqueue([NewTask("t", {})])
    suffix = plain.task.id.rsplit("-", 1)[1]
    before = await engine.stats()
    try:
        await engine.enqueue([NewTask("t", {}, idempotency_key=suffix)])
    except EngineError as refused:
        assert (refused.code, refused.reason) == (ErrorCode.INVALID_ARGUMENT, Reason.INVALID_FIELD)
        assert refused.field == "tasks[0].idempotency_key"
    else:
        raise AssertionError("a key naming another task's id was accepted")
    assert await engine.stats() == before
    assert (await engine.get_task(plain.task.id)).idempotency_key == ""


async def test_retention_leaves_nothing_of_a_task_keyed_by_its_id(
    engine: RedisEngine, clock: FakeClock
) -> None:
    [task] = await engine.enqueue([NewTask("t", {}, idempotency_key=client_key(clock))])
    await engine.cancel(task.task.id)
    clock.advance(engine.settings.task_ttl_seconds)
    await engine.run_due("default")
    # The timers deleted the task itself; Redis expires the rest on its own clock, and
    # deleting what has a TTL is what expiry does.
    keys = engine.keys("default")
    assert await engine.redis.exists(keys.task(task.task.id)) == 0
    owned = [k async for k in engine.redis.scan_iter(match=f"{keys.base}*{task.task.id}*")]
    for key in owned:
        assert await engine.redis.ttl(key) > 0, key
    if owned:
        await engine.redis.delete(*owned)
    assert await idem_keys(engine) == []
    [again] = await engine.enqueue([NewTask("t", {}, idempotency_key=task.task.idempotency_key)])
    assert not again.deduplicated
