"""Every Redis key and channel name, built in one place.

`<prefix>:{<queue>}:` puts a queue's keys in one Redis Cluster slot (the braces are a hash
tag), so each Lua script touches one slot. Scripts derive per-task keys from the same
prefix (see scripts/_lib.lua); this module and _lib.lua are the only places that spell keys.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class QueueKeys:
    """The keys of one queue."""

    prefix: str
    queue: str

    @property
    def base(self) -> str:
        return f"{self.prefix}:{{{self.queue}}}:"

    def task(self, task_id: str) -> str:
        return f"{self.base}t:{task_id}"

    def data(self, task_id: str) -> str:
        return f"{self.base}d:{task_id}"

    def result(self, task_id: str) -> str:
        return f"{self.base}res:{task_id}"

    def ready(self, task_type: str) -> str:
        return f"{self.base}r:{task_type}"

    def wake(self, task_type: str) -> str:
        return f"{self.base}w:{task_type}"

    def by_status(self, status: str) -> str:
        return f"{self.base}s:{status}"

    def task_events(self, task_id: str) -> str:
        return f"{self.base}ev:{task_id}"

    def dependents(self, task_id: str) -> str:
        return f"{self.base}deps:{task_id}"

    def idempotency(self, idempotency_key: str) -> str:
        return f"{self.base}idem:{idempotency_key}"

    def schedule(self, schedule_id: str) -> str:
        return f"{self.base}sch:{schedule_id}"

    @property
    def schedules_due(self) -> str:
        """Every active schedule of the queue, scored by its next run time (ms)."""
        return f"{self.base}schdue"

    @property
    def schedules_all(self) -> str:
        """Every schedule of the queue, score 0 (ids in lexical order, for paging)."""
        return f"{self.base}schall"

    def unique(self, unique_key: str) -> str:
        return f"{self.base}uniq:{unique_key}"

    @property
    def seq(self) -> str:
        return f"{self.base}seq"

    @property
    def start_deadlines(self) -> str:
        return f"{self.base}deadline"

    @property
    def lease(self) -> str:
        return f"{self.base}lease"

    @property
    def scheduled(self) -> str:
        return f"{self.base}sched"

    @property
    def live_count(self) -> str:
        return f"{self.base}live"

    @property
    def expiry(self) -> str:
        return f"{self.base}expiry"

    def expiring(self, second: int) -> str:
        """The ids of the terminal tasks whose retention ends in that second (scripts/_lib.lua)."""
        return f"{self.base}x:{second}"

    @property
    def counts(self) -> str:
        return f"{self.base}count"

    def label(self, name: str, value: str) -> str:
        return f"{self.base}l:{name}:{value}"

    @property
    def label_expiry(self) -> str:
        return f"{self.base}lexpiry"

    @property
    def totals(self) -> str:
        return f"{self.base}total"

    @property
    def paused(self) -> str:
        return f"{self.base}paused"

    @property
    def limits(self) -> str:
        return f"{self.base}limits"

    @property
    def retry_policy(self) -> str:
        """The queue's default retry policy, JSON (engine/queue_retry.py)."""
        return f"{self.base}retry"

    @property
    def cancel_channel(self) -> str:
        return f"{self.base}cancel"

    @property
    def timer_channel(self) -> str:
        return f"{self.base}timer"


def page_token_secret(prefix: str) -> str:
    """The deployment's random page-token signing secret (when the operator set none)."""
    return f"{prefix}:page-token-secret"


def task_type_registry(prefix: str) -> str:
    """A set of every task type some server or worker has a handler for (Enqueue checks it)."""
    return f"{prefix}:task-types"


def queue_registry(prefix: str) -> str:
    """A set of every queue that has held a task (for Stats across queues)."""
    return f"{prefix}:queues"


def worker_registry(prefix: str) -> str:
    """A hash of live workers: worker id -> its last heartbeat (JSON).

    Its own hash tag, so the listing script touches one Redis Cluster slot.
    """
    return f"{prefix}:{{workers}}:seen"


def schedule_queues(prefix: str) -> str:
    """A set of every queue that has held a schedule (where the scheduler duty looks)."""
    return f"{prefix}:schedule-queues"


def schedules_changed(prefix: str) -> str:
    """A channel announcing changed schedules, so every scheduler duty re-reads next runs."""
    return f"{prefix}:schedules-changed"
