"""Test handlers that record what they do in Redis, under the test's own key prefix.

The server process gets TQTEST_REDIS_URL and TQTEST_PREFIX in its environment (see
conftest.py); keys are "<prefix>:rec:*", so the test's cleanup deletes them.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import redis
from taskqueue_server import TaskContext, handler

_client = redis.Redis.from_url(os.environ.get("TQTEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
_PREFIX = os.environ.get("TQTEST_PREFIX", "tqtest-unset")


def key(*parts: str) -> str:
    return ":".join((_PREFIX, "rec", *parts))


@handler("record")
def record(task_data: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """Counts runs per task and logs attempt times.

    Fails while the attempt is below `fail_until`, or while this task has run no more than
    `fail_runs` times in all (that survives RetryTask, which starts attempts afresh).
    """
    now_ms = time.time() * 1000
    runs = _client.incr(key("runs", ctx.task_id))
    _client.rpush(key("attempt_ms", ctx.task_id), f"{now_ms:.1f}")
    _client.rpush(key("worker", ctx.task_id), str(os.getpid()))
    time.sleep(float(task_data.get("sleep", 0)))
    if ctx.attempt < int(task_data.get("fail_until", 0)):
        raise RuntimeError(f"attempt {ctx.attempt} fails on purpose")
    if runs <= int(task_data.get("fail_runs", 0)):
        raise RuntimeError(f"run {runs} fails on purpose")
    _client.incr(key("completed_runs", ctx.task_id))
    return {"runs": runs, "attempt": ctx.attempt, "pid": os.getpid()}


@handler("block")
async def block(task_data: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """Runs until cancelled (or `seconds` pass), noting that it started and how it ended."""
    _client.set(key("started", ctx.task_id), "1")
    try:
        deadline = time.monotonic() + float(task_data.get("seconds", 60))
        while time.monotonic() < deadline and not ctx.cancelled:
            await asyncio.sleep(0.02)
    except asyncio.CancelledError:
        _client.set(key("ended", ctx.task_id), "cancelled")
        raise
    _client.set(key("ended", ctx.task_id), "cancelled" if ctx.cancelled else "finished")
    return {"cancelled": ctx.cancelled}


@handler("slow")
async def slow(task_data: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """Sleeps `first` seconds on its first run and `then` seconds on later runs (async, so a
    shutdown can interrupt it); counts runs and completions per task, notes the worker pid."""
    runs = _client.incr(key("runs", ctx.task_id))
    _client.rpush(key("worker", ctx.task_id), str(os.getpid()))
    seconds = float(task_data.get("first", 0)) if runs == 1 else float(task_data.get("then", 0))
    await asyncio.sleep(seconds)
    _client.incr(key("completed_runs", ctx.task_id))
    return {"runs": runs, "pid": os.getpid()}


@handler("gather")
def gather(task_data: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """Returns the results of the tasks it depends on, as the handler saw them."""
    return {"seen": dict(ctx.dependency_results)}
