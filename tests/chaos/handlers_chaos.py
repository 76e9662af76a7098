"""Handlers for the fault drills: each one records what it did, outside the queue's Redis.

The records go to TQCHAOS_RECORD_URL (the shared test Redis) under TQCHAOS_PREFIX, so they
survive a restart or a SIGSTOP of the Redis that holds the queue, and the test's cleanup
deletes them. Keys (see `record_key`):
  runs          hash task_id -> executions started
  done          hash task_id -> executions that reached their end (returned a value)
  by_pid        hash server process id -> executions that reached their end there
  starts:<id>   list of start times (ms) of each execution
  iv:<id>       list "start_ms,end_ms,pid" of each finished or interrupted execution
  active:<id>   executions of that task running right now
  overlaps      set of task ids seen running twice at once
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Any

from redis.asyncio import Redis
from taskqueue_server import TaskContext, handler

RECORD_URL = os.environ.get("TQCHAOS_RECORD_URL", "redis://127.0.0.1:6379/0")
PREFIX = os.environ.get("TQCHAOS_PREFIX", "tqchaos-unset")
_clients: dict[int, Redis] = {}


def record_key(*parts: str, prefix: str = "") -> str:
    """A record's key; the test process passes the cluster's prefix, the server uses its env."""
    return ":".join((prefix or PREFIX, "rec", *parts))


def _recorder() -> Redis:
    # One client per event loop (the server runs one loop; this keeps tests honest too).
    loop_id = id(asyncio.get_running_loop())
    client = _clients.get(loop_id)
    if client is None:
        client = Redis.from_url(RECORD_URL, socket_timeout=5)
        _clients[loop_id] = client
    return client


async def _work(task_data: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """Counts the run, sleeps `sleep` s, fails while attempt <= `fail_times`, counts the end."""
    rec = _recorder()
    async with rec.pipeline(transaction=False) as pipe:
        pipe.hincrby(record_key("runs"), ctx.task_id, 1)
        pipe.rpush(record_key("starts", ctx.task_id), f"{time.time() * 1000:.1f}")
        runs, _ = await pipe.execute()
    sleep = float(task_data.get("sleep", 0))
    if sleep:
        await asyncio.sleep(sleep)
    if ctx.attempt <= int(task_data.get("fail_times", 0)):
        raise RuntimeError(f"attempt {ctx.attempt} fails on purpose")
    async with rec.pipeline(transaction=False) as pipe:
        pipe.hincrby(record_key("done"), ctx.task_id, 1)
        pipe.hincrby(record_key("by_pid"), str(os.getpid()), 1)
        await pipe.execute()
    return {"runs": runs, "attempt": ctx.attempt}


handler("chaos_noop")(_work)
handler("chaos_slow")(_work)
handler("chaos_flaky")(_work)


@handler("chaos_block")
async def block(task_data: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """The first execution of a task blocks `seconds`; later ones (after a crash) return."""
    rec = _recorder()
    runs = await rec.hincrby(record_key("runs"), ctx.task_id, 1)
    await rec.rpush(record_key("starts", ctx.task_id), f"{time.time() * 1000:.1f}")
    if runs == 1:
        await asyncio.sleep(float(task_data.get("seconds", 60)))
    await rec.hincrby(record_key("done"), ctx.task_id, 1)
    return {"runs": runs, "pid": os.getpid()}


@handler("chaos_interval")
async def interval(task_data: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """Runs `sleep` s (`rerun_sleep` s when run again) and records its interval.

    Flags the task if two executions overlap.
    """
    rec = _recorder()
    start = time.time() * 1000
    runs = await rec.hincrby(record_key("runs"), ctx.task_id, 1)
    if await rec.incr(record_key("active", ctx.task_id)) > 1:
        await rec.sadd(record_key("overlaps"), ctx.task_id)
    try:
        key = "sleep" if runs == 1 else "rerun_sleep"
        await asyncio.sleep(float(task_data.get(key, task_data.get("sleep", 1))))
    finally:
        # Recorded even when the worker cancels the run (lease lost), so overlap shows.
        end = time.time() * 1000
        await asyncio.shield(_close_interval(rec, ctx.task_id, start, end))
    await rec.hincrby(record_key("done"), ctx.task_id, 1)
    return {"attempt": ctx.attempt}


async def _close_interval(rec: Redis, task_id: str, start: float, end: float) -> None:
    await rec.decr(record_key("active", task_id))
    await rec.rpush(record_key("iv", task_id), f"{start:.1f},{end:.1f},{os.getpid()}")


@handler("chaos_chatty")
async def chatty(task_data: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """Reports progress `events` times with a `message_bytes`-long message, then returns."""
    events = int(task_data.get("events", 1000))
    filler = "x" * int(task_data.get("message_bytes", 100))
    for n in range(events):
        await ctx.report_progress(n * 100 // events, f"{n}:{filler}")
    await _recorder().hincrby(record_key("done"), ctx.task_id, 1)
    return {"events": events}


@handler("chaos_probe")
async def probe(task_data: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """What a leak would show from inside the server: asyncio tasks, threads, open fds."""
    return {
        "asyncio_tasks": len(asyncio.all_tasks()),
        "threads": threading.active_count(),
        "fds": len(os.listdir("/proc/self/fd")),
    }


@handler("chaos_clock")
async def clock(task_data: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """When it started, on Redis's clock (TIME of the recording Redis) and on this host's.

    Counts the run like the others, then sleeps `sleep` s (to hold its lease that long).
    """
    rec = _recorder()
    async with rec.pipeline(transaction=False) as pipe:
        pipe.time()
        pipe.hincrby(record_key("runs"), ctx.task_id, 1)
        (seconds, micros), _ = await pipe.execute()
    started = {"redis_ms": seconds * 1000 + micros / 1000, "local_ms": time.time() * 1000}
    await asyncio.sleep(float(task_data.get("sleep", 0)))
    return {**started, "pid": os.getpid()}
