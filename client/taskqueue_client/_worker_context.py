"""What a remote handler sees (the same API as handlers inside the server) and how its
exceptions become a FailTask: permanent, retry at a given time, or the server's backoff."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_ERROR_CHARS = 2000


class PermanentError(Exception):
    """Raise from a handler to fail the task now, without retries."""


class RetryLater(Exception):
    """Raise from a handler to fail this attempt and retry after `delay_seconds`.

    Use it when the remote side says when to come back (HTTP Retry-After); the delay
    replaces the server's exponential backoff for this attempt.
    """

    def __init__(self, message: str, delay_seconds: float) -> None:
        super().__init__(message)
        self.delay_seconds = delay_seconds


ProgressSink = Callable[[int, str], Awaitable[None]]
# def handler(task_data, ctx) -> dict | None, or the same as a coroutine function.
Handler = Callable[[dict[str, Any], "TaskContext"], Any]


@dataclass
class TaskContext:
    """Passed to every handler as its second argument; `attempt` starts at 1.

    Delivery is at least once: use `task_id` and `attempt` to make side effects idempotent.
    `dependency_results` maps the id of each task this one depends on to the result it
    returned (None if that result expired); empty for a task without dependencies.
    """

    task_id: str
    task_type: str
    queue: str
    attempt: int
    max_retries: int
    _progress_sink: ProgressSink
    _loop: asyncio.AbstractEventLoop
    dependency_results: Mapping[str, dict[str, Any] | None] = field(default_factory=dict)
    # A plain flag, not a threading.Event: only ever set once and polled (an assignment is
    # atomic under the GIL), and one fewer lock and condition per task.
    _cancelled: bool = False

    @property
    def cancelled(self) -> bool:
        """True once the task was cancelled or its lease lost; sync handlers should stop."""
        return self._cancelled

    def mark_cancelled(self) -> None:
        self._cancelled = True

    async def report_progress(self, progress: int, message: str = "") -> None:
        """From async handlers: store progress (0-100) and publish it to watchers."""
        await self._progress_sink(max(0, min(100, int(progress))), message)

    def set_progress(self, progress: int, message: str = "") -> None:
        """From sync handlers (they run in a thread): the same as `report_progress`."""
        asyncio.run_coroutine_threadsafe(
            self.report_progress(progress, message), self._loop
        ).result()

    def progress(self, progress: int, message: str = "") -> Any:
        """Either kind of handler: from a sync one it blocks until stored; from an async one
        it returns an awaitable (awaiting it is optional)."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            return asyncio.ensure_future(self.report_progress(progress, message))
        self.set_progress(progress, message)
        return None


@dataclass(frozen=True, slots=True)
class Failure:
    """A failed attempt as FailTask carries it; `retry_after` None means the server's backoff."""

    error: str
    permanent: bool = False
    retry_after: float | None = None
    # The exception's class names, matched by the server against the retry policy's
    # permanent_errors as the in-process pool matches them.
    error_types: tuple[str, ...] = ()


def failure_of(exc: BaseException, timeout_seconds: float) -> Failure:
    """Classify a handler's exception. The server package's PermanentError and RetryLater count
    too (matched by name), so one handler module runs in a server or a remote worker."""
    names = error_types(exc)
    if "PermanentError" in names:
        return Failure(describe(exc), permanent=True)
    if "RetryLater" in names:
        return Failure(
            describe(exc),
            retry_after=max(0.0, float(exc.delay_seconds)),  # type: ignore[attr-defined]
            error_types=names,
        )
    if isinstance(exc, TimeoutError):
        return Failure(f"timed out after {timeout_seconds:g} s", error_types=names)
    return Failure(describe(exc), error_types=names)


def error_types(exc: BaseException) -> tuple[str, ...]:
    """The class names of the exception's MRO up to BaseException, most specific first (the
    server's in-process pool matches the same list)."""
    return tuple(cls.__name__ for cls in type(exc).__mro__ if cls is not object)


def describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text[:MAX_ERROR_CHARS]
