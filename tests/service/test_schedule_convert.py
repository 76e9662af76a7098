"""Schedule requests: every bad definition is refused naming its field, before any engine call."""

from __future__ import annotations

import pytest
from taskqueue.v1 import schedule_pb2 as spb
from taskqueue_server.config.settings import RequestLimits
from taskqueue_server.engine.errors import EngineError, ErrorCode
from taskqueue_server.engine.schedule_models import MissedRunPolicy
from taskqueue_server.service.schedule_convert import schedule_name, spec_from_proto
from taskqueue_server.worker.registry import Registration

LIMITS = RequestLimits(max_task_data_bytes=100)
REGISTRATIONS = {"echo": Registration("echo", lambda data, ctx: data, is_async=False)}


def definition(**fields: object) -> spb.Schedule:
    schedule = spb.Schedule(
        schedule_id="s1", interval_seconds=5, task=spb.TaskTemplate(task_type="echo")
    )
    for name, value in fields.items():
        if name == "task_data":
            schedule.task.task_data.update(value)  # type: ignore[arg-type]
        elif name == "task_type":
            schedule.task.task_type = value  # type: ignore[assignment]
        else:
            setattr(schedule, name, value)
    return schedule


def test_a_good_definition_becomes_a_spec() -> None:
    spec = spec_from_proto(
        definition(cron="30 2 * * *", time_zone="Europe/Berlin", missed_run_policy=2),
        LIMITS,
        REGISTRATIONS,
        creating=True,
    )
    assert (spec.cron, spec.time_zone, spec.interval_ms) == ("30 2 * * *", "Europe/Berlin", 0)
    assert spec.missed_run_policy is MissedRunPolicy.CATCH_UP_ONCE
    assert spec.template.max_retries == 3  # Enqueue's default
    assert spec_from_proto(definition(schedule_id=""), LIMITS, REGISTRATIONS, True).schedule_id


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"cron": "61 * * * *"}, "schedule.cron"),
        ({"cron": "0 0 * * * *"}, "schedule.cron"),
        ({"cron": "0 * * * *", "time_zone": "Europe/Atlantis"}, "schedule.time_zone"),
        ({"interval_seconds": 0}, "schedule.interval_seconds"),
        ({"interval_seconds": -1}, "schedule.interval_seconds"),
        ({"interval_seconds": 0.5}, "schedule.interval_seconds"),
        ({"task_type": "no spaces"}, "schedule.task.task_type"),
        ({"task_data": {"blob": "x" * 200}}, "schedule.task.task_data"),
        ({"queue": "bad queue"}, "schedule.queue"),
        ({"schedule_id": "a b"}, "schedule.schedule_id"),
        ({"missed_run_policy": 7}, "schedule.missed_run_policy"),
    ],
)
def test_bad_definitions_are_refused_naming_the_field(
    fields: dict[str, object], field: str
) -> None:
    with pytest.raises(EngineError) as refused:
        spec_from_proto(definition(**fields), LIMITS, REGISTRATIONS, creating=True)
    assert refused.value.code is ErrorCode.INVALID_ARGUMENT
    assert refused.value.message.startswith(field + ":"), refused.value.message


def test_no_trigger_and_no_id_to_update_are_refused() -> None:
    schedule = spb.Schedule(schedule_id="s1", task=spb.TaskTemplate(task_type="echo"))
    with pytest.raises(EngineError, match=r"^schedule\.cron: set cron or interval_seconds"):
        spec_from_proto(schedule, LIMITS, REGISTRATIONS, creating=True)
    with pytest.raises(EngineError, match=r"^schedule\.schedule_id:"):
        spec_from_proto(definition(schedule_id=""), LIMITS, REGISTRATIONS, creating=False)
    with pytest.raises(EngineError, match=r"^schedule_id:"):
        schedule_name("", "")
