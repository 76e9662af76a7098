"""Demo handlers for trying the service out (`--handlers taskqueue_server.handlers.demo`)."""

from __future__ import annotations

import asyncio
from typing import Any

from ..worker.context import PermanentError, TaskContext
from ..worker.registry import handler


@handler("echo")
async def echo(task_data: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """Returns its input: the smallest useful task."""
    return {"echo": task_data, "attempt": ctx.attempt}


@handler("sleep")
async def sleep(task_data: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """Sleeps `seconds` (default 1) in ten steps, reporting progress after each."""
    seconds = float(task_data.get("seconds", 1.0))
    for step in range(1, 11):
        await asyncio.sleep(seconds / 10)
        await ctx.report_progress(step * 10, f"step {step} of 10")
    return {"slept": seconds}


@handler("fail")
def fail(task_data: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """Fails: permanently with {"permanent": true}, else until attempt `succeed_on`."""
    if task_data.get("permanent"):
        raise PermanentError(str(task_data.get("message", "failed on purpose")))
    succeed_on = int(task_data.get("succeed_on", 0))
    if succeed_on and ctx.attempt >= succeed_on:
        return {"succeeded_on": ctx.attempt}
    raise RuntimeError(str(task_data.get("message", f"attempt {ctx.attempt} failed on purpose")))
