"""ListTasks without a status filter merges the status indexes (there is no all-tasks index)."""

from __future__ import annotations

from taskqueue_server.engine.models import NewTask, Outcome, Status
from taskqueue_server.engine.store import RedisEngine


async def test_listing_everything_pages_newest_first_across_statuses(
    engine: RedisEngine,
) -> None:
    outcomes = await engine.enqueue([NewTask("t", {"n": n}) for n in range(7)])
    ids = [o.task.id for o in outcomes]
    claimed = await engine.claim("default", ["t"], 3, "w")  # the three oldest
    await engine.finish([Outcome(claimed[0].lease, result_json="{}")])
    await engine.finish([Outcome(claimed[1].lease, error="boom", permanent=True)])
    await engine.cancel(ids[6])
    statuses = {t.id: t.status for t in (await engine.list_tasks("default", page_size=100)).tasks}
    assert statuses == {
        ids[0]: Status.COMPLETED, ids[1]: Status.FAILED, ids[2]: Status.PROCESSING,
        ids[3]: Status.PENDING, ids[4]: Status.PENDING, ids[5]: Status.PENDING,
        ids[6]: Status.CANCELLED,
    }  # fmt: skip
    # Ids of one millisecond sort by their random part: "newest first" is id order.
    seen: list[str] = []
    cursor = ""
    while True:
        page = await engine.list_tasks("default", page_size=3, cursor=cursor)
        seen += [t.id for t in page.tasks]
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert seen == sorted(ids, reverse=True)
    typed = await engine.list_tasks("default", task_type="t", page_size=2)
    assert [t.id for t in typed.tasks] == sorted(ids, reverse=True)[:2] and typed.next_cursor
