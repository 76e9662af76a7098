"""run_handler and the outcome it leads to: timeouts, a handler's own TimeoutError, result size.

In-process (no Redis): these are about how one attempt's end is classified; the end-to-end
tests (tests/e2e/test_timeouts.py, test_result_limit.py) check the same on real servers.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from taskqueue_server.engine.models import ClaimedTask, Lease
from taskqueue_server.engine.settings import RetryPolicy
from taskqueue_server.worker.context import TaskContext
from taskqueue_server.worker.execute import failure, run_handler, success
from taskqueue_server.worker.registry import Registration


def claimed(timeout_seconds: float = 0.0) -> ClaimedTask:
    return ClaimedTask(
        lease=Lease("default-1", 1),
        queue="default",
        task_type="t",
        task_data={},
        attempt=1,
        max_retries=3,
        timeout_seconds=timeout_seconds,
    )


def context() -> TaskContext:
    async def sink(progress: int, message: str) -> None:
        return None

    return TaskContext("default-1", "t", "default", 1, 3, sink, asyncio.get_running_loop())


async def attempt(fn: Any, task: ClaimedTask, ctx: TaskContext | None = None) -> str:
    """The error the attempt ends with."""
    return (await timed_attempt(fn, task, ctx))[0]


async def timed_attempt(
    fn: Any, task: ClaimedTask, ctx: TaskContext | None = None
) -> tuple[str, float]:
    """The error the attempt ends with, and when (time.monotonic()) run_handler gave it."""
    registration = Registration("t", fn, asyncio.iscoroutinefunction(fn))
    with ThreadPoolExecutor(2) as executor:
        try:
            await run_handler(registration, task, ctx or context(), executor)
        except Exception as exc:
            return failure(task, exc, RetryPolicy()).error, time.monotonic()
    raise AssertionError("the handler did not fail")


async def test_a_handlers_own_timeout_error_is_reported_as_raised() -> None:
    async def handler(data: dict[str, Any], ctx: TaskContext) -> None:
        raise TimeoutError("upstream took too long")

    assert await attempt(handler, claimed()) == "TimeoutError: upstream took too long"
    # Also with a task timeout set, as long as it has not passed.
    assert await attempt(handler, claimed(5)) == "TimeoutError: upstream took too long"


async def test_a_sync_handler_past_its_timeout_is_waited_for_then_timed_out() -> None:
    returned: list[float] = []

    def handler(data: dict[str, Any], ctx: TaskContext) -> None:
        time.sleep(0.5)  # ignores ctx.cancelled
        returned.append(time.monotonic())

    error, failed_at = await timed_attempt(handler, claimed(0.1))
    assert error == "timed out after 0.1 s"
    assert returned and failed_at >= returned[0], "the timeout was reported while it still ran"


async def test_the_timeout_sets_cancelled_and_cancels_an_async_handler() -> None:
    ctx = context()
    seen: list[bool] = []

    async def handler(data: dict[str, Any], ctx: TaskContext) -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            seen.append(ctx.cancelled)
            raise

    assert await attempt(handler, claimed(0.1), ctx) == "timed out after 0.1 s"
    assert seen == [True]


def test_a_result_over_the_limit_fails_for_good() -> None:
    outcome = success(claimed(), {"blob": "x" * 100}, max_result_bytes=100)
    assert outcome.permanent
    # 111 bytes as JSON, 112 as a Struct: the larger counts.
    assert outcome.error.startswith("result too large: 112 bytes, the limit is 100 bytes")
    assert not success(claimed(), {"blob": "x" * 80}, max_result_bytes=100).error


def test_the_size_counts_the_protobuf_encoding_when_larger() -> None:
    # 2 bytes a number as JSON, 11 in the Struct GetResult sends.
    value = {"numbers": [0] * 20_000}
    outcome = success(claimed(), value, max_result_bytes=80_000)
    assert outcome.permanent, "a result GetResult could not send was accepted"
    assert not success(claimed(), value, max_result_bytes=240_000).error


async def test_a_handler_returning_early_once_cancelled_still_timed_out() -> None:
    def handler(data: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
        while not ctx.cancelled:
            time.sleep(0.001)
        return {"partial": True}

    assert await attempt(handler, claimed(0.05)) == "timed out after 0.05 s"
