"""Pure conversions between schedule messages and the engine's schedule models.

The template is checked by the very code that checks an EnqueueRequest (type known, data
within the size limit, the handler's validator), so a schedule cannot hold a task that
Enqueue would refuse. Every message names the field, e.g. "schedule.task.task_type: ...".
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping

from taskqueue.v1 import schedule_pb2 as spb
from taskqueue.v1 import taskqueue_pb2 as pb

from ..config.settings import RequestLimits
from ..engine.errors import EngineError
from ..engine.schedule_models import (
    MissedRunPolicy,
    Schedule,
    ScheduleSpec,
    TaskTemplate,
    check_schedule_id,
    check_spec,
)
from ..worker.registry import Registration
from .convert import new_task_from_request
from .structs import fill_struct
from .validation import InvalidArgument, check_queue

_POLICY_FROM_PROTO = {
    spb.MISSED_RUN_POLICY_UNSPECIFIED: MissedRunPolicy.SKIP,
    spb.MISSED_RUN_POLICY_SKIP: MissedRunPolicy.SKIP,
    spb.MISSED_RUN_POLICY_CATCH_UP_ONCE: MissedRunPolicy.CATCH_UP_ONCE,
}
_POLICY_TO_PROTO = {
    MissedRunPolicy.SKIP: spb.MISSED_RUN_POLICY_SKIP,
    MissedRunPolicy.CATCH_UP_ONCE: spb.MISSED_RUN_POLICY_CATCH_UP_ONCE,
}
# Under a second a schedule is a firehose (and an outage's late ticks, a flood); a year is
# far enough for any interval that is not better written as cron.
MIN_INTERVAL_SECONDS = 1.0
MAX_INTERVAL_SECONDS = 366 * 24 * 3600.0


def spec_from_proto(
    schedule: spb.Schedule,
    limits: RequestLimits,
    registrations: Mapping[str, Registration],
    creating: bool,
) -> ScheduleSpec:
    """Validate a whole definition; an empty id on create gets a generated one."""
    schedule_id = schedule.schedule_id or (secrets.token_hex(8) if creating else "")
    if not schedule_id:
        raise InvalidArgument("schedule.schedule_id", "name the schedule to update")
    queue = check_queue(schedule.queue, "schedule.queue")
    template = _template_from_proto(schedule.task, queue, limits, registrations)
    trigger = schedule.WhichOneof("trigger")
    if trigger is None:
        raise InvalidArgument("schedule.cron", "set cron or interval_seconds (one of them)")
    interval = schedule.interval_seconds
    if trigger == "interval_seconds" and not (
        MIN_INTERVAL_SECONDS <= interval <= MAX_INTERVAL_SECONDS
    ):
        raise InvalidArgument(
            "schedule.interval_seconds",
            f"{interval:g} is out of range; use {MIN_INTERVAL_SECONDS:g} to "
            f"{MAX_INTERVAL_SECONDS:g} seconds",
        )
    policy = _POLICY_FROM_PROTO.get(schedule.missed_run_policy)
    if policy is None:
        raise InvalidArgument(
            "schedule.missed_run_policy", f"{schedule.missed_run_policy} is not a policy"
        )
    spec = ScheduleSpec(
        schedule_id,
        template,
        queue,
        cron=schedule.cron,
        time_zone=schedule.time_zone or "UTC",
        interval_ms=round(interval * 1000) if trigger == "interval_seconds" else 0,
        missed_run_policy=policy,
    )
    try:
        return check_spec(spec)
    except EngineError as exc:  # the engine names the field; the request nests it
        field, _, problem = exc.message.partition(": ")
        raise InvalidArgument("schedule." + field, problem) from None


def _template_from_proto(
    template: spb.TaskTemplate,
    queue: str,
    limits: RequestLimits,
    registrations: Mapping[str, Registration],
) -> TaskTemplate:
    as_enqueue = pb.EnqueueRequest(
        task_type=template.task_type,
        task_data=template.task_data,
        priority=template.priority,
        queue=queue,
        timeout_seconds=template.timeout_seconds,
    )
    if template.HasField("max_retries"):
        as_enqueue.max_retries = template.max_retries
    task = new_task_from_request(as_enqueue, limits, registrations, "schedule.task.")
    return TaskTemplate(
        task.task_type, task.task_data, task.priority, task.max_retries, task.timeout_seconds
    )


def schedule_name(queue: str, schedule_id: str) -> tuple[str, str]:
    """A (queue, id) pair from a request, checked."""
    if not schedule_id:
        raise InvalidArgument("schedule_id", "a schedule id is required")
    try:
        return check_queue(queue), check_schedule_id(schedule_id)
    except EngineError as exc:
        field, _, problem = exc.message.partition(": ")
        raise InvalidArgument(field, problem) from None


def schedule_to_proto(schedule: Schedule) -> spb.Schedule:
    spec, t = schedule.spec, schedule.spec.template
    message = spb.Schedule(
        schedule_id=spec.schedule_id,
        queue=spec.queue,
        time_zone=spec.time_zone if spec.cron else "",
        task=spb.TaskTemplate(
            task_type=t.task_type,
            priority=t.priority,
            max_retries=t.max_retries,
            timeout_seconds=t.timeout_seconds,
        ),
        missed_run_policy=_POLICY_TO_PROTO[spec.missed_run_policy],
        paused=schedule.paused,
        last_task_id=schedule.last_task_id,
        missed_runs=schedule.missed_runs,
        fired_runs=schedule.fired_runs,
        version=schedule.version,
    )
    fill_struct(message.task.task_data, t.task_data)
    if spec.cron:
        message.cron = spec.cron
    else:
        message.interval_seconds = spec.interval_ms / 1000
    for field, ms in (
        (message.next_run_at, schedule.next_run_ms),
        (message.last_run_at, schedule.last_run_ms),
        (message.created_at, schedule.created_at_ms),
        (message.updated_at, schedule.updated_at_ms),
    ):
        if ms:
            field.FromMilliseconds(ms)
    return message
