"""Labels on tasks and the per-(queue, key, value) index ListTasks filters by."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
from taskqueue_server.engine.errors import EngineError, ErrorCode
from taskqueue_server.engine.models import Outcome, Status
from taskqueue_server.engine.store import RedisEngine

from tests.conftest import FakeClock
from tests.support.engine_tasks import enqueue_tasks

ACME = ("tenant", "acme")


@pytest.fixture
async def labelled(engine: RedisEngine) -> AsyncIterator[RedisEngine]:
    """The engine indexing the `tenant` label only."""
    engine.settings = dataclasses.replace(engine.settings, indexed_labels=("tenant",))
    yield engine


async def label_index(engine: RedisEngine, name: str, value: str) -> list[str]:
    members = await engine.redis.zrange(engine.keys("default").label(name, value), 0, -1)
    return [m.decode() for m in members]


async def test_labels_are_stored_returned_and_indexed(labelled: RedisEngine) -> None:
    labels = {"tenant": "acme", "trace": "t-1"}
    acme = await enqueue_tasks(labelled, count=2, labels=labels)
    await enqueue_tasks(labelled, count=2, labels={"tenant": "globex"})
    await enqueue_tasks(labelled, count=1)
    assert (await labelled.get_task(acme[0])).labels == labels
    page = await labelled.list_tasks("default", label=ACME)
    assert sorted(t.id for t in page.tasks) == sorted(acme)
    assert await label_index(labelled, "trace", "t-1") == []  # not an indexed key
    [claimed] = await labelled.claim("default", ["t"], 1, "w")
    assert claimed.lease.task_id == acme[0]
    running = await labelled.list_tasks("default", status=Status.PROCESSING, label=ACME)
    assert [t.id for t in running.tasks] == [acme[0]]
    with pytest.raises(EngineError) as refused:
        await labelled.list_tasks("default", label=("trace", "t-1"))
    assert refused.value.code == ErrorCode.INVALID_ARGUMENT
    assert "--indexed-labels" in refused.value.message


async def test_label_pages_carry_the_filter(labelled: RedisEngine) -> None:
    acme = await enqueue_tasks(labelled, count=5, labels={"tenant": "acme"})
    first = await labelled.list_tasks("default", page_size=2, label=ACME)
    second = await labelled.list_tasks(
        "default", page_size=10, cursor=first.next_cursor, label=ACME
    )
    listed = [t.id for t in first.tasks + second.tasks]
    assert len(first.tasks) == 2 and sorted(listed) == sorted(acme)  # ids of one ms: any order
    with pytest.raises(EngineError):
        await labelled.list_tasks("default", cursor=first.next_cursor)


async def test_index_entries_leave_with_the_task(labelled: RedisEngine, clock: FakeClock) -> None:
    deleted, expiring, retried = await enqueue_tasks(labelled, count=3, labels={"tenant": "a"})
    assert await labelled.delete_task(deleted) == Status.PENDING
    for _ in range(2):
        [claimed] = await labelled.claim("default", ["t"], 1, "w")
        await labelled.finish([Outcome(claimed.lease, error="no", permanent=True)])
    await labelled.retry(retried)  # live again: its entry must outlive the retention
    assert sorted(await label_index(labelled, "tenant", "a")) == sorted([expiring, retried])
    clock.advance(labelled.settings.task_ttl_seconds + 1)
    await labelled.run_due("default")
    assert await label_index(labelled, "tenant", "a") == [retried]
    assert await labelled.redis.zcard(labelled.keys("default").label_expiry) == 0
