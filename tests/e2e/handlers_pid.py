"""Handlers that say which process and which event loop ran them (--processes, --event-loop)."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from taskqueue_server import TaskContext, handler


@handler("which_process")
async def which_process(task_data: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    await asyncio.sleep(float(task_data.get("seconds", 0.01)))
    return {"pid": os.getpid()}


@handler("which_loop")
async def which_loop(task_data: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """The module of the event loop running handlers: uvloop or asyncio (--event-loop)."""
    return {"loop": type(asyncio.get_running_loop()).__module__.split(".")[0]}
