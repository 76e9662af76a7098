"""A handler that says which process ran it (for --processes tests)."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from taskqueue_server import TaskContext, handler


@handler("which_process")
async def which_process(task_data: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    await asyncio.sleep(float(task_data.get("seconds", 0.01)))
    return {"pid": os.getpid()}
