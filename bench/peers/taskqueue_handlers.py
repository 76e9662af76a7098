"""The bench job for taskqueue (`--handlers taskqueue_handlers`): bench/peers/job.py."""

from __future__ import annotations

from typing import Any

from job import run_async
from taskqueue_server.worker.context import TaskContext
from taskqueue_server.worker.registry import handler


@handler("bench.job")
async def job(task_data: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    return await run_async(task_data)
