"""Rate and concurrency limits: kept in Redis (deployment state), enforced by claim_tasks.

See docs/limits.md. Setting replaces every limit of its scope (a queue, or one task type
in it); a limit left out is no limit.
"""

from __future__ import annotations

import math
from typing import Any

from redis.asyncio import Redis

from .errors import EngineError, ErrorCode
from .ids import check_queue, check_task_type
from .keys import QueueKeys
from .models import Limits
from .redis_errors import engine_errors_from_redis

# Fields as claim_tasks reads them: '<name>:<task type>' ('' is the whole queue).
_FIELDS = (
    ("rate", "rate_per_second"),
    ("burst", "burst"),
    ("running", "max_running"),
    ("key_running", "max_running_per_key"),
)
_RUNNING_FIELDS = (b"running:", b"key_running:")


class LimitsMixin:
    redis: Redis

    def keys(self, queue: str) -> QueueKeys:
        raise NotImplementedError

    async def run(self, name: str, queue: str, keys: list[str], args: list[Any]) -> Any:
        raise NotImplementedError

    async def set_limits(self, limits: Limits) -> Limits:
        check_limits(limits)
        args = [limits.task_type] + ["" if v is None else v for v in _values(limits)]
        await self.run("limits", limits.queue, [self.keys(limits.queue).limits], args)
        return limits

    async def get_limits(self, queue: str, task_type: str = "") -> Limits:
        check_queue(queue)
        if task_type:
            check_task_type(task_type)
        with engine_errors_from_redis():
            stored = await self.redis.hgetall(self.keys(queue).limits)  # type: ignore[misc]
        found: dict[str, Any] = {}
        for name, attr in _FIELDS:
            value = stored.get(f"{name}:{task_type}".encode())
            if value is not None:
                found[attr] = float(value) if name == "rate" else int(value)
        return Limits(queue=queue, task_type=task_type, **found)

    async def bounds_running(self, queue: str) -> bool:
        with engine_errors_from_redis():
            fields = await self.redis.hkeys(self.keys(queue).limits)  # type: ignore[misc]
        return any(bytes(f).startswith(_RUNNING_FIELDS) for f in fields)


def _values(limits: Limits) -> list[float | int | None]:
    return [getattr(limits, attr) for _, attr in _FIELDS]


def check_limits(limits: Limits) -> None:
    """Refuses limits that cannot be met, naming the field; nothing is stored then."""
    check_queue(limits.queue)
    if limits.task_type:
        check_task_type(limits.task_type)
    rate, burst = limits.rate_per_second, limits.burst
    if rate is not None and not (math.isfinite(rate) and rate > 0):
        _refuse("rate_per_second", f"must be a positive number of tasks per second, got {rate}")
    if burst is not None and burst < 1:
        _refuse("burst", f"must be at least 1 (tasks started at once), got {burst}")
    if (rate is None) != (burst is None):
        field = "burst" if burst is None else "rate_per_second"
        _refuse(field, "a rate limit needs both rate_per_second and burst")
    for attr in ("max_running", "max_running_per_key"):
        value = getattr(limits, attr)
        if value is not None and value < 1:
            _refuse(attr, f"must be at least 1 (leave it out for no limit), got {value}")
        if value is not None and not limits.task_type:
            _refuse(attr, "concurrency limits apply to one task type: set task_type")


def _refuse(field: str, problem: str) -> None:
    raise EngineError(ErrorCode.INVALID_ARGUMENT, f"{field}: {problem}", field=field)
