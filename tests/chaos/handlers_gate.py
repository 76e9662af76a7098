"""A handler that runs until the test opens its gate: the condition that holds callers open.

The test opens the gate by pushing to `gate_key(task_id)` in the shared test Redis (the
record Redis of handlers_chaos.py, under the cluster's prefix, so its cleanup covers it).
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from taskqueue_server import TaskContext, handler

from .handlers_chaos import RECORD_URL, record_key


def gate_key(task_id: str, prefix: str = "") -> str:
    return record_key("gate", task_id, prefix=prefix)


@handler("chaos_gate")
async def gate(task_data: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """Blocks until the gate opens, at most `seconds`; returns whether it opened."""
    # Its own client: the recorder's socket timeout is shorter than the BLPOP.
    client = Redis.from_url(RECORD_URL)
    try:
        key, seconds = gate_key(ctx.task_id), float(task_data["seconds"])
        opened = await client.blpop([key], timeout=seconds)  # type: ignore[misc]
    finally:
        await client.aclose()
    return {"opened": opened is not None}
