"""What the client hands back: plain, typed, frozen values; never raw protobuf."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Required, TypedDict

JsonObject = dict[str, Any]


class TaskStatus(StrEnum):
    """Where a task is in its life; the values are the seed's lowercase names."""

    PENDING = "pending"
    SCHEDULED = "scheduled"
    WAITING = "waiting"
    PROCESSING = "processing"
    RETRYING = "retrying"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    # A status this client does not know, sent by a newer server: shown, never raised on.
    # Whether it is terminal is unknown too; `is_terminal` says False.
    UNKNOWN = "unknown"

    @property
    def is_terminal(self) -> bool:
        """True for completed, failed and cancelled: the task will not change again."""
        return self in (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED)


# Every status a server of this client's contract stores (all but UNKNOWN): Stats columns,
# ListTasks filters.
KNOWN_STATUSES = tuple(status for status in TaskStatus if status is not TaskStatus.UNKNOWN)


@dataclass(frozen=True, slots=True)
class Task:
    """One task as the server last described it. Times are timezone-aware (UTC)."""

    id: str
    queue: str
    task_type: str
    task_data: JsonObject
    status: TaskStatus
    priority: int
    attempts: int
    max_retries: int
    created_at: datetime | None
    updated_at: datetime | None
    run_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    last_error: str
    progress: int
    progress_message: str
    idempotency_key: str
    depends_on: tuple[str, ...]
    timeout_seconds: float
    redeliveries: int
    version: int
    unique_key: str = ""
    expire_time: datetime | None = None
    retry_policy: TaskRetryPolicy | None = None
    concurrency_key: str = ""


@dataclass(frozen=True, slots=True)
class TaskResult:
    """A task's outcome as far as it is known when the call answered.

    `result` is what the handler returned once the task completed, else None;
    `error` says why a failed or cancelled task ended.
    """

    task_id: str
    status: TaskStatus
    result: JsonObject | None
    error: str


@dataclass(frozen=True, slots=True)
class TaskTypeStats:
    """Counts of one task type.

    The status fields are gauges: tasks in that status now (RetryTask moves a task out of
    `failed` or `cancelled`). The `*_total` fields never go down, so monitoring can take
    their rate: tasks enqueued; attempts completed; tasks failed and cancelled; retries
    (failed attempts that run again, and RetryTask calls); redeliveries after a lost lease.
    """

    pending: int = 0
    scheduled: int = 0
    waiting: int = 0
    processing: int = 0
    retrying: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    enqueued_total: int = 0
    completed_total: int = 0
    failed_total: int = 0
    retried_total: int = 0
    cancelled_total: int = 0
    redelivered_total: int = 0


class TaskRetryPolicy(TypedDict, total=False):
    """A task's own retry policy, or a queue's default (`set_queue_retry_policy`); a key a
    task leaves out keeps its queue's default, else the server's value.

    The delay before retry n is min(cap_seconds, base_seconds * factor ** (n - 1)), spread
    by +-jitter (a fraction); `permanent_errors` lists exception class names (the raised
    type or a base of it) that fail the task at once.
    """

    base_seconds: float
    factor: float
    cap_seconds: float
    jitter: float
    permanent_errors: Sequence[str]


class EnqueueOptions(TypedDict, total=False):
    """Keyword options of `enqueue`; every one may be left out.

    - priority: higher runs first, -1000..1000 (default 0).
    - max_retries: retries after a failed attempt (default 3).
    - delay_seconds: wait this long before the task may run (default 0).
    - run_at: an aware datetime before which the task does not run.
    - idempotency_key: None (default) generates a fresh key so a retried call cannot
      store the task twice; "" sends none (and the call is then never retried);
      any other string is sent as is, and repeating it returns the first task.
    - queue: the queue to store the task in ("default" when not given).
    - timeout_seconds: the handler's time limit per attempt (none when not given).
    - depends_on: ids of tasks in the same queue that must complete first.
    - depends_on_index: in `enqueue_many` only, earlier tasks of the same call that must
      complete first, by position (0-based); builds a whole flow in one atomic call.
    - expire_time: an aware datetime; a task not started by then ends cancelled without
      running ("expired before it started").
    - retry_policy: this task's backoff and permanent errors (see `TaskRetryPolicy`).
    - unique_key: while a task with this key has not started, enqueuing another returns it
      (see docs/workflows.md); unlike idempotency_key it never matches a started task.
    - concurrency_key: tasks of a type sharing it (a tenant, a repository) take turns with
      other keys and may be limited together; see docs/limits.md.
    """

    priority: int
    max_retries: int
    delay_seconds: float
    run_at: datetime | None
    idempotency_key: str | None
    queue: str | None
    timeout_seconds: float | None
    depends_on: Sequence[str]
    depends_on_index: Sequence[int]
    unique_key: str
    expire_time: datetime | None
    retry_policy: TaskRetryPolicy
    concurrency_key: str


class TaskSpec(EnqueueOptions, total=False):
    """One task of `enqueue_many`: a task type, its data and any `EnqueueOptions`."""

    task_type: Required[str]
    task_data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class QueueInfo:
    """One queue as `list_queues` reports it.

    `task_types` counts by status per task type (as `stats`); `oldest_pending_seconds` is how
    long the oldest pending task has existed, 0.0 when none is pending.
    """

    name: str
    paused: bool
    task_types: dict[str, TaskTypeStats]
    oldest_pending_seconds: float


@dataclass(frozen=True, slots=True)
class QueueLimits:
    """The limits of a queue (task_type "") or of one task type in it; None: no limit.

    rate_per_second and burst make a token bucket: at most `burst` tasks start at once,
    `rate_per_second` on average. max_running caps the tasks of the type running at once
    across every server; max_running_per_key those sharing one concurrency key.
    """

    queue: str = "default"
    task_type: str = ""
    rate_per_second: float | None = None
    burst: int | None = None
    max_running: int | None = None
    max_running_per_key: int | None = None
