"""Schedules as plain data: a definition (when, and the task to make) and its run history."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .errors import EngineError, ErrorCode
from .ids import check_queue
from .models import DEFAULT_MAX_RETRIES, DEFAULT_QUEUE, JsonObject
from .ticks import (
    MAX_COUNTED_MISSES,
    MISFIRE_GRACE_MS,
    check_cron,
    next_cron_tick,
    next_interval_tick,
)


class MissedRunPolicy(StrEnum):
    """What happens to ticks more than MISFIRE_GRACE_MS late (every server was down)."""

    SKIP = "skip"  # counted as missed, none run
    CATCH_UP_ONCE = "catch_up_once"  # counted as missed, and the latest of them runs once


@dataclass(frozen=True, slots=True)
class TaskTemplate:
    """The task every tick enqueues."""

    task_type: str
    task_data: JsonObject = field(default_factory=dict)
    priority: int = 0
    max_retries: int = DEFAULT_MAX_RETRIES
    timeout_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """A validated definition: a cron expression in a time zone, or an interval (exactly one)."""

    schedule_id: str
    template: TaskTemplate
    queue: str = DEFAULT_QUEUE
    cron: str = ""
    time_zone: str = "UTC"
    interval_ms: int = 0
    missed_run_policy: MissedRunPolicy = MissedRunPolicy.SKIP

    def first_tick(self, now_ms: int) -> int:
        """The first tick of a new or resumed schedule: an interval's comes one interval on."""
        if self.cron:
            return next_cron_tick(self.cron, self.time_zone, now_ms)
        return now_ms + self.interval_ms

    def next_tick(self, after_ms: int, tick_ms: int) -> int:
        """The first tick after `after_ms`; interval ticks stay on tick_ms + n * interval."""
        if self.cron:
            return next_cron_tick(self.cron, self.time_zone, after_ms)
        return next_interval_tick(tick_ms, self.interval_ms, after_ms)

    def to_json(self) -> dict[str, Any]:
        t = self.template
        return {
            "cron": self.cron,
            "tz": self.time_zone,
            "interval_ms": self.interval_ms,
            "policy": self.missed_run_policy.value,
            "task": {
                "type": t.task_type,
                "data": t.task_data,
                "priority": t.priority,
                "max_retries": t.max_retries,
                "timeout": t.timeout_seconds,
            },
        }

    @classmethod
    def from_json(cls, schedule_id: str, queue: str, raw: dict[str, Any]) -> ScheduleSpec:
        task = raw["task"]
        template = TaskTemplate(
            task["type"], task["data"], task["priority"], task["max_retries"], task["timeout"]
        )
        return cls(
            schedule_id,
            template,
            queue,
            raw["cron"],
            raw["tz"],
            raw["interval_ms"],
            MissedRunPolicy(raw["policy"]),
        )


@dataclass(frozen=True, slots=True)
class Schedule:
    """A schedule as stored. Times are Unix milliseconds; 0 means never (or paused: no next)."""

    spec: ScheduleSpec
    next_run_ms: int
    last_run_ms: int = 0
    last_task_id: str = ""
    missed_runs: int = 0
    fired_runs: int = 0
    paused: bool = False
    created_at_ms: int = 0
    updated_at_ms: int = 0
    version: int = 0


@dataclass(frozen=True, slots=True)
class Firing:
    """What one call of the fire script does with a due tick."""

    run_tick_ms: int | None  # the tick whose task is enqueued, if any
    missed: int  # ticks counted as missed and not run
    next_run_ms: int


def plan_firing(spec: ScheduleSpec, tick_ms: int, now_ms: int) -> Firing:
    """Fire `tick_ms` if it is at most MISFIRE_GRACE_MS late; otherwise the missed-run
    policy decides, and the schedule moves on to its first tick that is not late."""
    if now_ms - tick_ms <= MISFIRE_GRACE_MS:
        return Firing(tick_ms, 0, spec.next_tick(tick_ms, tick_ms))
    horizon = now_ms - MISFIRE_GRACE_MS
    latest, missed, upcoming = tick_ms, 1, spec.next_tick(tick_ms, tick_ms)
    while upcoming < horizon and missed < MAX_COUNTED_MISSES:
        latest, missed, upcoming = upcoming, missed + 1, spec.next_tick(upcoming, tick_ms)
    if upcoming < horizon:  # too many to count: jump past the outage
        upcoming = spec.next_tick(horizon, tick_ms)
    if spec.missed_run_policy is MissedRunPolicy.CATCH_UP_ONCE:
        return Firing(latest, missed - 1, upcoming)
    return Firing(None, missed, upcoming)


SCHEDULE_ID_PATTERN = re.compile(r"[A-Za-z0-9_.:\-]{1,128}")


def check_schedule_id(schedule_id: str) -> str:
    if not SCHEDULE_ID_PATTERN.fullmatch(schedule_id):
        raise EngineError(
            ErrorCode.INVALID_ARGUMENT,
            f"schedule_id: {schedule_id[:80]!r} is not a schedule id "
            "(1-128 of A-Z a-z 0-9 _ . : -)",
        )
    return schedule_id


def check_spec(spec: ScheduleSpec) -> ScheduleSpec:
    """INVALID_ARGUMENT naming the field unless the definition can run."""
    check_schedule_id(spec.schedule_id)
    check_queue(spec.queue)
    if bool(spec.cron) == bool(spec.interval_ms):
        problem = "both are set" if spec.cron else "neither is set"
        raise EngineError(
            ErrorCode.INVALID_ARGUMENT, f"cron, interval: give exactly one ({problem})"
        )
    if spec.cron:
        check_cron(spec.cron, spec.time_zone)
    elif spec.interval_ms < 0:
        raise EngineError(
            ErrorCode.INVALID_ARGUMENT, f"interval: {spec.interval_ms} ms is not positive"
        )
    return spec
