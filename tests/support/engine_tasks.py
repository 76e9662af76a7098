"""Seeding an engine with tasks, for engine tests."""

from __future__ import annotations

from taskqueue_server.engine.models import NewTask
from taskqueue_server.engine.store import RedisEngine


async def enqueue_tasks(
    engine: RedisEngine, task_type: str = "t", count: int = 1, **fields: object
) -> list[str]:
    """Enqueue `count` tasks of one type in one batch; their ids, in enqueue order."""
    tasks = [NewTask(task_type, {"n": n}, **fields) for n in range(count)]  # type: ignore[arg-type]
    return [outcome.task.id for outcome in await engine.enqueue(tasks)]
