"""Test handlers for the worker's edges: timeouts, graceful stop, queue fairness, result size.

Like handlers_record.py they write under "<TQTEST_PREFIX>:rec:*" in the test's Redis. Every
handler that counts as running adds itself to "running" while it runs and notes the count it
saw in "peaks", so a test can check that --concurrency was never exceeded; "span:<id>" gets
"<start> <end>" (epoch seconds) per run, so a test can check that runs never overlapped.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
from taskqueue_server import TaskContext, handler

_client = redis.Redis.from_url(os.environ.get("TQTEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
_PREFIX = os.environ.get("TQTEST_PREFIX", "tqtest-unset")


def key(*parts: str) -> str:
    return ":".join((_PREFIX, "rec", *parts))


@contextmanager
def _running(ctx: TaskContext) -> Iterator[None]:
    start = time.time()
    _client.rpush(key("peaks"), _client.incr(key("running")))
    try:
        yield
    finally:
        _client.decr(key("running"))
        _client.rpush(key("span", ctx.task_id), f"{start:.4f} {time.time():.4f}")


@handler("stubborn")
def stubborn(task_data: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """Sleeps `sleep` seconds on its first run and `then` seconds later, ignoring
    ctx.cancelled: a sync handler that cannot be stopped."""
    runs = _client.incr(key("runs", ctx.task_id))
    seconds = task_data["sleep"] if runs == 1 else task_data.get("then", task_data["sleep"])
    with _running(ctx):
        _client.rpush(key("worker", ctx.task_id), str(os.getpid()))
        time.sleep(float(seconds))
    return {"runs": runs}


@handler("cooperative")
def cooperative(task_data: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """Polls ctx.cancelled for up to `seconds`; notes after how long it saw it set."""
    start = time.monotonic()
    with _running(ctx):
        while time.monotonic() - start < float(task_data["seconds"]):
            if ctx.cancelled:
                _client.set(key("saw_cancel", ctx.task_id), f"{time.monotonic() - start:.3f}")
                break
            time.sleep(0.01)
    return {}


@handler("probe")
async def probe(task_data: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """Runs `sleep` seconds (async), counted in "running"."""
    with _running(ctx):
        await asyncio.sleep(float(task_data.get("sleep", 0)))
    return {}


@handler("own_timeout")
async def own_timeout(task_data: dict[str, Any], ctx: TaskContext) -> None:
    """Fails with a TimeoutError of its own, as a client library timing out would."""
    raise TimeoutError(task_data["message"])


@handler("sized")
def sized(task_data: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """Returns {"blob": "x" * chars}: its JSON is chars + 12 bytes."""
    return {"blob": "x" * int(task_data["chars"])}


@handler("stamp")
async def stamp(task_data: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """Notes when it started (epoch ms) when asked to, then sleeps `sleep` seconds."""
    if task_data.get("stamp"):
        _client.hset(key("started"), ctx.task_id, f"{time.time() * 1000:.1f}")
    await asyncio.sleep(float(task_data.get("sleep", 0)))
    return {}
