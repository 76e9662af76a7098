"""The handler module service_bench.py starts taskqueue-server with (`bench.noop_handlers`)."""

from __future__ import annotations

import time
from typing import Any

from taskqueue_server.worker.context import TaskContext
from taskqueue_server.worker.registry import handler


@handler("noop")
async def noop(task_data: dict[str, Any], ctx: TaskContext) -> None:
    """Does nothing: what is left to measure is the queue itself."""
    return None


@handler("stamp")
async def stamp(task_data: dict[str, Any], ctx: TaskContext) -> dict[str, float]:
    """Reports when the handler started (remote_worker_bench.py runs it in remote workers)."""
    return {"started": time.time()}
