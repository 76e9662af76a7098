"""Engine settings: one frozen dataclass, filled from flags and environment by config.py."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff: base * factor**(attempt-1), capped, with +-jitter as a fraction.

    The defaults give the seed's 1, 2, 4, 8 s sequence (jitter 0.1 spreads a burst of
    failures so they do not all come back in the same millisecond).
    """

    base_seconds: float = 1.0
    factor: float = 2.0
    cap_seconds: float = 300.0
    jitter: float = 0.1
    # Exception class names (of the raised type or a base of it) that fail the task at once.
    permanent_errors: tuple[str, ...] = ()

    def lists_permanent(self, error_types: Iterable[str]) -> bool:
        """One of an error's kind names (its class's, its bases') is in permanent_errors.

        The one rule for both kinds of worker: the in-process pool passes the exception's
        MRO names, the WorkerService the error_types a remote worker sent.
        """
        return any(name in self.permanent_errors for name in error_types)


@dataclass(frozen=True, slots=True)
class RetryOverride:
    """A task's own retry policy: the fields it sets replace the server's (None: keep)."""

    base_seconds: float | None = None
    factor: float | None = None
    cap_seconds: float | None = None
    jitter: float | None = None
    permanent_errors: tuple[str, ...] | None = None

    def over(self, policy: RetryPolicy) -> RetryPolicy:
        return replace(policy, **self.as_dict())

    def as_dict(self) -> dict[str, Any]:
        """The fields set, as stored with the task (JSON)."""
        return {name: value for name, value in asdict(self).items() if value is not None}

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> RetryOverride:
        errors = stored.get("permanent_errors")
        return cls(**{**stored, "permanent_errors": None if errors is None else tuple(errors)})


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """Everything the store needs to know; defaults are the documented ones."""

    key_prefix: str = "taskqueue"
    lease_seconds: float = 30.0
    # A task whose worker died this many times in a row ends FAILED as a poison task.
    redelivery_cap: int = 3
    task_ttl_seconds: int = 24 * 3600
    result_ttl_seconds: int = 7 * 24 * 3600
    # 0 means unbounded; otherwise enqueue past this many live tasks gets RESOURCE_EXHAUSTED.
    max_queue_length: int = 0
    # Signs ListTasks page tokens so a caller cannot forge one. None (the default): the
    # deployment's own random secret, made once and kept in Redis so every server shares it.
    page_token_secret: bytes | None = None
    # Cap on how long the timers sleep when nothing is due: lease deadlines set by other
    # processes are not announced, so this bounds how late an expired lease is noticed.
    max_timer_sleep_seconds: float = 1.0
    # Above 0, an enqueue is acknowledged once this many replicas have it (durability.py).
    wait_replicas: int = 0
    # Without a Redis URL: where the private redis-server keeps its data (engine/local_redis.py).
    data_dir: str = ".taskqueue-data"
    # Label keys with a Redis index per (queue, key, value), so ListTasks filters by them.
    indexed_labels: tuple[str, ...] = ()
