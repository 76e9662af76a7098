"""Remote-worker handlers for the tests: `taskqueue worker --handlers tests.remote.handlers_remote`.

They record what they do in Redis under TQTEST_PREFIX, as tests/e2e/handlers_record.py does
for in-process handlers (keys "<prefix>:rec:*", read with tests.e2e.helpers.Records), so a
test sees every execution of worker processes it cannot reach into.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import redis
from taskqueue_client.worker import PermanentError, RetryLater, TaskContext, handler

_client = redis.Redis.from_url(os.environ.get("TQTEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
_PREFIX = os.environ.get("TQTEST_PREFIX", "tqtest-unset")
WHO = os.environ.get("TQTEST_WORKER", f"python:{os.getpid()}")


def key(*parts: str) -> str:
    return ":".join((_PREFIX, "rec", *parts))


@handler("remote_record")
def record(task_data: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """Sleeps `sleep` seconds (`first` on the first run, if given) in small steps, stopping
    early once cancelled (a cooperative sync handler); logs each execution as "start end who"
    and counts runs and completions."""
    start = time.time()
    runs = _client.incr(key("runs", ctx.task_id))
    _client.set(key("started", ctx.task_id), WHO)
    seconds = task_data["first"] if runs == 1 and "first" in task_data else task_data.get("sleep")
    deadline = time.monotonic() + float(seconds or 0)
    while time.monotonic() < deadline and not ctx.cancelled:
        time.sleep(0.01)
    _client.rpush(key("span", ctx.task_id), f"{start:.4f} {time.time():.4f} {WHO}")
    if ctx.cancelled:
        return {"stopped": True}
    _client.incr(key("completed_runs", ctx.task_id))
    return {"by": WHO, "attempt": ctx.attempt}


@handler("fleet")
def fleet(task_data: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """The mixed fleet's shared type (the servers run tests/remote/handlers_fleet_server.py)."""
    time.sleep(float(task_data.get("ms", 0)) / 1000)
    _client.hincrby(key("fleet_runs"), ctx.task_id, 1)
    _client.hincrby(key("fleet_by"), "python", 1)
    return {"by": WHO, "n": task_data.get("n")}


@handler("remote_async_echo")
async def async_echo(task_data: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    await ctx.report_progress(50, "half")
    return {"echo": task_data, "attempt": ctx.attempt}


@handler("remote_flaky")
def flaky(task_data: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    ctx.progress(30, "trying")
    if ctx.attempt < 2:
        raise ValueError("first attempt fails on purpose")
    return {"attempt": ctx.attempt}


@handler("remote_permanent")
def permanent(task_data: dict[str, Any], ctx: TaskContext) -> None:
    raise PermanentError("this input never works")


@handler("remote_retry_later")
def retry_later(task_data: dict[str, Any], ctx: TaskContext) -> None:
    raise RetryLater("rate limited", 30)


@handler("remote_until_cancelled")
async def until_cancelled(task_data: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """Runs until cancelled; notes when the cancellation reached it."""
    _client.set(key("started", ctx.task_id), WHO)
    try:
        await asyncio.sleep(float(task_data.get("seconds", 60)))
    except asyncio.CancelledError:
        _client.set(key("cancel_seen", ctx.task_id), f"{time.time():.4f}")
        raise
    return {"finished": True}


@handler("remote_not_json")
def not_json(task_data: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    return {"value": object()}


@handler("remote_dependencies")
async def dependencies(task_data: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """Returns what it was told of its dependencies' results."""
    return {"seen": dict(ctx.dependency_results)}


class QuotaExceeded(Exception):
    """Listed by name in retry policies' permanent_errors (test_remote_permanent_errors.py)."""


class DailyQuotaExceeded(QuotaExceeded):
    """Never listed itself: fails permanently through its base's name (the MRO)."""


class StillWarmingUp(Exception):
    """Never listed: retried."""


_RAISABLE = {cls.__name__: cls for cls in (QuotaExceeded, DailyQuotaExceeded, StillWarmingUp)}


@handler("remote_raise")
def raise_named(task_data: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """Raises the exception class named by task_data["error"], on every attempt."""
    raise _RAISABLE[task_data["error"]](f"attempt {ctx.attempt}")
