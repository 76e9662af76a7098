"""Runs one claimed task's handler and turns what happened into an Outcome."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import threading
from concurrent.futures import Executor
from typing import Any, cast

import orjson
from google.protobuf import struct_pb2

from ..engine.models import ClaimedTask, Outcome
from ..engine.settings import RetryPolicy
from .backoff import retry_delay_seconds
from .context import PermanentError, RetryLater, TaskContext
from .registry import AsyncHandler, Registration, SyncHandler

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 2000
HANDLER_THREAD_PREFIX = "handler"  # sync handlers' pool threads: handler_0, handler_1 ...
# Upper bound of (Struct encoding size) / (JSON size) for any JSON value (e.g. `[0,0,...]`:
# 2 bytes a number as JSON, 11 as a Struct list value).
STRUCT_GROWTH_BOUND = 8


class TaskTimedOut(Exception):
    """The task's own timeout_seconds passed (not a TimeoutError the handler raised)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"timed out after {seconds:g} s")


def handler_threads_alive() -> bool:
    """True while a sync handler's thread still runs (after a stop that did not wait)."""
    return any(
        t.name.startswith(HANDLER_THREAD_PREFIX + "_") and t.is_alive()
        for t in threading.enumerate()
    )


async def run_handler(
    registration: Registration, task: ClaimedTask, ctx: TaskContext, executor: Executor
) -> Any:
    """Await the handler until it has really returned; a sync one runs in the thread pool.

    At the timeout ctx.cancelled is set and an async handler is cancelled; either way this
    returns only once the handler has stopped, so its slot stays busy and its lease renewed
    until then, and a retry can never run beside it (docs/handlers.md, "Timeouts and
    cancellation"). A thread cannot be stopped from outside: a sync handler that ignores
    ctx.cancelled holds its slot until it returns, and only then is the timeout recorded.
    """
    timeout = task.timeout_seconds
    if timeout <= 0 and registration.is_async:  # the common case: nothing to watch
        return await cast(AsyncHandler, registration.fn)(task.task_data, ctx)
    loop = asyncio.get_running_loop()
    expired: list[bool] = []  # appended to once the timeout has passed

    def expire() -> None:
        expired.append(True)
        ctx.mark_cancelled()

    timer = loop.call_later(timeout, expire) if timeout > 0 else None
    try:
        if registration.is_async:
            value = await _run_async(cast(AsyncHandler, registration.fn), task, ctx)
        else:
            sync_fn = cast(SyncHandler, registration.fn)
            call = functools.partial(contextvars.copy_context().run, sync_fn, task.task_data, ctx)
            thread = loop.run_in_executor(executor, call)
            await asyncio.wait({thread})  # however long: the slot stays taken meanwhile
            value = thread.result()
    except Exception:
        if expired:  # whatever it raised once told to stop, the timeout is the cause
            raise TaskTimedOut(timeout) from None
        raise
    finally:
        if timer is not None:
            timer.cancel()
    if expired:  # returned after the timeout (perhaps early, seeing ctx.cancelled)
        raise TaskTimedOut(timeout)
    return value


async def _run_async(fn: AsyncHandler, task: ClaimedTask, ctx: TaskContext) -> Any:
    """An async handler with a timeout."""
    # Awaited in place: a cancellation (timeout, stop, lease lost) reaches the coroutine, and
    # this returns only once the coroutine has finished.
    deadline = asyncio.timeout(task.timeout_seconds)
    try:
        async with deadline:
            return await fn(task.task_data, ctx)
    except TimeoutError:
        if deadline.expired():
            raise TaskTimedOut(task.timeout_seconds) from None
        raise


def success(task: ClaimedTask, result: Any, max_result_bytes: int) -> Outcome:
    """A returned value; anything but a JSON object is wrapped as {"result": value}.

    A result over `max_result_bytes` fails the task permanently: stored, it could not be
    read back (GetResult's reply would pass the gRPC message limit).
    """
    value = result if isinstance(result, dict) else {"result": result}
    try:
        encoded = orjson.dumps(value).decode()
    except TypeError as exc:
        return Outcome(
            task.lease, error=f"handler returned a non-JSON result: {exc}", permanent=True
        )
    size = result_size(value, len(encoded), max_result_bytes)
    if size > max_result_bytes:
        error = (
            f"result too large: {size} bytes, the limit is {max_result_bytes} bytes "
            "(--max-result-bytes); store a large result elsewhere and return a reference"
        )
        return Outcome(task.lease, error=error, permanent=True)
    return Outcome(task.lease, result_json=encoded)


def result_size(value: dict[str, Any], json_bytes: int, limit: int) -> int:
    """Bytes the result takes: its JSON text, or its protobuf Struct encoding (what GetResult
    sends) when that is larger. A Struct spends up to ~6 bytes per JSON byte (every number
    is an 8-byte double), so it is measured only when the JSON is near enough to the limit."""
    if json_bytes * STRUCT_GROWTH_BOUND <= limit:
        return json_bytes
    struct = struct_pb2.Struct()
    struct.update(value)
    return max(json_bytes, struct.ByteSize())


def failure(task: ClaimedTask, exc: BaseException, policy: RetryPolicy) -> Outcome:
    """Classify a handler's exception: permanent, retry at a given time, or backoff.

    `policy` is the one the task follows (retry_policies.py: its own over its queue's
    default over the server's flags).
    """
    if isinstance(exc, PermanentError) or policy.lists_permanent(error_types(exc)):
        return Outcome(task.lease, error=_describe(exc), permanent=True)
    if isinstance(exc, RetryLater):
        delay = exc.delay_seconds
    else:
        delay = retry_delay_seconds(policy, task.attempt)
    # A TaskTimedOut names the timeout; anything else (a handler's own TimeoutError too)
    # is reported as raised.
    message = str(exc) if isinstance(exc, TaskTimedOut) else _describe(exc)
    return Outcome(task.lease, error=message, retry_delay_ms=int(delay * 1000))


def error_types(exc: BaseException) -> list[str]:
    """The class names of the exception's MRO up to BaseException, most specific first:
    what the retry policy's permanent_errors are matched against (the Python SDK sends the
    same list as a remote failure's error_types)."""
    return [cls.__name__ for cls in type(exc).__mro__ if cls is not object]


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text[:MAX_ERROR_CHARS]
