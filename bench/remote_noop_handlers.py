"""The handler module remote_worker_bench.py runs remote workers with
(`taskqueue worker --handlers bench.remote_noop_handlers`)."""

from __future__ import annotations

import time
from typing import Any

from taskqueue_client.worker import TaskContext, handler


@handler("noop")
async def noop(task_data: dict[str, Any], ctx: TaskContext) -> None:
    """Does nothing: what is left to measure is the queue and the WorkerService."""
    return None


@handler("stamp")
async def stamp(task_data: dict[str, Any], ctx: TaskContext) -> dict[str, float]:
    """Reports when the handler started, for the pickup latency."""
    return {"started": time.time()}
