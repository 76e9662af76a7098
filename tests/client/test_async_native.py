"""The asyncio client used the way callers write it: `async with`, `async for`, gather."""

from __future__ import annotations

import asyncio

import pytest
from taskqueue_client import AsyncTaskQueueClient, NotFound, TaskStatus

from tests.support.server_process import ServerProcess


async def test_async_client_end_to_end(server: ServerProcess, idle_queue: str) -> None:
    async with AsyncTaskQueueClient(server.target, timeout=20) as client:
        ids = await asyncio.gather(*(client.enqueue("sleep", {"seconds": 0.2}) for _ in range(3)))
        results = await asyncio.gather(*(client.wait(task_id, timeout=15) for task_id in ids))
        assert results == [{"slept": 0.2}] * 3

        statuses = [task.status async for task in client.watch(ids[0])]
        assert statuses == [TaskStatus.COMPLETED]

        await client.enqueue_many([{"task_type": "echo", "queue": idle_queue}] * 4)
        listed = [task async for task in client.list_tasks(idle_queue, page_size=3)]
        assert len(listed) == 4 and {t.queue for t in listed} == {idle_queue}

        with pytest.raises(NotFound):
            await client.get_task(f"{idle_queue}-{'f' * 32}")


async def test_leaving_a_watch_early_cancels_the_stream(server: ServerProcess) -> None:
    async with AsyncTaskQueueClient(server.target, timeout=20) as client:
        task_id = await client.enqueue("sleep", {"seconds": 1})
        watch = client.watch(task_id)
        first = await anext(watch)
        assert first.id == task_id
        await watch.aclose()
        assert await client.wait(task_id, timeout=15) == {"slept": 1}
