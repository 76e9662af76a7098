"""The handler module service_bench.py starts taskqueue-server with (`bench.noop_handlers`)."""

from __future__ import annotations

from typing import Any

from taskqueue_server.worker.context import TaskContext
from taskqueue_server.worker.registry import handler


@handler("noop")
async def noop(task_data: dict[str, Any], ctx: TaskContext) -> None:
    """Does nothing: what is left to measure is the queue itself."""
    return None
