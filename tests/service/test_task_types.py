"""The shared set of task types Enqueue accepts, on real Redis and the embedded store."""

from __future__ import annotations

import pytest
from taskqueue_server.engine.store import RedisEngine
from taskqueue_server.service.task_types import CACHE_SECONDS, KnownTaskTypes
from taskqueue_server.service.validation import InvalidArgument

from tests.conftest import FakeClock


async def refusal(types: KnownTaskTypes, engine: RedisEngine, task_type: str) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as info:
        await types.require(engine, {"tasks[1].task_type": task_type})
    assert info.value.field == "tasks[1].task_type"
    return info.value


async def test_types_registered_by_another_server_are_accepted_at_once(
    engine: RedisEngine, clock: FakeClock
) -> None:
    here = KnownTaskTypes(["echo"], accept_unknown=False, clock=clock)
    await engine.register_task_types(["echo"])
    await here.require(engine, {"task_type": "echo"})  # fills the cache
    # Another server starts a moment later with a handler this one lacks.
    await engine.register_task_types(["resize", "echo"])
    await here.require(engine, {"task_type": "resize"})
    assert await engine.known_task_types() == {"echo", "resize"}


async def test_an_unknown_type_is_refused_naming_every_known_one(engine: RedisEngine) -> None:
    await engine.register_task_types(["resize"])
    error = await refusal(KnownTaskTypes(["echo"], accept_unknown=False), engine, "nope")
    known = "no handler is registered for 'nope'; known task types: echo, resize"
    assert error.message == f"tasks[1].task_type: {known}"


async def test_with_no_handlers_anywhere_the_refusal_says_how_to_start_one(
    engine: RedisEngine,
) -> None:
    error = await refusal(KnownTaskTypes([], accept_unknown=False), engine, "nope")
    assert "--handlers MODULE" in error.message and "--accept-unknown-types" in error.message


async def test_accept_unknown_types_skips_the_check(engine: RedisEngine) -> None:
    await KnownTaskTypes([], accept_unknown=True).require(engine, {"task_type": "anything"})


async def test_a_known_type_is_served_from_the_cache_until_it_is_stale(
    engine: RedisEngine, clock: FakeClock
) -> None:
    types = KnownTaskTypes([], accept_unknown=False, clock=clock)
    await engine.register_task_types(["resize"])
    await types.require(engine, {"task_type": "resize"})
    calls: list[int] = []
    original = engine.known_task_types

    async def counted() -> frozenset[str]:
        calls.append(1)
        return await original()

    engine.known_task_types = counted  # type: ignore[method-assign]
    await types.require(engine, {"task_type": "resize"})
    assert calls == []
    clock.advance(CACHE_SECONDS)
    await types.require(engine, {"task_type": "resize"})
    assert calls == [1]
