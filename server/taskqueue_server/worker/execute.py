"""Runs one claimed task's handler and turns what happened into an Outcome."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections.abc import Awaitable
from concurrent.futures import Executor
from typing import Any, cast

import orjson

from ..engine.models import ClaimedTask, Outcome
from ..engine.settings import RetryPolicy
from .backoff import retry_delay_seconds
from .context import PermanentError, RetryLater, TaskContext
from .registry import AsyncHandler, Registration, SyncHandler

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 2000


async def run_handler(
    registration: Registration, task: ClaimedTask, ctx: TaskContext, executor: Executor
) -> Any:
    """Await the handler; a sync one runs in the thread pool so the loop stays free."""
    coro: Awaitable[Any]
    if registration.is_async:
        coro = cast(AsyncHandler, registration.fn)(task.task_data, ctx)
    else:
        sync_fn = cast(SyncHandler, registration.fn)
        call = functools.partial(contextvars.copy_context().run, sync_fn, task.task_data, ctx)
        coro = asyncio.get_running_loop().run_in_executor(executor, call)
    if task.timeout_seconds > 0:
        return await asyncio.wait_for(coro, task.timeout_seconds)
    return await coro


def success(task: ClaimedTask, result: Any) -> Outcome:
    """A returned value; anything but a JSON object is wrapped as {"result": value}."""
    value = result if isinstance(result, dict) else {"result": result}
    try:
        encoded = orjson.dumps(value).decode()
    except TypeError as exc:
        return Outcome(
            task.lease, error=f"handler returned a non-JSON result: {exc}", permanent=True
        )
    return Outcome(task.lease, result_json=encoded)


def failure(task: ClaimedTask, exc: BaseException, policy: RetryPolicy) -> Outcome:
    """Classify a handler's exception: permanent, retry at a given time, or backoff."""
    if isinstance(exc, PermanentError):
        return Outcome(task.lease, error=_describe(exc), permanent=True)
    if isinstance(exc, RetryLater):
        delay = exc.delay_seconds
    else:
        delay = retry_delay_seconds(policy, task.attempt)
    if isinstance(exc, TimeoutError):
        message = f"timed out after {task.timeout_seconds:g} s"
    else:
        message = _describe(exc)
    return Outcome(task.lease, error=message, retry_delay_ms=int(delay * 1000))


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text[:MAX_ERROR_CHARS]
