"""The task lifecycle as plain data: what the engine stores and returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .settings import RetryOverride

DEFAULT_QUEUE = "default"
MIN_PRIORITY = -1000
MAX_PRIORITY = 1000
DEFAULT_MAX_RETRIES = 3

JsonObject = dict[str, Any]


class Status(StrEnum):
    """Where a task is in its life; the values are the seed's lowercase names."""

    PENDING = "pending"
    SCHEDULED = "scheduled"
    WAITING = "waiting"
    PROCESSING = "processing"
    RETRYING = "retrying"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED})
LIVE = frozenset(Status) - TERMINAL


class Total(StrEnum):
    """Monotonic totals per task type, counted by the scripts that make the transitions."""

    ENQUEUED = "enqueued"  # tasks stored (a deduplicated Enqueue stores none)
    COMPLETED = "completed"
    FAILED = "failed"  # retries spent, PermanentError, or poison (lease lost past the cap)
    RETRIED = "retried"  # an attempt failed and will run again, or RetryTask requeued it
    CANCELLED = "cancelled"  # CancelTask, or a dependency that did not complete
    REDELIVERED = "redelivered"  # a lease expired and the task went back to its queue


@dataclass(frozen=True, slots=True)
class TypeStats:
    """One task type's counts: tasks in each status now, and totals that never go down."""

    counts: dict[Status, int] = field(default_factory=lambda: dict.fromkeys(Status, 0))
    totals: dict[Total, int] = field(default_factory=lambda: dict.fromkeys(Total, 0))


# NewTask and TaskRecord are made per task on the hot paths (a batch of 1,000 makes 2,000),
# and a frozen dataclass's __init__ sets each field through object.__setattr__: 4.6x the
# cost of a plain one (2.3 + 3.8 us a task, a fifth of EnqueueBatch's server time). So they
# are plain dataclasses that no code assigns to: a change is dataclasses.replace.
@dataclass(slots=True)
class NewTask:
    """A validated request to store one task."""

    task_type: str
    task_data: JsonObject
    priority: int = 0
    max_retries: int = DEFAULT_MAX_RETRIES
    delay_seconds: float = 0.0
    run_at_ms: int | None = None
    idempotency_key: str = ""
    queue: str = DEFAULT_QUEUE
    timeout_seconds: float = 0.0
    depends_on: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    # Earlier tasks of the same enqueue call, by position; the engine turns them into ids.
    depends_on_index: tuple[int, ...] = ()
    unique_key: str = ""
    expire_at_ms: int = 0  # 0: no schedule-to-start deadline
    retry_policy: RetryOverride | None = None
    # Tasks sharing a key take turns and may be limited together (docs/limits.md).
    concurrency_key: str = ""


@dataclass(slots=True)
class TaskRecord:
    """A task as stored. Times are Unix milliseconds; 0 means not yet."""

    id: str
    queue: str
    task_type: str
    task_data: JsonObject
    status: Status
    priority: int
    attempts: int
    max_retries: int
    created_at_ms: int
    updated_at_ms: int
    run_at_ms: int
    started_at_ms: int = 0
    finished_at_ms: int = 0
    last_error: str = ""
    progress: int = 0
    progress_message: str = ""
    idempotency_key: str = ""
    depends_on: tuple[str, ...] = ()
    timeout_seconds: float = 0.0
    concurrency_key: str = ""
    redeliveries: int = 0
    version: int = 0
    schedule_id: str = ""  # the schedule that enqueued the task, if one did
    schedule_time_ms: int = 0  # and the tick it fired for
    labels: Mapping[str, str] = field(default_factory=dict)
    unique_key: str = ""
    expire_at_ms: int = 0
    retry_policy: RetryOverride | None = None


@dataclass(frozen=True, slots=True)
class EnqueueOutcome:
    """The task that holds an enqueued piece of work."""

    task: TaskRecord
    deduplicated: bool


@dataclass(frozen=True, slots=True)
class WaitedEnqueue:
    """An enqueued task as it stood when Enqueue's wait ended, its result if it completed."""

    outcome: EnqueueOutcome
    result: JsonObject | None


@dataclass(frozen=True, slots=True)
class TaskResult:
    """A task's outcome as far as it is known."""

    task_id: str
    status: Status
    result: JsonObject | None
    error: str


@dataclass(frozen=True, slots=True)
class Lease:
    """The right to report on one claimed task; `token` fences out earlier claimants."""

    task_id: str
    token: int


@dataclass(frozen=True, slots=True)
class ClaimOffer:
    """Idle slots of an in-process worker pool, reserved for tasks an enqueue makes ready
    (engine.api.HandOff): the enqueue script claims up to `count` of `task_types` for
    `worker_id` under a lease of `lease_ms`, in the same call that stores them."""

    count: int
    task_types: tuple[str, ...]
    worker_id: str
    lease_ms: int


@dataclass(frozen=True, slots=True)
class ClaimedTask:
    """A task handed to a worker, with everything the handler needs.

    `dependency_results` maps each dependency's id to its result, read when the task is
    claimed; None when that result has outlived the result retention and expired.
    """

    lease: Lease
    queue: str
    task_type: str
    task_data: JsonObject
    attempt: int
    max_retries: int
    timeout_seconds: float
    dependency_results: Mapping[str, JsonObject | None] = field(default_factory=dict)
    # The task's own retry policy, applied over the worker's (or the server's) default.
    retry_policy: RetryOverride | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one attempt ended, reported by the worker in batches.

    `error` empty means success with `result_json` (the handler's result, already encoded
    by the worker, which also proved it is JSON); otherwise the attempt failed and is retried
    after `retry_delay_ms` unless `permanent` or the budget is spent.
    """

    lease: Lease
    result_json: str = "{}"
    error: str = ""
    permanent: bool = False
    retry_delay_ms: int = 0


@dataclass(frozen=True, slots=True)
class Page:
    """One page of ListTasks; `next_cursor` is empty on the last page."""

    tasks: list[TaskRecord]
    next_cursor: str = ""


@dataclass(frozen=True, slots=True)
class TypeCounts:
    """Counts of one task type by status."""

    counts: Mapping[Status, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A worker as its last heartbeat described it; times are Unix milliseconds.

    It stays listed until `last_seen_ms + 3 * lease_seconds`: three missed heartbeat
    periods of its own lease mean it is gone.
    """

    worker_id: str
    host: str
    queues: tuple[str, ...]
    task_types: tuple[str, ...]
    concurrency: int
    running: int
    started_at_ms: int
    lease_seconds: float
    in_process: bool
    last_seen_ms: int = 0


@dataclass(frozen=True, slots=True)
class QueueOverview:
    """One queue as operators see it: counts per task type, pause state, backlog age.

    Counts and totals per task type are those of Stats.
    `oldest_pending_age_ms` is 0 when nothing is pending.
    """

    name: str
    paused: bool
    counts: Mapping[str, TypeStats]
    oldest_pending_age_ms: int


class BulkAction(StrEnum):
    """What a bulk call does to every task its filter matches."""

    RETRY = "retry"
    CANCEL = "cancel"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class TaskFilter:
    """Which tasks of one queue a bulk call matches; empty fields match anything.

    `status` None means the action's default (retry: failed, cancel: pending,
    delete: completed); `created_before_ms` 0 means no bound.
    """

    queue: str
    status: Status | None = None
    task_type: str = ""
    created_before_ms: int = 0
    label: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class BulkPage:
    """What one bulk call matched (and, unless a dry run, acted on); more pages follow
    while `next_cursor` is not empty."""

    matched: int
    next_cursor: str = ""


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits of a queue (task_type "") or of one task type in it; None: no limit.

    A rate is tokens per second with a burst (a token bucket); max_running bounds the tasks
    of the type running at once, max_running_per_key those sharing one concurrency key.
    """

    queue: str
    task_type: str = ""
    rate_per_second: float | None = None
    burst: int | None = None
    max_running: int | None = None
    max_running_per_key: int | None = None
