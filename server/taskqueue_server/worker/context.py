"""What a running handler sees: its task, progress reporting and the cancellation flag."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


class PermanentError(Exception):
    """Raise from a handler to fail the task now, without retries."""


class RetryLater(Exception):
    """Raise from a handler to fail this attempt and retry after `delay_seconds`.

    Use it when the remote side says when to come back (HTTP Retry-After, rate-limit
    reset); the delay replaces the exponential backoff for this attempt.
    """

    def __init__(self, message: str, delay_seconds: float) -> None:
        super().__init__(message)
        self.delay_seconds = delay_seconds


ProgressSink = Callable[[int, str], Awaitable[None]]


@dataclass
class TaskContext:
    """Passed to every handler as its second argument.

    `attempt` starts at 1. Use `task_id` and `attempt` to make side effects idempotent:
    delivery is at least once. `dependency_results` maps the id of each task this one
    depends on to the result that task returned (None if that result expired before this
    task started; see docs/workflows.md); it is empty for a task without dependencies.
    """

    task_id: str
    task_type: str
    queue: str
    attempt: int
    max_retries: int
    _progress_sink: ProgressSink
    _loop: asyncio.AbstractEventLoop
    dependency_results: Mapping[str, dict[str, Any] | None] = field(default_factory=dict)
    # A plain flag, not a threading.Event (one per task was 4 % of a drain's CPU): it is set
    # once, from the event loop, and read by a sync handler's thread; under the GIL that
    # read sees the write, and nothing waits on it.
    _cancelled: bool = False

    @property
    def cancelled(self) -> bool:
        """True once cancellation was asked for; sync handlers should check it and stop."""
        return self._cancelled

    def mark_cancelled(self) -> None:
        self._cancelled = True

    async def report_progress(self, progress: int, message: str = "") -> None:
        """From async handlers: store progress (0-100) and publish it to watchers."""
        await self._progress_sink(max(0, min(100, int(progress))), message)

    def set_progress(self, progress: int, message: str = "") -> None:
        """From sync handlers (they run in a thread): the same as `report_progress`."""
        future = asyncio.run_coroutine_threadsafe(
            self.report_progress(progress, message), self._loop
        )
        future.result()
