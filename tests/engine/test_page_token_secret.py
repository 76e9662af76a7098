"""The page-token secret: one random secret per deployment, shared through Redis."""

from __future__ import annotations

import dataclasses

import pytest
from taskqueue_server.engine.errors import EngineError, ErrorCode
from taskqueue_server.engine.keys import page_token_secret
from taskqueue_server.engine.models import NewTask
from taskqueue_server.engine.store import RedisEngine

OLD_CONSTANT = b"taskqueue-page-token"  # the secret every deployment once shared


async def second_engine(engine: RedisEngine, secret: bytes | None = None) -> RedisEngine:
    """Another server's engine on the same store and prefix."""
    settings = dataclasses.replace(engine.settings, page_token_secret=secret)
    other = RedisEngine(engine.redis, engine.redis, settings, clock=engine.clock)
    await other.start()
    return other


async def first_page_token(engine: RedisEngine) -> str:
    await engine.enqueue([NewTask("t", {}), NewTask("t", {})])
    page = await engine.list_tasks("default", page_size=1)
    assert page.next_cursor
    return page.next_cursor


async def test_the_secret_is_random_stored_once_and_shared(engine: RedisEngine) -> None:
    stored = await engine.redis.get(page_token_secret(engine.settings.key_prefix))
    assert stored is not None and len(stored) == 32 and stored != OLD_CONSTANT
    other = await second_engine(engine)
    assert await engine.redis.get(page_token_secret(engine.settings.key_prefix)) == stored
    token = await first_page_token(engine)
    assert len((await other.list_tasks("default", page_size=1, cursor=token)).tasks) == 1


async def test_a_token_signed_with_the_old_constant_is_refused(engine: RedisEngine) -> None:
    forger = await second_engine(engine, secret=OLD_CONSTANT)
    forged = await first_page_token(forger)
    with pytest.raises(EngineError) as refused:
        await engine.list_tasks("default", page_size=1, cursor=forged)
    assert refused.value.code == ErrorCode.INVALID_ARGUMENT
    assert "not one this service issued" in refused.value.message


async def test_an_operator_secret_is_used_and_nothing_is_stored(engine: RedisEngine) -> None:
    key = page_token_secret(engine.settings.key_prefix)
    await engine.redis.delete(key)
    operator = await second_engine(engine, secret=b"set-by-the-operator")
    assert await engine.redis.get(key) is None
    same = await second_engine(engine, secret=b"set-by-the-operator")
    token = await first_page_token(operator)
    assert (await same.list_tasks("default", page_size=1, cursor=token)).tasks
    with pytest.raises(EngineError):
        await engine.list_tasks("default", page_size=1, cursor=token)
