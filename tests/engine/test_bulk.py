"""Bulk actions by filter, a bounded chunk per call, with dry runs and confirmation."""

from __future__ import annotations

import dataclasses

import pytest
from taskqueue_server.engine import bulk
from taskqueue_server.engine.errors import EngineError, ErrorCode
from taskqueue_server.engine.models import BulkAction, Outcome, Status, TaskFilter
from taskqueue_server.engine.store import RedisEngine

from tests.conftest import FakeClock
from tests.support.engine_tasks import enqueue_tasks


async def fail_all(engine: RedisEngine, task_type: str, count: int) -> list[str]:
    ids = await enqueue_tasks(engine, task_type, count)
    for claimed in await engine.claim("default", [task_type], count, "w"):
        await engine.finish([Outcome(claimed.lease, error="boom", permanent=True)])
    return ids


async def every_page(
    engine: RedisEngine, action: BulkAction, where: TaskFilter, dry_run: bool = False
) -> int:
    total, cursor = 0, ""
    while True:
        page = await engine.bulk(action, where, dry_run=dry_run, cursor=cursor)
        total += page.matched
        cursor = page.next_cursor
        if not cursor:
            return total


async def statuses(engine: RedisEngine, ids: list[str]) -> set[Status]:
    return {(await engine.get_task(task_id)).status for task_id in ids}


async def test_retry_all_failed_needs_the_confirmed_count(engine: RedisEngine) -> None:
    failed = await fail_all(engine, "a", 3)
    other = await fail_all(engine, "b", 1)
    where = TaskFilter("default", task_type="a")
    dry = await engine.bulk(BulkAction.RETRY, where, dry_run=True)
    assert (dry.matched, dry.next_cursor) == (3, "")
    with pytest.raises(EngineError) as refused:
        await engine.bulk(BulkAction.RETRY, where, expected_count=2)
    assert refused.value.code == ErrorCode.FAILED_PRECONDITION
    assert "nothing was changed" in refused.value.message
    assert await statuses(engine, failed) == {Status.FAILED}
    assert (await engine.bulk(BulkAction.RETRY, where, expected_count=3)).matched == 3
    assert await statuses(engine, failed) == {Status.PENDING}
    assert await statuses(engine, other) == {Status.FAILED}


async def test_pages_bound_the_work_of_one_call(
    engine: RedisEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "BULK_CHUNK", 2)
    ids = await enqueue_tasks(engine, count=5)
    where = TaskFilter("default")
    first = await engine.bulk(BulkAction.CANCEL, where, dry_run=True)
    assert first.matched == 2 and first.next_cursor
    assert await every_page(engine, BulkAction.CANCEL, where, dry_run=True) == 5
    assert await every_page(engine, BulkAction.CANCEL, where) == 5
    assert await statuses(engine, ids) == {Status.CANCELLED}
    with pytest.raises(EngineError) as foreign:
        await engine.bulk(
            BulkAction.CANCEL, TaskFilter("default", task_type="x"), cursor=first.next_cursor
        )
    assert foreign.value.code == ErrorCode.INVALID_ARGUMENT


async def test_created_before_and_label_narrow_the_match(
    engine: RedisEngine, clock: FakeClock
) -> None:
    engine.settings = dataclasses.replace(engine.settings, indexed_labels=("tenant",))
    old = await enqueue_tasks(engine, count=2, labels={"tenant": "acme"})
    clock.advance(10)
    new = await enqueue_tasks(engine, count=2, labels={"tenant": "acme"})
    await enqueue_tasks(engine, count=2, labels={"tenant": "globex"})
    before = TaskFilter("default", created_before_ms=int((clock.now - 5) * 1000))
    assert (
        await every_page(
            engine, BulkAction.DELETE, dataclasses.replace(before, status=Status.PENDING)
        )
        == 2
    )
    assert await statuses(engine, new) == {Status.PENDING}
    for task_id in old:
        with pytest.raises(EngineError):
            await engine.get_task(task_id)
    acme = TaskFilter("default", label=("tenant", "acme"))
    assert await every_page(engine, BulkAction.CANCEL, acme) == 2
    assert await statuses(engine, new) == {Status.CANCELLED}


async def test_an_action_takes_only_its_statuses(engine: RedisEngine) -> None:
    await enqueue_tasks(engine, count=1)
    for action, status in (
        (BulkAction.RETRY, Status.PENDING),
        (BulkAction.CANCEL, Status.COMPLETED),
        (BulkAction.DELETE, Status.PROCESSING),
    ):
        with pytest.raises(EngineError) as refused:
            await engine.bulk(action, TaskFilter("default", status=status))
        assert refused.value.code == ErrorCode.INVALID_ARGUMENT
        assert refused.value.message.startswith("status:")
