"""The engine as the service and the worker see it; only the store behind it knows Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from .models import (
    BulkAction,
    BulkPage,
    ClaimedTask,
    ClaimOffer,
    EnqueueOutcome,
    Lease,
    Limits,
    NewTask,
    Outcome,
    Page,
    QueueOverview,
    Status,
    TaskFilter,
    TaskRecord,
    TaskResult,
    TypeStats,
    WaitedEnqueue,
    WorkerInfo,
)
from .schedule_api import ScheduleEngine
from .settings import RetryOverride


class TaskWatch(Protocol):
    """A live view of one task: its snapshot, then every later state, in order."""

    def __aiter__(self) -> AsyncIterator[TaskRecord]: ...

    def until(self, deadline: float | None) -> AsyncIterator[TaskRecord]:
        """The same states, ending quietly at `deadline` (event-loop time)."""


class QueueControl(Protocol):
    """What operators may do to queues and tasks (admin calls; engine/control.py)."""

    async def pause_queue(self, queue: str) -> bool:
        """Stop handing out the queue's tasks on every server; False if already paused."""

    async def resume_queue(self, queue: str) -> bool:
        """Hand out the queue's tasks again and wake idle workers; False if not paused."""

    async def list_queues(self) -> list[QueueOverview]:
        """Every queue that has held a task or been paused, all in one pipelined round trip."""

    async def queue_overview(self, queue: str) -> QueueOverview:
        """One queue's counts per type and status, pause state and oldest pending age."""

    async def purge_queue(self, queue: str, task_type: str = "") -> int:
        """Delete pending and scheduled tasks (of one type, if given) in short chunks;
        returns how many. Running tasks are untouched."""

    async def change_priority(self, task_id: str, priority: int) -> TaskRecord:
        """Set a task's priority; a pending task moves in the order at once.
        FAILED_PRECONDITION once it runs or ended."""

    async def delete_task(self, task_id: str) -> Status:
        """Delete a task that is not running, with its data, result and index entries;
        returns the status it had. FAILED_PRECONDITION while it runs."""

    async def bulk(
        self,
        action: BulkAction,
        where: TaskFilter,
        dry_run: bool = False,
        expected_count: int | None = None,
        cursor: str = "",
    ) -> BulkPage:
        """Act on (or, dry, count) the matches within one bounded chunk; call again with
        `next_cursor` until it is empty. `expected_count` must equal the chunk's matches
        (as the dry run with the same cursor reported), else FAILED_PRECONDITION and
        nothing changed."""


class QueueRetryDefaults(Protocol):
    """A queue's default retry policy, read by callers and by workers reporting failures."""

    async def queue_retry_policy(self, queue: str) -> RetryOverride | None:
        """The queue's default (engine/queue_retry.py); None when it has none."""
        ...


class HandOff(Protocol):
    """A worker pool in the same process as the engine (worker/loop.py), offered the tasks
    an enqueue makes ready: the enqueue script claims them for the pool's idle slots in the
    same call that stores them, so an idle server starts a new task without the wake-up and
    claim round trips in between. The claim is an ordinary one (pause, limits, lease,
    fencing), only earlier."""

    def offer(self, queue: str, task_types: Sequence[str], most: int) -> ClaimOffer | None:
        """Reserve up to `most` idle slots for tasks of `task_types` of `queue`, or None."""

    async def take(self, offer: ClaimOffer, claimed: Sequence[ClaimedTask], sent: float) -> None:
        """Run what was claimed for `offer` (its lease counted from `sent`, event-loop time)
        and free the slots it left unused; called once per offer, whatever happened."""


class CallerEngine(QueueControl, QueueRetryDefaults, Protocol):
    """What callers may do to tasks (the gRPC service's side). Refusals raise `EngineError`."""

    async def enqueue(self, tasks: Sequence[NewTask]) -> list[EnqueueOutcome]:
        """Store tasks of one queue all or nothing, in one round trip."""

    async def enqueue_ids(self, tasks: Sequence[NewTask]) -> list[str]:
        """`enqueue` answering only each task's id (a deduplicated one: the existing task's)."""

    async def enqueue_and_wait(
        self, task: NewTask, wait_seconds: float, stop: asyncio.Event
    ) -> WaitedEnqueue:
        """Store one task as `enqueue` does, then wait up to `wait_seconds` (or until `stop`
        is set) for it to end: the task as it then stands, with its result if it completed.
        A deduplicated enqueue follows the task that holds the work."""

    async def get_task(self, task_id: str) -> TaskRecord:
        """The task's current state; `TaskNotFound` when unknown or expired."""

    async def get_result(self, task_id: str, wait_seconds: float = 0.0) -> TaskResult:
        """The outcome; with a wait, returns as soon as the task is terminal or the wait ends."""

    def watch(self, task_id: str) -> AbstractAsyncContextManager[TaskWatch]:
        """Subscribe before reading the snapshot, so no change in between is missed.

        The iterator yields the snapshot, then each later state, and stops after a
        terminal one. A watcher that falls too far behind gets `EngineError`
        (RESOURCE_EXHAUSTED) instead of unbounded buffering.
        """

    async def cancel(self, task_id: str) -> TaskRecord:
        """Cancel a live task; a running one is signalled. Terminal: FAILED_PRECONDITION."""

    async def retry(self, task_id: str) -> TaskRecord:
        """Requeue a FAILED or CANCELLED task with a fresh budget."""

    async def list_tasks(
        self,
        queue: str,
        task_type: str = "",
        status: Status | None = None,
        page_size: int = 100,
        cursor: str = "",
        label: tuple[str, str] | None = None,
    ) -> Page:
        """A page of tasks, newest first. `cursor` is an opaque, signed token.

        `label` (key, value) lists through that label's index; the key must be one of the
        settings' `indexed_labels` (else INVALID_ARGUMENT)."""

    async def stats(self, queue: str = "", task_type: str = "") -> dict[str, TypeStats]:
        """Per task type: tasks in each status now, and totals that never go down."""

    async def known_task_types(self) -> frozenset[str]:
        """Every task type some server or worker registered a handler for."""

    async def set_limits(self, limits: Limits) -> Limits:
        """Replace the limits of a queue or task type (engine/limits.py)."""
        ...

    async def get_limits(self, queue: str, task_type: str = "") -> Limits:
        """The limits in force; unset fields are no limit."""
        ...

    async def set_queue_retry_policy(self, queue: str, policy: RetryOverride | None) -> None:
        """Replace the queue's default retry policy; None (or one setting nothing) clears it."""
        ...

    async def queues(self) -> list[str]:
        """Every queue that has held a task."""

    async def list_workers(self) -> list[WorkerInfo]:
        """Every worker whose heartbeat is recent enough, by worker id."""


class WorkerEngine(QueueRetryDefaults, Protocol):
    """What running tasks takes: claims, leases, outcomes, timers. Refusals raise `EngineError`."""

    def hand_off_to(self, pool: HandOff) -> None:
        """Offer `pool` the tasks this engine's enqueues make ready (see HandOff)."""

    async def register_task_types(self, task_types: Iterable[str]) -> None:
        """Add the types this worker has handlers for to the shared set (idempotent)."""

    async def claim(
        self,
        queue: str,
        task_types: Sequence[str],
        count: int,
        worker_id: str,
        lease_ms: int | None = None,
    ) -> list[ClaimedTask]:
        """Move up to `count` ready tasks of the given types to PROCESSING under a lease.

        The lease lasts `lease_ms`, or the engine's lease_seconds when None. Cancelled while
        in flight, it hands back whatever Redis leased before it re-raises, so no task stays
        leased to a caller that is gone.
        """

    async def bounds_running(self, queue: str) -> bool:
        """Whether a max_running or max_running_per_key limit is set anywhere in the queue."""

    async def wait_for_work(
        self, queues: Sequence[str], task_types: Sequence[str], seconds: float
    ) -> str | None:
        """Block until work of these types may be ready in one of `queues` (returns that
        queue) or `seconds` pass (None). One blocking call, whatever the number of queues."""

    async def poll_for_work(self, queues: Sequence[str], task_types: Sequence[str]) -> list[str]:
        """The queues among `queues` woken since the last look, without blocking (a busy
        worker's way to notice work in queues it found empty)."""

    async def renew_leases(
        self, leases: Sequence[Lease], lease_ms: int | None = None
    ) -> list[Lease]:
        """Extend leases (by `lease_ms`, else the engine's lease) in one call; returns the
        ones that were lost (cancelled, expired)."""

    async def finish(self, outcomes: Sequence[Outcome]) -> list[Lease]:
        """Record completed and failed attempts in one call; returns the refused (stale) ones."""

    async def finish_and_claim(
        self,
        outcomes: Sequence[Outcome],
        queue: str,
        task_types: Sequence[str],
        count: int,
        worker_id: str,
        lease_ms: int | None = None,
    ) -> tuple[list[Lease], list[ClaimedTask]]:
        """`finish`, and claim up to `count` tasks of `queue` (as `claim`, with leases of
        `lease_ms`): in the same call when some outcomes are of `queue`, else in a call of its
        own."""

    async def release(self, leases: Sequence[Lease]) -> list[Lease]:
        """Hand unfinished tasks back without spending their retry budget (shutdown);
        returns the leases no longer held, which changed nothing."""

    async def report_progress(self, lease: Lease, progress: int, message: str) -> None:
        """Store progress on the task and publish it to watchers."""

    def cancel_signals(self, queue: str) -> AbstractAsyncContextManager[AsyncIterator[str]]:
        """Ids of running tasks of `queue` whose cancellation was asked for, as they come.

        One missed while the connection was down is caught by the next lease renewal,
        which reports cancelled tasks as lost.
        """

    async def announce_worker(self, worker: WorkerInfo) -> None:
        """Record a worker's heartbeat; it is listed for 3 of its lease periods after."""

    async def forget_worker(self, worker_id: str) -> None:
        """Drop a stopping worker from the list at once."""

    async def run_due(self, queue: str) -> float:
        """Promote due scheduled/retrying tasks, reclaim expired leases, trim expired entries.

        Returns seconds until the next thing is due (capped), for the timer to sleep.
        """

    def schedule_signals(self, queue: str) -> AbstractAsyncContextManager[AsyncIterator[float]]:
        """Due times (epoch seconds) of tasks newly scheduled in `queue`, so timers can wake
        sooner; 0.0 when announcements may have been missed (check now)."""

    def now_ms(self) -> int:
        """Milliseconds since the epoch on the store's clock, which every due time uses."""


class Engine(CallerEngine, WorkerEngine, ScheduleEngine, Protocol):
    """Both sides, plus the connection itself; what the wiring in app.py holds."""

    # What holds the tasks when no Redis URL was given ("" with one), for the ready line.
    store_label: str

    async def ping(self) -> None:
        """Raise `StoreUnavailable` unless the store answers."""

    async def close(self) -> None:
        """Release connections."""
