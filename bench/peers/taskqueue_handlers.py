"""The bench's no-op job for taskqueue (`--handlers taskqueue_handlers`)."""

from __future__ import annotations

from typing import Any

from taskqueue_server.worker.context import TaskContext
from taskqueue_server.worker.registry import handler


@handler("bench.noop")
async def noop(task_data: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    return {"ok": True, "i": task_data["i"]}
